package eventsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/courier-go/courier"
)

// Headers the relay puts on each message, besides the event's metadata.
const (
	HeaderEventType    = "event-type"
	HeaderEventStream  = "event-stream"
	HeaderEventVersion = "event-version"
)

// RelayConfig configures a Relay. Zero optional fields select the documented defaults.
type RelayConfig struct {
	// Name names the relay's checkpoint and lease; required.
	Name string
	// Topic chooses each event's topic; required.
	Topic func(Event) string
	// Checkpoints keeps the position of the last event sent; required.
	Checkpoints CheckpointStore
	// Lease keeps a second relay of the same Name from running at once; required
	// (LocalLease within one process, pgstore.AdvisoryLease across processes).
	Lease Lease
	// Filter selects the events to relay.
	Filter Filter
	// BatchSize is the most events per SendBatch; 0 means 100.
	BatchSize int
	// PollInterval: see SubscriptionConfig; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// Backoff spaces the attempts to send a batch, or to read the store, after a failure;
	// zero means courier.DefaultBackoff.
	Backoff courier.Backoff
	// Logger receives the relay's logs (never payloads); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with cfg.
func (cfg RelayConfig) Validate() error {
	var errs []error
	if cfg.Name == "" {
		errs = append(errs, errors.New("empty Name"))
	}
	if cfg.Topic == nil {
		errs = append(errs, errors.New("nil Topic function"))
	}
	if cfg.Checkpoints == nil {
		errs = append(errs, errors.New("nil Checkpoints"))
	}
	if cfg.Lease == nil {
		errs = append(errs, errors.New("nil Lease (LocalLease within one process, pgstore.AdvisoryLease across processes)"))
	}
	if cfg.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("negative BatchSize %d", cfg.BatchSize))
	}
	if cfg.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("negative PollInterval %v", cfg.PollInterval))
	}
	if err := cfg.Backoff.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("eventsource: relay config: %w", err)
	}
	return nil
}

// Relay sends a store's events to a courier.Producer: the outbox pattern, where appending
// the events is the only write a service makes and the relay publishes them, at least once.
// Each event becomes a message with ID = the event's ID (so consumers can drop duplicates on
// every broker), Key = its stream, Topic = Config.Topic(event), Value = its data, Timestamp =
// its time, and its metadata plus the event-type, event-stream and event-version headers.
//
// Events go out in the store's order, so in version order per stream. A SendBatch never
// holds two events of one stream: a broker that refused an earlier message of a key while
// taking a later one in the same batch would otherwise put them out of order. When a
// SendBatch fails (a *courier.BatchError names the messages), the checkpoint moves only to
// just before the first failed event, and the relay sends again from there after a backoff:
// events after it may be sent twice, never skipped.
type Relay struct {
	store Store
	prod  courier.Producer
	cfg   RelayConfig
	log   *slog.Logger
}

// NewRelay returns a relay from store to p; Run starts it.
func NewRelay(store Store, p courier.Producer, cfg RelayConfig) (*Relay, error) {
	if store == nil {
		return nil, errors.New("eventsource: relay: nil store")
	}
	if p == nil {
		return nil, errors.New("eventsource: relay: nil producer")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 100
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Backoff == (courier.Backoff{}) {
		cfg.Backoff = courier.DefaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Relay{store: store, prod: p, cfg: cfg, log: cfg.Logger.With("relay", cfg.Name)}, nil
}

// Run waits for the lease, then relays events from the saved checkpoint on until ctx ends
// (then it returns nil) or the store, the checkpoint store or the lease fails. It sends
// each batch until it succeeds, backing off in between; it gives the lease up on return.
func (r *Relay) Run(ctx context.Context) error {
	held, release, err := r.cfg.Lease.Acquire(ctx, r.cfg.Name)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("eventsource: relay %q: acquire lease: %w", r.cfg.Name, err)
	}
	defer release()
	pos, err := r.cfg.Checkpoints.LoadCheckpoint(held, r.cfg.Name)
	if err != nil {
		return r.ended(ctx, held, fmt.Errorf("eventsource: relay %q: load checkpoint: %w", r.cfg.Name, err))
	}
	r.log.Info("relay started", "from", pos)
	f := follower{what: fmt.Sprintf("relay %q", r.cfg.Name), store: r.store, filter: r.cfg.Filter, pageSize: r.cfg.BatchSize, poll: r.cfg.PollInterval,
		backoff: r.cfg.Backoff, log: r.log}
	return r.ended(ctx, held, f.run(held, pos, r.sendPage))
}

// ended turns the end of Run into its result: nil when ctx ended, an error when the lease
// was lost.
func (r *Relay) ended(ctx, held context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return nil
	case held.Err() != nil:
		return fmt.Errorf("eventsource: relay %q: lease lost: %w", r.cfg.Name, context.Cause(held))
	}
	return err
}

// sendPage sends a page of events, in batches without two events of a stream, saving the
// checkpoint after each batch.
func (r *Relay) sendPage(ctx context.Context, page []Event) error {
	for len(page) > 0 {
		n := batchEnd(page)
		if err := r.sendBatch(ctx, page[:n]); err != nil {
			return err
		}
		page = page[n:]
	}
	return nil
}

// batchEnd returns the length of the longest prefix of page with no stream twice.
func batchEnd(page []Event) int {
	seen := make(map[string]struct{}, len(page))
	for i, e := range page {
		if _, dup := seen[e.Stream]; dup {
			return i
		}
		seen[e.Stream] = struct{}{}
	}
	return len(page)
}

// sendBatch sends events until all are sent, saving the checkpoint as far as they went.
func (r *Relay) sendBatch(ctx context.Context, events []Event) error {
	for attempt := 1; ; attempt++ {
		msgs := make([]courier.Message, len(events))
		for i, e := range events {
			msgs[i] = r.message(e)
		}
		err := r.prod.SendBatch(ctx, msgs)
		sent := len(events)
		if err != nil {
			sent = 0
			var be *courier.BatchError
			if errors.As(err, &be) && len(be.Errs) == len(events) {
				if failed := be.Failed(); len(failed) > 0 {
					sent = failed[0]
				}
			}
		}
		if sent > 0 {
			if serr := r.cfg.Checkpoints.SaveCheckpoint(ctx, r.cfg.Name, events[sent-1].Position); serr != nil {
				return fmt.Errorf("eventsource: relay %q: save checkpoint: %w", r.cfg.Name, serr)
			}
			events = events[sent:]
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e := events[0]
		if errors.Is(err, courier.ErrInvalidMessage) || errors.Is(err, courier.ErrMessageTooLarge) || errors.Is(err, courier.ErrClosed) {
			// Sending again would fail again.
			return fmt.Errorf("eventsource: relay %q: event %q (stream %q version %d): %w", r.cfg.Name, e.ID, e.Stream, e.Version, err)
		}
		delay := r.cfg.Backoff.Delay(attempt)
		r.log.Warn("relay send failed; will retry", "attempt", attempt, "retry_in", delay,
			"event_id", e.ID, "stream", e.Stream, "version", e.Version, "error", err)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

func (r *Relay) message(e Event) courier.Message {
	h := make(map[string]string, len(e.Metadata)+3)
	maps.Copy(h, e.Metadata)
	h[HeaderEventType] = e.Type
	h[HeaderEventStream] = e.Stream
	h[HeaderEventVersion] = strconv.FormatInt(e.Version, 10)
	return courier.Message{ID: e.ID, Topic: r.cfg.Topic(e), Key: e.Stream, Value: e.Data, Headers: h, Timestamp: e.Time}
}
