// Package logbroker is a complete courier adapter over an in-process log, written with
// courier's public packages only (courier and driver; brokertest for its tests), as a
// third-party adapter would be: read its source as the model for an adapter of your own.
// It passes the whole brokertest suite under -race (see logbroker_test.go).
//
// Each topic is a slice of messages that is never trimmed; each group has a position in it
// and a list of messages handed back for redelivery. That is all a broker needs for
// courier's contract: the engine in package driver does the rest (concurrency, per-key
// order, retries in place, MaxAttempts and OnExhausted, panics, drain). Where a real adapter
// talks to its broker, this one takes the broker's lock:
//
//   - broker.go: the Broker (New, ParseURL, the URL scheme, Close through driver.Owned);
//   - producer.go: Send and SendBatch (driver.Prepare validates and fills ID and Timestamp;
//     driver.NewBatchError reports a batch);
//   - consumer.go: NewConsumer (driver.ConsumerConfig), Consume (driver.Guard, driver.Engine),
//     and the Settler that acknowledges, retries and releases deliveries.
//
// Per-key order holds within one consumer; the consumers of a group take messages in turn,
// whatever their key (brokertest.OrderWithinConsumer), as on Redis Streams.
package logbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// Scheme is the URL scheme the package registers: courier.Open(ctx, "logbroker://").
const Scheme = "logbroker"

func init() {
	courier.Register(Scheme, func(ctx context.Context, u *url.URL) (courier.Broker, error) {
		cfg, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg)
	})
}

// DefaultMaxMessageBytes is Config.MaxMessageBytes when it is 0.
const DefaultMaxMessageBytes = 4 << 20

// Config configures a Broker. The zero value selects the defaults.
type Config struct {
	// MaxMessageBytes bounds courier.Message.Size; larger messages fail with
	// courier.ErrMessageTooLarge. 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Logger receives the logs of the broker's consumers; nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.MaxMessageBytes < 0 {
		return fmt.Errorf("%w: logbroker: negative MaxMessageBytes %d", courier.ErrInvalidConfig, c.MaxMessageBytes)
	}
	return nil
}

// ParseURL returns the Config of a URL such as "logbroker://?max_message_bytes=1048576".
// An unknown query parameter is an error.
func ParseURL(u *url.URL) (Config, error) {
	var cfg Config
	if !strings.EqualFold(u.Scheme, Scheme) {
		return cfg, fmt.Errorf("%w: logbroker: URL scheme %q, want %q", courier.ErrInvalidConfig, u.Scheme, Scheme)
	}
	for k, vs := range u.Query() {
		switch k {
		case "max_message_bytes":
			n, err := strconv.Atoi(vs[len(vs)-1])
			if err != nil {
				return cfg, fmt.Errorf("%w: logbroker: URL parameter max_message_bytes=%q is not a whole number", courier.ErrInvalidConfig, vs[len(vs)-1])
			}
			cfg.MaxMessageBytes = n
		default:
			return cfg, fmt.Errorf("%w: logbroker: unknown URL parameter %q (known: max_message_bytes)", courier.ErrInvalidConfig, k)
		}
	}
	return cfg, cfg.Validate()
}

// Broker is an in-process broker. Make it with New; it is safe for concurrent use.
type Broker struct {
	cfg   Config
	owned driver.Owned // the producers and consumers Close closes

	mu      sync.Mutex
	topics  map[string]*topic
	changed chan struct{} // closed, and replaced, when a consumer may find something new
}

// topic is a log and the groups that read it.
type topic struct {
	log    []courier.Message
	groups map[string]*group
}

// group is one group's place in one topic. Its fields are guarded by Broker.mu.
type group struct {
	t         *topic
	next      int         // offset of the first message never handed out
	redeliver []int       // offsets handed back, in log order: handed out again first
	attempts  map[int]int // deliveries so far of the offsets handed out and not acknowledged
}

// New returns a broker configured by cfg. ctx is unused: an adapter for a real broker
// connects with it.
func New(_ context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Broker{cfg: cfg, topics: map[string]*topic{}, changed: make(chan struct{})}, nil
}

// Close closes every producer and consumer made from b, then b. Idempotent.
func (b *Broker) Close() error {
	_, err := b.owned.Close()
	return err
}

// broadcast wakes every consumer waiting for messages; b.mu is held.
func (b *Broker) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// topic returns the topic named name, creating it; b.mu is held.
func (b *Broker) topic(name string) *topic {
	t := b.topics[name]
	if t == nil {
		t = &topic{groups: map[string]*group{}}
		b.topics[name] = t
	}
	return t
}

// errClosed is the error of a call on a closed broker.
func (b *Broker) errClosed(op string) error {
	return fmt.Errorf("logbroker: %s: %w", op, courier.ErrClosed)
}

var _ courier.Broker = (*Broker)(nil)

// add records m with the broker's owned set, closing it if the broker closed first.
func (b *Broker) add(m interface{ Close() error }) error {
	if err := b.owned.Add(m); err != nil {
		return errors.Join(err, m.Close())
	}
	return nil
}
