package eventsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
)

// Defaults of SubscriptionConfig and RelayConfig.
const (
	DefaultPageSize     = 256
	DefaultPollInterval = 200 * time.Millisecond
)

// SubscriptionConfig configures a Subscription. Zero optional fields select the documented
// defaults.
type SubscriptionConfig struct {
	// Name names the subscription's checkpoint; required with Checkpoints.
	Name string
	// Checkpoints keeps the subscription's position; nil means none: each Run starts at From.
	Checkpoints CheckpointStore
	// From is where a subscription without a saved checkpoint starts; the zero Position is
	// the beginning of the store.
	From Position
	// Filter selects the events to handle.
	Filter Filter
	// PageSize is how many events are read at a time: the bound on the memory a subscriber
	// that fell behind uses. 0 means DefaultPageSize.
	PageSize int
	// PollInterval is how often to look for new events once caught up, on stores that are
	// not Notifiers; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// CheckpointEvery saves the checkpoint after this many handled events (and when Run
	// returns); 0 means 1. Higher is faster, but after a crash up to CheckpointEvery-1
	// handled events are handled again.
	CheckpointEvery int
	// Backoff spaces the attempts to read the store again after a read failed (a lost
	// connection, say); zero means courier.DefaultBackoff. Handler failures are not retried:
	// they end Run.
	Backoff courier.Backoff
	// Logger receives the read failures (never payloads); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with cfg.
func (cfg SubscriptionConfig) Validate() error {
	var errs []error
	if cfg.Checkpoints != nil && cfg.Name == "" {
		errs = append(errs, errors.New("empty Name with Checkpoints set"))
	}
	if cfg.PageSize < 0 {
		errs = append(errs, fmt.Errorf("negative PageSize %d", cfg.PageSize))
	}
	if cfg.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("negative PollInterval %v", cfg.PollInterval))
	}
	if cfg.CheckpointEvery < 0 {
		errs = append(errs, fmt.Errorf("negative CheckpointEvery %d", cfg.CheckpointEvery))
	}
	if err := cfg.Backoff.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("eventsource: subscription config: %w", err)
	}
	return nil
}

// Handler handles one event of a subscription.
type Handler func(ctx context.Context, e Event) error

// Subscription delivers a store's events to a handler, one at a time and in the store's
// global order: first those already stored (catch-up), then new ones as they are appended
// (live). With a CheckpointStore it resumes after the last event it handled, so across
// clean restarts each event is handled once; after a crash, the events handled since the
// last saved checkpoint (at most CheckpointEvery-1) are handled again.
type Subscription struct {
	store   Store
	cfg     SubscriptionConfig
	handle  Handler
	running atomic.Bool

	caughtUpOnce sync.Once
	caughtUp     chan struct{}
	mu           sync.Mutex
	pos          Position
}

// NewSubscription returns a subscription of h to store; Run starts it.
func NewSubscription(store Store, cfg SubscriptionConfig, h Handler) (*Subscription, error) {
	if store == nil {
		return nil, errors.New("eventsource: subscription: nil store")
	}
	if h == nil {
		return nil, errors.New("eventsource: subscription: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Subscription{store: store, cfg: cfg, handle: h, caughtUp: make(chan struct{}), pos: cfg.From}, nil
}

// CaughtUp is closed once the subscription has handled every event that was visible when it
// last looked: it is live from then on.
func (s *Subscription) CaughtUp() <-chan struct{} { return s.caughtUp }

// Position returns the position of the last event handled (or where it will start).
func (s *Subscription) Position() Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// Run handles events until ctx ends (then it returns nil) or the handler or the checkpoint
// store fails (then it returns the error, naming the event; the checkpoint stays before that
// event). Failed reads of the store are tried again after SubscriptionConfig.Backoff. Either way it saves the checkpoint of the last handled event first.
// Run may be called again after it returned, but not twice at once.
func (s *Subscription) Run(ctx context.Context) (err error) {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("eventsource: subscription is already running")
	}
	defer s.running.Store(false)
	name := s.cfg.Name
	if s.cfg.Checkpoints != nil {
		saved, err := s.cfg.Checkpoints.LoadCheckpoint(ctx, name)
		if err != nil {
			return fmt.Errorf("eventsource: subscription %q: load checkpoint: %w", name, err)
		}
		if !saved.IsZero() {
			s.mu.Lock()
			s.pos = saved
			s.mu.Unlock()
		}
	}
	saved := s.Position()
	save := func(ctx context.Context) error {
		pos := s.Position()
		if s.cfg.Checkpoints == nil || pos == saved {
			return nil
		}
		if err := s.cfg.Checkpoints.SaveCheckpoint(ctx, name, pos); err != nil {
			return fmt.Errorf("eventsource: subscription %q: save checkpoint %v: %w", name, pos, err)
		}
		saved = pos
		return nil
	}
	defer func() {
		// Save what was handled, even when ctx has ended.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if serr := save(sctx); serr != nil && err == nil {
			err = serr
		}
	}()
	f := follower{what: fmt.Sprintf("subscription %q", name), store: s.store, filter: s.cfg.Filter, pageSize: s.cfg.PageSize, poll: s.cfg.PollInterval,
		atHead:  func() { s.caughtUpOnce.Do(func() { close(s.caughtUp) }) },
		backoff: s.cfg.Backoff, log: s.cfg.Logger}
	unsaved := 0
	err = f.run(ctx, s.Position(), func(ctx context.Context, page []Event) error {
		for _, e := range page {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := s.handle(ctx, e); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("eventsource: subscription %q: handler failed on event %q (stream %q version %d type %q): %w",
					name, e.ID, e.Stream, e.Version, e.Type, err)
			}
			s.mu.Lock()
			s.pos = e.Position
			s.mu.Unlock()
			if unsaved++; unsaved >= s.cfg.CheckpointEvery {
				if err := save(ctx); err != nil {
					return err
				}
				unsaved = 0
			}
		}
		return nil
	})
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}
