// Package aggregate loads and changes event-sourced aggregates: a Repository folds a
// stream's events into a state (starting from a snapshot when there is one), lets a decide
// function turn the state and a command into new events, and appends them at the exact
// version it read, retrying on a conflict.
//
// An aggregate is two functions rather than an object: Evolve (state, event) -> state, and
// the decide function given to Handle, state -> events. Both are plain functions of their
// inputs, so a retry after a conflict simply runs them again on the fresh state, with no
// half-applied object to reset; snapshots are just encoded states; and a test of the domain
// needs no store at all.
package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/courier-go/courier/eventsource"
)

// DefaultMaxRetries is how often Handle runs again after a conflict unless configured.
const DefaultMaxRetries = 3

// Config configures a Repository of aggregates with state S. Zero optional fields select the
// documented defaults.
type Config[S any] struct {
	Store    eventsource.Store     // required
	Registry *eventsource.Registry // decodes stored events and encodes new ones; required
	// Evolve returns the state after one event (a value Registry.Decode returned); required.
	Evolve func(state S, event any) S
	// Initial returns the state before any event; nil means S's zero value.
	Initial func() S
	// Stream returns the stream of an aggregate ID; nil means the ID itself.
	Stream func(id string) string

	// Snapshots keeps snapshots of states; nil means none. S must then survive a round trip
	// through Codec (with JSON: exported fields).
	Snapshots SnapshotStore
	// SnapshotEvery takes a snapshot when this many events have been read or appended
	// since the last one; 0 means not by count.
	SnapshotEvery int
	// SnapshotAfter takes a snapshot when a load took longer than this; 0 means not by time.
	SnapshotAfter time.Duration
	// SnapshotSchema is stored with each snapshot; snapshots of another schema are ignored.
	// Change it when S changes shape.
	SnapshotSchema string
	// Codec encodes snapshot states; nil means eventsource.JSONCodec.
	Codec eventsource.Codec

	// MaxRetries is how often Handle runs again after a conflict; 0 means
	// DefaultMaxRetries, negative means never.
	MaxRetries int
	// Logger receives failed snapshot saves (which do not fail the call); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with cfg.
func (cfg Config[S]) Validate() error {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("nil Store"))
	}
	if cfg.Registry == nil {
		errs = append(errs, errors.New("nil Registry"))
	}
	if cfg.Evolve == nil {
		errs = append(errs, errors.New("nil Evolve"))
	}
	if cfg.SnapshotEvery < 0 {
		errs = append(errs, fmt.Errorf("negative SnapshotEvery %d", cfg.SnapshotEvery))
	}
	if cfg.SnapshotAfter < 0 {
		errs = append(errs, fmt.Errorf("negative SnapshotAfter %v", cfg.SnapshotAfter))
	}
	if cfg.Snapshots == nil && (cfg.SnapshotEvery > 0 || cfg.SnapshotAfter > 0) {
		errs = append(errs, errors.New("SnapshotEvery or SnapshotAfter set without Snapshots"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("aggregate: config: %w", err)
	}
	return nil
}

// Repository loads and changes aggregates. Create it with New.
type Repository[S any] struct {
	cfg Config[S]
}

// New returns a repository.
func New[S any](cfg Config[S]) (*Repository[S], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Initial == nil {
		cfg.Initial = func() (s S) { return s }
	}
	if cfg.Stream == nil {
		cfg.Stream = func(id string) string { return id }
	}
	if cfg.Codec == nil {
		cfg.Codec = eventsource.JSONCodec{}
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Repository[S]{cfg: cfg}, nil
}

// Loaded is an aggregate as loaded.
type Loaded[S any] struct {
	ID      string
	Stream  string
	State   S
	Version int64 // the stream's version the state reflects; 0 for a new aggregate
	// SnapshotVersion is the version of the snapshot the load started from (0: none), and
	// Replayed the number of events read after it.
	SnapshotVersion int64
	Replayed        int
}

// Load returns the aggregate's current state: its snapshot (if any) and the events after it,
// folded with Evolve. Events the registry skips (UnknownSkip) count in the version but
// change nothing; an event of an unknown type otherwise fails the load, naming it.
func (r *Repository[S]) Load(ctx context.Context, id string) (Loaded[S], error) {
	start := time.Now()
	a := Loaded[S]{ID: id, Stream: r.cfg.Stream(id), State: r.cfg.Initial()}
	if a.Stream == "" {
		return a, fmt.Errorf("aggregate: %q: empty stream name", id)
	}
	if r.cfg.Snapshots != nil {
		snap, ok, err := r.cfg.Snapshots.LoadSnapshot(ctx, a.Stream)
		if err != nil {
			return a, fmt.Errorf("aggregate: stream %q: load snapshot: %w", a.Stream, err)
		}
		if ok && snap.Schema == r.cfg.SnapshotSchema {
			state := r.cfg.Initial()
			if err := r.cfg.Codec.Unmarshal(snap.State, &state); err != nil {
				return a, fmt.Errorf("aggregate: stream %q: decode snapshot of version %d: %w", a.Stream, snap.Version, err)
			}
			a.State, a.Version, a.SnapshotVersion = state, snap.Version, snap.Version
		}
	}
	for e, err := range r.cfg.Store.ReadStream(ctx, a.Stream, eventsource.ReadOptions{From: a.Version + 1}) {
		if err != nil {
			return a, fmt.Errorf("aggregate: stream %q: %w", a.Stream, err)
		}
		v, err := r.cfg.Registry.Decode(e)
		if err != nil && !errors.Is(err, eventsource.ErrSkipped) {
			return a, fmt.Errorf("aggregate: %w", err)
		}
		if err == nil {
			a.State = r.cfg.Evolve(a.State, v)
		}
		a.Version = e.Version
		a.Replayed++
	}
	slow := r.cfg.SnapshotAfter > 0 && time.Since(start) > r.cfg.SnapshotAfter && a.Replayed > 0
	if slow || r.due(a.SnapshotVersion, a.Version) {
		r.snapshot(ctx, &a)
	}
	return a, nil
}

// due reports whether enough events were added since the snapshot at version from.
func (r *Repository[S]) due(from, now int64) bool {
	return r.cfg.SnapshotEvery > 0 && now-from >= int64(r.cfg.SnapshotEvery)
}

// snapshot saves a's state; a failure is logged, not returned: snapshots only save time.
func (r *Repository[S]) snapshot(ctx context.Context, a *Loaded[S]) {
	state, err := r.cfg.Codec.Marshal(a.State)
	if err == nil {
		err = r.cfg.Snapshots.SaveSnapshot(ctx, Snapshot{Stream: a.Stream, Version: a.Version, Schema: r.cfg.SnapshotSchema, State: state})
	}
	if err != nil {
		r.cfg.Logger.Warn("aggregate: snapshot not saved", "stream", a.Stream, "version", a.Version, "error", err)
		return
	}
	a.SnapshotVersion = a.Version
}

// Handle loads the aggregate, calls decide with its state, and appends the events decide
// returns at exactly the version it loaded; when another writer got there first, it does it
// all again on the fresh state, up to MaxRetries times, then returns the
// *eventsource.ConflictError. decide may be called more than once, so it must have no side
// effects. It returns the aggregate after the append (unchanged when decide returned no
// events), and decide's own error as it is.
func (r *Repository[S]) Handle(ctx context.Context, id string, decide func(state S) ([]any, error)) (Loaded[S], error) {
	for attempt := 0; ; attempt++ {
		a, err := r.Load(ctx, id)
		if err != nil {
			return a, err
		}
		values, err := decide(a.State)
		if err != nil || len(values) == 0 {
			return a, err
		}
		events := make([]eventsource.EventData, len(values))
		for i, v := range values {
			if events[i], err = r.cfg.Registry.Encode(v); err != nil {
				return a, fmt.Errorf("aggregate: stream %q: %w", a.Stream, err)
			}
		}
		res, err := r.cfg.Store.Append(ctx, a.Stream, eventsource.Exact(a.Version), events...)
		if errors.Is(err, eventsource.ErrConcurrencyConflict) && attempt < r.cfg.MaxRetries {
			continue
		}
		if err != nil {
			return a, fmt.Errorf("aggregate: stream %q: append after %d attempt(s): %w", a.Stream, attempt+1, err)
		}
		// Fold the events as a later load will see them: decoded from what was stored.
		for i, e := range events {
			v, err := r.cfg.Registry.Decode(eventsource.Event{ID: e.ID, Stream: a.Stream, Type: e.Type, Data: e.Data,
				Version: res.Version - int64(len(events)-1-i), Metadata: e.Metadata})
			if err != nil {
				return a, fmt.Errorf("aggregate: %w", err)
			}
			a.State = r.cfg.Evolve(a.State, v)
		}
		a.Version = res.Version
		if r.due(a.SnapshotVersion, a.Version) {
			r.snapshot(ctx, &a)
		}
		return a, nil
	}
}
