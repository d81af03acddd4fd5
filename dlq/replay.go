package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/courier-go/courier"
)

// Defaults of ReplayOptions.
const (
	DefaultReplayGroup = "dlq-replay"
	DefaultIdleTimeout = 2 * time.Second
)

// ReplayOptions configures Replay. The zero value replays every dead letter.
type ReplayOptions struct {
	// Group is the consumer group that reads the dead-letter topic; "" means
	// DefaultReplayGroup. On brokers that do not keep messages for groups created later
	// (RabbitMQ), the group must exist before the dead letters are published: create it once
	// with NewConsumer, or run Replay once, when the dead-letter topic is set up.
	Group string
	// Filter selects the dead letters to replay; nil selects all. The others are kept: they
	// are sent again to the dead-letter topic, marked by this run so that it does not handle
	// them twice, and then acknowledged; a later replay finds them there. On brokers where a
	// topic is a log other groups read (Kafka, Redis, memory), those groups see the copies.
	Filter func(msg courier.Message, info Info) bool
	// Limit stops the replay once this many messages were sent back; 0 means no limit.
	Limit int
	// IdleTimeout ends the replay when no dead letter arrived for this long: the topic is taken
	// to be drained. 0 means DefaultIdleTimeout. On a broker with delivery lag, a shorter one
	// can stop early; nothing is lost, run Replay again.
	IdleTimeout time.Duration
	// Producer sends the replayed (and kept) messages; nil means one made from the broker,
	// and closed at the end.
	Producer courier.Producer
	// Logger receives a line per malformed dead letter and a summary; nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with o, wrapping courier.ErrInvalidConfig.
func (o ReplayOptions) Validate() error {
	var problems []string
	if o.Limit < 0 {
		problems = append(problems, fmt.Sprintf("negative Limit %d", o.Limit))
	}
	if o.IdleTimeout < 0 {
		problems = append(problems, fmt.Sprintf("negative IdleTimeout %v", o.IdleTimeout))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: dlq replay options: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// ReplayResult counts what Replay did.
type ReplayResult struct {
	Replayed int // sent back to their original topic
	Kept     int // not selected by Filter, kept in the dead-letter topic
	Invalid  int // without a readable HeaderOriginalTopic, kept in the dead-letter topic
}

// errStop is the handler's answer to deliveries that arrive after Replay decided to stop:
// they are not acknowledged, so they stay for the next replay.
var errStop = errors.New("dlq: replay stopping")

// Replay moves the dead letters of dlqTopic back to their original topics (see ReplayOptions
// for which) and says how many it moved. It stops, with the messages not yet handled left in
// the dead-letter topic, when:
//   - Limit messages were replayed;
//   - no dead letter arrived for IdleTimeout, not counting those it kept itself in this run
//     (they come back at the end of the topic): the topic is drained;
//   - sending one back failed (the error is returned, the dead letter stays);
//   - ctx ends (ctx's error is returned).
//
// It reads the topic one message at a time, so the dead letters of a key go back in order.
func Replay(ctx context.Context, b courier.Broker, dlqTopic string, opts ReplayOptions) (ReplayResult, error) {
	if err := opts.Validate(); err != nil {
		return ReplayResult{}, err
	}
	if dlqTopic == "" {
		return ReplayResult{}, fmt.Errorf("%w: dlq: replay needs the dead-letter topic", courier.ErrInvalidConfig)
	}
	if opts.Group == "" {
		opts.Group = DefaultReplayGroup
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := opts.Producer
	if p == nil {
		var err error
		if p, err = b.NewProducer(ctx); err != nil {
			return ReplayResult{}, fmt.Errorf("dlq: replay of %q: %w", dlqTopic, err)
		}
		defer p.Close()
	}
	// One message at a time: dead letters go back in the order they were read.
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: opts.Group, Topics: []string{dlqTopic},
		Concurrency: 1, StartFrom: courier.StartOldest, Logger: opts.Logger})
	if err != nil {
		return ReplayResult{}, fmt.Errorf("dlq: replay of %q: %w", dlqTopic, err)
	}
	r := &replayer{opts: opts, p: p, topic: dlqTopic, run: courier.NewID(time.Now()),
		activity: make(chan struct{}, 1), stop: make(chan struct{})}

	consumeCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Consume(consumeCtx, r) }()

	idle := time.NewTimer(opts.IdleTimeout)
	defer idle.Stop()
	var consumeErr error
wait:
	for {
		select {
		case <-r.activity:
			idle.Reset(opts.IdleTimeout)
		case <-idle.C:
			if !r.busy() {
				break wait
			}
			idle.Reset(opts.IdleTimeout)
		case <-r.stop:
			break wait
		case <-ctx.Done():
			break wait
		case consumeErr = <-done:
			done = nil
			break wait
		}
	}
	r.halt()
	closeErr := c.Close()
	cancel()
	if done != nil {
		consumeErr = <-done
		if errors.Is(consumeErr, courier.ErrClosed) { // we closed it before Consume began
			consumeErr = nil
		}
	}
	res, sendErr := r.result()
	opts.Logger.Info("dlq: replay finished", "dead_letter_topic", dlqTopic, "group", opts.Group,
		"replayed", res.Replayed, "kept", res.Kept, "invalid", res.Invalid)
	switch {
	case sendErr != nil:
		return res, sendErr
	case ctx.Err() != nil:
		return res, ctx.Err()
	case consumeErr != nil:
		return res, fmt.Errorf("dlq: replay of %q: %w", dlqTopic, consumeErr)
	case closeErr != nil:
		return res, fmt.Errorf("dlq: replay of %q: closing consumer: %w", dlqTopic, closeErr)
	}
	return res, nil
}

// replayer is the handler Replay runs on the dead-letter topic.
type replayer struct {
	opts  ReplayOptions
	p     courier.Producer
	topic string
	run   string // this run's mark on the dead letters it keeps

	activity chan struct{}
	stop     chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	handling bool
	halted   bool
	res      ReplayResult
	err      error
}

func (r *replayer) halt() {
	r.mu.Lock()
	r.halted = true
	r.mu.Unlock()
	r.stopOnce.Do(func() { close(r.stop) })
}

func (r *replayer) active() {
	select {
	case r.activity <- struct{}{}:
	default:
	}
}

func (r *replayer) busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handling
}

func (r *replayer) result() (ReplayResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.res, r.err
}

func (r *replayer) HandleMessage(ctx context.Context, msg courier.Message) error {
	if msg.Headers[headerReplayPass] == r.run {
		// Kept earlier in this run: leave it for the next one. It does not count as activity,
		// so a topic holding only such messages is idle, hence drained.
		return errStop
	}
	r.mu.Lock()
	if r.halted {
		r.mu.Unlock()
		return errStop
	}
	r.handling = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.handling = false
		r.mu.Unlock()
		r.active()
	}()
	r.active()

	info, perr := ParseInfo(msg)
	keep, invalid := false, false
	switch {
	case info.OriginalTopic == "":
		r.opts.Logger.Warn("dlq: dead letter has no original topic; keeping it", "dead_letter_topic", r.topic, "id", msg.ID, "err", perr)
		keep, invalid = true, true
	case r.opts.Filter != nil && !r.opts.Filter(msg, info):
		keep = true
	case perr != nil: // replayable; the count restarts where it cannot be read
		r.opts.Logger.Warn("dlq: dead letter has malformed headers", "dead_letter_topic", r.topic, "id", msg.ID, "err", perr)
	}
	out := msg
	if keep { // back to the end of the dead-letter topic, marked by this run
		out.Headers = maps.Clone(msg.Headers)
		if out.Headers == nil {
			out.Headers = make(map[string]string, 1)
		}
		out.Headers[headerReplayPass] = r.run
	} else {
		out = replayed(msg, info)
	}
	if err := r.p.Send(ctx, out); err != nil {
		r.mu.Lock()
		if r.err == nil {
			r.err = fmt.Errorf("dlq: replay of %q: sending message %s to %q: %w", r.topic, msg.ID, out.Topic, err)
		}
		r.mu.Unlock()
		r.halt()
		return err // not acknowledged: the dead letter stays
	}
	r.mu.Lock()
	switch {
	case invalid:
		r.res.Invalid++
	case keep:
		r.res.Kept++
	default:
		r.res.Replayed++
	}
	done := r.opts.Limit > 0 && r.res.Replayed >= r.opts.Limit
	r.mu.Unlock()
	if done {
		r.halt()
	}
	return nil
}

// replayed is the dead letter msg as it goes back to its original topic.
func replayed(msg courier.Message, info Info) courier.Message {
	h := withoutDeadLetterHeaders(msg.Headers)
	h[HeaderReplayCount] = strconv.Itoa(info.ReplayCount + 1)
	key := msg.Key
	if key == "" {
		key = info.OriginalKey
	}
	return courier.Message{ID: msg.ID, Topic: info.OriginalTopic, Key: key, Value: msg.Value, Headers: h, Timestamp: msg.Timestamp}
}
