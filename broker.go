package courier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Producer sends messages to a broker. It is safe for concurrent use.
type Producer interface {
	// Send returns once the broker has msg durably (as durably as the broker is configured
	// to keep it). It fills an empty ID and a zero Timestamp (see Prepare).
	Send(ctx context.Context, msg Message) error
	// SendBatch sends many messages and returns once the broker has all of them. When some
	// fail, the error is a *BatchError that says which.
	SendBatch(ctx context.Context, msgs []Message) error
	// Close flushes what is pending and releases the producer. It is idempotent; calls after
	// it return ErrClosed.
	Close() error
}

// Consumer receives the messages of one group.
type Consumer interface {
	// Consume delivers messages to h until ctx ends or Close is called, then returns nil.
	// h returning nil acknowledges the message; an error makes it come back later
	// (Attempt+1). It returns an error only for a failure it cannot recover from.
	Consume(ctx context.Context, h MessageHandler) error
	// Close stops Consume, lets in-flight handlers finish (bounded by
	// ConsumerConfig.DrainTimeout), and is idempotent.
	Close() error
}

// Broker makes producers and consumers on one broker connection.
type Broker interface {
	NewProducer(ctx context.Context) (Producer, error)
	// NewConsumer creates cfg.Group on the broker if it does not exist yet, so that messages
	// sent after NewConsumer returns are kept for the group.
	NewConsumer(ctx context.Context, cfg ConsumerConfig) (Consumer, error)
	// Close closes the broker and every producer and consumer made from it.
	Close() error
}

// StartPosition says where a group that does not exist yet starts reading.
type StartPosition int

const (
	// StartOldest starts a new group at the oldest message the broker still has, on brokers
	// that keep messages sent before the group existed (memory, Kafka, Redis, Pulsar).
	StartOldest StartPosition = iota
	// StartNewest starts a new group with the messages sent after it was created.
	StartNewest
)

func (p StartPosition) String() string {
	switch p {
	case StartOldest:
		return "oldest"
	case StartNewest:
		return "newest"
	}
	return fmt.Sprintf("StartPosition(%d)", int(p))
}

// Default settings of ConsumerConfig.
const (
	DefaultDrainTimeout = 30 * time.Second
)

// ConsumerConfig is what every adapter understands about a consumer. The zero values of the
// optional fields select the documented defaults.
type ConsumerConfig struct {
	Group       string   // consumer group / subscription / queue name; required
	Topics      []string // required, at least one
	Concurrency int      // handler calls in flight at once; 0 means 1

	// StartFrom is where the group starts when it does not exist yet; default StartOldest.
	StartFrom StartPosition
	// Backoff is the delay before a message whose handler failed is delivered again;
	// the zero value means DefaultBackoff.
	Backoff Backoff
	// DrainTimeout bounds how long Close and the end of Consume's context wait for in-flight
	// handlers; after it their context is cancelled. 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Logger receives the consumer's logs (never payloads); nil means slog.Default().
	Logger *slog.Logger

	// MaxAttempts bounds how many times a message is handled: when the handler fails on a
	// message whose Attempt has reached MaxAttempts, OnExhausted decides what becomes of it
	// instead of another redelivery. Attempt is the broker's own delivery count where it
	// keeps one that follows a message from consumer to consumer (memory, Redis Streams,
	// RabbitMQ quorum queues), so there the bound holds across redeliveries and restarts; on
	// Kafka and Pulsar the count starts again on the consumer that takes a message over.
	// 0 means no bound: a failing message is retried until it succeeds (or its error is
	// marked Permanent).
	MaxAttempts int
	// OnExhausted is called for a message whose last attempt failed: Attempt reached
	// MaxAttempts, or the handler's error was marked with Permanent. It runs in the message's
	// place (later messages of its key wait for it) and gets an *ExhaustedError. nil means
	// DropExhausted on Logger: the message is logged at Error level and acknowledged.
	// See ExhaustedFunc for what its result does; DeadLetter hooks live in package dlq.
	OnExhausted ExhaustedFunc
}

// Validate says what is wrong with cfg, wrapping ErrInvalidConfig.
func (cfg ConsumerConfig) Validate() error {
	var problems []string
	if cfg.Group == "" {
		problems = append(problems, "empty Group")
	}
	if len(cfg.Topics) == 0 {
		problems = append(problems, "no Topics")
	}
	for i, t := range cfg.Topics {
		if t == "" {
			problems = append(problems, fmt.Sprintf("Topics[%d] is empty", i))
		} else if slices.Index(cfg.Topics, t) != i {
			problems = append(problems, fmt.Sprintf("topic %q is listed twice", t))
		}
	}
	if cfg.Concurrency < 0 {
		problems = append(problems, fmt.Sprintf("negative Concurrency %d", cfg.Concurrency))
	}
	if cfg.StartFrom != StartOldest && cfg.StartFrom != StartNewest {
		problems = append(problems, fmt.Sprintf("unknown StartFrom %d", int(cfg.StartFrom)))
	}
	if cfg.DrainTimeout < 0 {
		problems = append(problems, fmt.Sprintf("negative DrainTimeout %v", cfg.DrainTimeout))
	}
	if cfg.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxAttempts %d (0 means no bound)", cfg.MaxAttempts))
	}
	if err := cfg.Backoff.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: consumer config: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// WithDefaults returns cfg with its zero optional fields set to their defaults.
func (cfg ConsumerConfig) WithDefaults() ConsumerConfig {
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnExhausted == nil {
		cfg.OnExhausted = DropExhausted(cfg.Logger.With("group", cfg.Group), nil)
	}
	return cfg
}

var (
	registryMu sync.RWMutex
	registry   = map[string]func(ctx context.Context, u *url.URL) (Broker, error){}
)

// Register makes a broker available to Open under a URL scheme. Adapters call it from init.
// It panics if open is nil or the scheme is already registered, as database/sql.Register does.
func Register(scheme string, open func(ctx context.Context, u *url.URL) (Broker, error)) {
	registryMu.Lock()
	defer registryMu.Unlock()
	scheme = strings.ToLower(scheme)
	if open == nil {
		panic("courier: Register open func is nil for scheme " + scheme)
	}
	if _, dup := registry[scheme]; dup {
		panic("courier: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Open returns the broker for a URL such as "kafka://host:9092",
// "amqp://guest:guest@host:5672/", "redis://host:6379/0", "pulsar://host:6650" or
// "memory://". The adapter for the scheme must be imported (import _ ".../courier/kafka").
func Open(ctx context.Context, rawURL string) (Broker, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL itself, which may hold a password
		}
		return nil, fmt.Errorf("%w: malformed broker URL (registered schemes: %s): %w",
			ErrInvalidConfig, strings.Join(Schemes(), ", "), err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("%w: broker URL %q has no scheme; registered schemes: %s",
			ErrInvalidConfig, u.Redacted(), strings.Join(Schemes(), ", "))
	}
	registryMu.RLock()
	open := registry[strings.ToLower(u.Scheme)]
	registryMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("%w: no broker registered for scheme %q (registered: %s); import its adapter package",
			ErrInvalidConfig, u.Scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, u)
}
