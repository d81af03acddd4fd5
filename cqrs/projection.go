package cqrs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
)

// Source yields events in one global order, as an event store's ReadAll does.
type Source interface {
	// Read yields the events after position after ("" means from the first event), in
	// order, up to what is visible now, then ends; an error ends the sequence. Positions
	// are opaque strings the Source alone understands; Read must never skip an event that
	// becomes visible later.
	Read(ctx context.Context, after string) iter.Seq2[Event, error]
}

// Notifier is implemented by Sources that can say when new events may be visible, so that
// Projection.Run wakes at once instead of at its next poll.
type Notifier interface {
	// Changed returns a channel closed when events may have been added since the call.
	Changed() <-chan struct{}
}

// Counter is implemented by Sources that can count the events after a position without
// reading them; Status uses it for Behind, and otherwise reads and counts.
type Counter interface {
	CountAfter(ctx context.Context, after string) (int64, error)
}

// Signal is a Notifier set off by anything that knows new events exist: most usefully a
// courier consumer of the topic an event store's outbox relay publishes to. Give the Signal
// to the Consumer as its handler and to ProjectionConfig.Notifier: the projection then reads
// the new events from its Source at once, in order, with its checkpoint, instead of at its
// next poll. The messages are only a wake-up call (and are acknowledged at once); the
// events come from the Source, so none is applied twice or out of order however the broker
// delivers. The zero Signal is ready to use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// Changed returns a channel closed at the next Notify.
func (s *Signal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes whoever waits on a channel Changed returned.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// HandleMessage calls Notify and acknowledges msg.
func (s *Signal) HandleMessage(context.Context, courier.Message) error {
	s.Notify()
	return nil
}

// Model names one of a projection's two read models in a Store.
type Model uint8

const (
	// Live is the read model queries read.
	Live Model = iota
	// Shadow is the read model a Rebuild fills before it replaces Live.
	Shadow
)

func (m Model) String() string {
	switch m {
	case Live:
		return "live"
	case Shadow:
		return "shadow"
	}
	return fmt.Sprintf("Model(%d)", int(m))
}

// Store keeps projections' read models and checkpoints; Tx is what handlers write the read
// model through (a database transaction, a pointer to in-memory state). A Store must make
// Apply atomic: the read model's changes and the new checkpoint are kept together or not at
// all.
type Store[Tx any] interface {
	// Checkpoint returns the position of the last event applied to the projection's model,
	// "" if none.
	Checkpoint(ctx context.Context, projection string, m Model) (string, error)
	// Apply runs fn in one transaction on the model and, in the same transaction, moves its
	// checkpoint from from to to. If the checkpoint is not from, it applies nothing and
	// returns an error wrapping ErrCheckpointMoved; if fn fails, nothing is kept.
	Apply(ctx context.Context, projection string, m Model, from, to string, fn func(ctx context.Context, tx Tx) error) error
	// ResetShadow makes the projection's Shadow model empty, with no checkpoint.
	ResetShadow(ctx context.Context, projection string) error
	// PromoteShadow makes the Shadow model, with its checkpoint, the Live one, atomically,
	// and drops the old Live model.
	PromoteShadow(ctx context.Context, projection string) error
}

// Defaults of ProjectionConfig.
const (
	DefaultBatchSize    = 100
	DefaultPollInterval = 500 * time.Millisecond
)

// ProjectionConfig configures a Projection. The zero value selects the defaults.
type ProjectionConfig struct {
	// BatchSize is the most events applied in one Store transaction; 0 means
	// DefaultBatchSize.
	BatchSize int
	// PollInterval is how long Run waits for new events once caught up, when there is no
	// Notifier (or as a safety net when there is); 0 means DefaultPollInterval.
	PollInterval time.Duration
	// Notifier wakes Run when new events may be visible, e.g. a *Signal a broker consumer
	// sets off; nil means the Source, if it is a Notifier.
	Notifier Notifier
	// Backoff is Run's delay after a failed catch-up; the zero value means
	// courier.DefaultBackoff.
	Backoff courier.Backoff
	// Marshaler decodes events; nil means JSON.
	Marshaler Marshaler
	// Unknown says what to do with an event type without a handler; the default,
	// SkipUnknown, moves the checkpoint past it.
	Unknown UnknownPolicy
	// Logger receives skipped types and failed catch-ups (never payloads); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c ProjectionConfig) Validate() error {
	var problems []string
	if c.BatchSize < 0 {
		problems = append(problems, fmt.Sprintf("negative BatchSize %d", c.BatchSize))
	}
	if c.PollInterval < 0 {
		problems = append(problems, fmt.Sprintf("negative PollInterval %v", c.PollInterval))
	}
	if err := c.Backoff.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if err := c.Unknown.validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: cqrs projection: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// Status is what a projection reports about itself.
type Status struct {
	Name       string
	Position   string // the last event applied to the Live model; "" if none
	Behind     int64  // events the Source has after Position
	Rebuilding bool   // a Rebuild is running in this process
	Stats             // events applied and skipped (committed), and errors, since NewProjection
	LastError  error  // the last catch-up error of Run, nil once a catch-up succeeds
}

// Projection applies the events of a Source to a read model in a Store, with typed
// handlers registered by Project.
type Projection[Tx any] struct {
	name  string
	src   Source
	store Store[Tx]
	cfg   ProjectionConfig
	m     Marshaler
	d     dispatcher[Tx]

	rebuilding atomic.Bool
	mu         sync.Mutex
	lastErr    error
}

// NewProjection returns the projection name of src into store.
func NewProjection[Tx any](name string, src Source, store Store[Tx], cfg ProjectionConfig) (*Projection[Tx], error) {
	var problems []string
	if name == "" {
		problems = append(problems, "empty name")
	}
	if src == nil {
		problems = append(problems, "nil Source")
	}
	if store == nil {
		problems = append(problems, "nil Store")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: cqrs projection %q: %s", courier.ErrInvalidConfig, name, strings.Join(problems, "; "))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Marshaler == nil {
		cfg.Marshaler = JSON{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Projection[Tx]{name: name, src: src, store: store, cfg: cfg, m: cfg.Marshaler}
	p.d.init(fmt.Sprintf("projection %q", name), cfg.Unknown, cfg.Logger)
	p.d.countLater = true
	return p, nil
}

// Project registers h as p's handler of events of type E. h writes the read model through
// tx; it runs inside the transaction that also moves the checkpoint, and may run again for
// the same event only if that transaction did not commit. A second handler for E fails with
// ErrDuplicateHandler, a nil h with ErrNilHandler.
func Project[E, Tx any](p *Projection[Tx], h func(ctx context.Context, tx Tx, e E, ev Event) error) error {
	if p == nil {
		return fmt.Errorf("%w: Project on a nil Projection", courier.ErrInvalidConfig)
	}
	return register(&p.d.table, p.m, h)
}

// Name returns the projection's name.
func (p *Projection[Tx]) Name() string { return p.name }

// CatchUp applies the events visible in the Source after the Live checkpoint, in batches
// of ProjectionConfig.BatchSize, and returns how many it applied (skipped ones included).
// It returns the first error: a handler's, the Source's or the Store's; the events before
// the failed batch stay applied.
func (p *Projection[Tx]) CatchUp(ctx context.Context) (int, error) {
	return p.catchUp(ctx, Live)
}

func (p *Projection[Tx]) catchUp(ctx context.Context, m Model) (int, error) {
	applied, last := 0, "\x00" // no checkpoint is "\x00"
	for {
		from, err := p.store.Checkpoint(ctx, p.name, m)
		if err != nil {
			return applied, fmt.Errorf("cqrs: projection %q: read %s checkpoint: %w", p.name, m, err)
		}
		n, err := p.applyFrom(ctx, m, from)
		applied += n
		if errors.Is(err, ErrCheckpointMoved) && ctx.Err() == nil && (n > 0 || from != last) {
			last = from
			continue // a Rebuild swapped the model, or another runner went ahead: read it again
		}
		return applied, err // a checkpoint that "moved" twice without moving is the Store's error
	}
}

// applyFrom applies the Source's events after from in batches.
func (p *Projection[Tx]) applyFrom(ctx context.Context, m Model, from string) (int, error) {
	applied := 0
	batch := make([]Event, 0, p.cfg.BatchSize)
	flush := func() error {
		to := batch[len(batch)-1].Position
		var skipped int64
		err := p.store.Apply(ctx, p.name, m, from, to, func(ctx context.Context, tx Tx) error {
			skipped = 0
			for _, ev := range batch {
				s, err := p.d.dispatch(ctx, tx, ev)
				if err != nil {
					return fmt.Errorf("cqrs: projection %q: event %s (type %q, stream %q, version %d, position %s): %w",
						p.name, ev.ID, ev.Type, ev.Stream, ev.Version, ev.Position, err)
				}
				if s {
					skipped++
				}
			}
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrCheckpointMoved) {
				p.d.failed.Add(1)
			}
			return err
		}
		p.d.handled.Add(int64(len(batch)) - skipped)
		p.d.skipped.Add(skipped)
		applied += len(batch)
		from = to
		batch = batch[:0]
		return nil
	}
	for ev, err := range p.src.Read(ctx, from) {
		if err != nil {
			return applied, fmt.Errorf("cqrs: projection %q: read source after %q: %w", p.name, from, err)
		}
		if ev.Position == "" || ev.Position == from { // the checkpoint would not move: replays forever
			return applied, fmt.Errorf("%w: cqrs: projection %q: the Source gave event %s (type %q) at position %q after %q",
				courier.ErrInvalidConfig, p.name, ev.ID, ev.Type, ev.Position, from)
		}
		if batch = append(batch, ev); len(batch) == p.cfg.BatchSize {
			if err := flush(); err != nil {
				return applied, err
			}
		}
	}
	if len(batch) > 0 {
		return applied, flush()
	}
	return applied, nil
}

// Run catches up, then follows the Source until ctx ends, and returns nil then. A failed
// catch-up is logged, shown in Status.LastError and tried again after a backoff: a
// projection stuck on an event stays stuck, visibly, until the cause is fixed.
func (p *Projection[Tx]) Run(ctx context.Context) error {
	notifier := p.cfg.Notifier
	if notifier == nil {
		notifier, _ = p.src.(Notifier)
	}
	timer := time.NewTimer(p.cfg.PollInterval)
	defer timer.Stop()
	failures := 0
	for {
		var changed <-chan struct{}
		if notifier != nil {
			changed = notifier.Changed()
		}
		_, err := p.CatchUp(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := p.cfg.PollInterval
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		if err != nil {
			failures++
			wait = p.cfg.Backoff.Delay(failures)
			p.cfg.Logger.Error("cqrs: projection catch-up failed", "projection", p.name, "failures", failures, "retry_in", wait, "err", err)
			changed = nil // wait out the backoff
		} else {
			failures = 0
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-timer.C:
		}
	}
}

// maxRebuildPasses bounds Rebuild's catch-up passes before the swap.
const maxRebuildPasses = 8

// Rebuild replays the whole Source into the Shadow model, then swaps it in for the Live
// one atomically. The Live model keeps serving queries (and may keep catching up) in the
// meantime; after the swap, runners continue from the Shadow's checkpoint. An error leaves
// the Live model as it was; the next Rebuild starts the Shadow again. Run one Rebuild of a
// projection at a time: a second one, in another process, would empty the Shadow the first
// is filling (in this process, a second call fails at once).
func (p *Projection[Tx]) Rebuild(ctx context.Context) error {
	if !p.rebuilding.CompareAndSwap(false, true) {
		return fmt.Errorf("cqrs: projection %q: a Rebuild is already running", p.name)
	}
	defer p.rebuilding.Store(false)
	if err := p.store.ResetShadow(ctx, p.name); err != nil {
		return fmt.Errorf("cqrs: projection %q: reset shadow: %w", p.name, err)
	}
	// Each pass applies what was appended during the one before; stop once a pass is short
	// (or after a few, under a steady stream of events): the Live runner does the rest.
	for pass := 0; pass < maxRebuildPasses; pass++ {
		n, err := p.catchUp(ctx, Shadow)
		if err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
		if n < p.cfg.BatchSize {
			break
		}
	}
	if err := p.store.PromoteShadow(ctx, p.name); err != nil {
		return fmt.Errorf("cqrs: projection %q: promote shadow: %w", p.name, err)
	}
	return nil
}

// Status reports the projection's position and how far it is behind its Source, which it
// asks a Counter for, or else counts by reading the Source from the position.
func (p *Projection[Tx]) Status(ctx context.Context) (Status, error) {
	s := Status{Name: p.name, Rebuilding: p.rebuilding.Load(), Stats: p.d.stats()}
	p.mu.Lock()
	s.LastError = p.lastErr
	p.mu.Unlock()
	pos, err := p.store.Checkpoint(ctx, p.name, Live)
	if err != nil {
		return s, fmt.Errorf("cqrs: projection %q: read checkpoint: %w", p.name, err)
	}
	s.Position = pos
	if c, ok := p.src.(Counter); ok {
		if s.Behind, err = c.CountAfter(ctx, pos); err != nil {
			return s, fmt.Errorf("cqrs: projection %q: count events behind: %w", p.name, err)
		}
		return s, nil
	}
	for _, err := range p.src.Read(ctx, pos) {
		if err != nil {
			return s, fmt.Errorf("cqrs: projection %q: count events behind: %w", p.name, err)
		}
		s.Behind++
	}
	return s, nil
}
