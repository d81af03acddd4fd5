package memory

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
	"github.com/courier-go/courier/internal/recordid"
	"github.com/courier-go/courier/internal/urlparams"
	"github.com/courier-go/courier/internal/uuidv7"
)

func init() {
	courier.Register("memory", func(ctx context.Context, u *url.URL) (courier.Broker, error) {
		cfg, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg)
	})
}

// DefaultMaxMessageBytes is the size limit when Config.MaxMessageBytes is 0: as much as the
// largest of the real brokers' defaults, so code tested here does not fail there for size alone.
const DefaultMaxMessageBytes = 16 << 20

// Config configures a Broker. The zero Config is ready to use.
type Config struct {
	// MaxMessageBytes is the largest courier.Message.Size that Send accepts; 0 means
	// DefaultMaxMessageBytes. Larger messages fail with courier.ErrMessageTooLarge.
	MaxMessageBytes int
	// MaxMessagesPerTopic bounds each topic's log; 0 keeps every message until Close. Beyond
	// it the oldest messages are dropped, also for groups that have not consumed them, which
	// lose them (logged, and counted in TopicStats.Dropped).
	MaxMessagesPerTopic int
	// Logger receives the broker's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with cfg.
func (c Config) Validate() error {
	if c.MaxMessageBytes < 0 {
		return fmt.Errorf("memory: config: %w: negative MaxMessageBytes %d", courier.ErrInvalidConfig, c.MaxMessageBytes)
	}
	if c.MaxMessagesPerTopic < 0 {
		return fmt.Errorf("memory: config: %w: negative MaxMessagesPerTopic %d", courier.ErrInvalidConfig, c.MaxMessagesPerTopic)
	}
	return nil
}

// ParseURL reads a Config from a memory:// URL. Unknown parameters are an error, so that a typo
// is not silently ignored.
func ParseURL(u *url.URL) (Config, error) {
	var cfg Config
	if u.Scheme != "memory" {
		return cfg, fmt.Errorf("memory: parse URL: %w: scheme is %q, want memory", courier.ErrInvalidConfig, u.Scheme)
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") {
		return cfg, fmt.Errorf("memory: parse URL: %w: %q has a host or path; use memory:// (every Open makes a new broker; share the *memory.Broker to share one)",
			courier.ErrInvalidConfig, u.Redacted())
	}
	if err := urlParams.Apply("memory", u.Query(), &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// urlParams maps each URL query parameter onto Config.
var urlParams = urlparams.Params[Config]{
	"max_message_bytes":      urlparams.Int(func(c *Config) *int { return &c.MaxMessageBytes }),
	"max_messages_per_topic": urlparams.Int(func(c *Config) *int { return &c.MaxMessagesPerTopic }),
}

// Broker is an in-process broker. It is safe for concurrent use.
type Broker struct {
	cfg Config
	log *slog.Logger

	mu        sync.RWMutex
	topics    map[string]*topic
	consumers map[*consumer]struct{}
	closed    bool
}

// New returns an empty broker. It does no I/O; ctx is there so that every adapter has the
// same constructor, New(ctx, Config).
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
	return &Broker{
		cfg:       cfg,
		log:       cfg.Logger.With("broker", "memory"),
		topics:    make(map[string]*topic),
		consumers: make(map[*consumer]struct{}),
	}, nil
}

// topic returns the named topic, creating it if create is set; nil if absent or closed.
func (b *Broker) topic(name string, create bool) (*topic, error) {
	b.mu.RLock()
	t, closed := b.topics[name], b.closed
	b.mu.RUnlock()
	if closed {
		return nil, courier.ErrClosed
	}
	if t != nil || !create {
		return t, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, courier.ErrClosed
	}
	if t = b.topics[name]; t == nil {
		t = newTopic(name, b.cfg.MaxMessagesPerTopic, b.log)
		b.topics[name] = t
	}
	return t, nil
}

// NewProducer returns a producer. It never fails on an open broker.
func (b *Broker) NewProducer(ctx context.Context) (courier.Producer, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, courier.ErrClosed
	}
	return &producer{b: b}, nil
}

// NewConsumer creates cfg.Group on each of cfg.Topics (and the topics) if missing.
func (b *Broker) NewConsumer(ctx context.Context, cfg courier.ConsumerConfig) (courier.Consumer, error) {
	cfg, err := driver.ConsumerConfig("memory", cfg, b.cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := newConsumer(b, cfg)
	for _, name := range cfg.Topics {
		t, err := b.topic(name, true)
		if err != nil {
			return nil, err
		}
		c.subs = append(c.subs, t.join(cfg.Group, cfg.StartFrom, c))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		for _, s := range c.subs {
			s.leave()
		}
		return nil, courier.ErrClosed
	}
	b.consumers[c] = struct{}{}
	return c, nil
}

func (b *Broker) forget(c *consumer) {
	b.mu.Lock()
	delete(b.consumers, c)
	b.mu.Unlock()
}

// Close closes every consumer (their Consume returns) and drops all messages. Idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	consumers := slices.Collect(maps.Keys(b.consumers))
	b.mu.Unlock()
	for _, c := range consumers {
		c.Close()
	}
	b.mu.Lock()
	clear(b.topics)
	b.mu.Unlock()
	return nil
}

// TopicStats describes one topic's log and its groups.
type TopicStats struct {
	Messages int   // messages in the log now
	Oldest   int64 // offset of the oldest message kept
	Next     int64 // offset the next message sent will get
	Groups   map[string]GroupStats
}

// GroupStats describes one group's position on a topic.
type GroupStats struct {
	Next      int64 // offset of the next message the group has not been given yet
	Redeliver int   // messages handed back (by a closing consumer) waiting for redelivery
	Dropped   int64 // messages the retention bound dropped before the group read them
}

// TopicStats reports on a topic; false if it does not exist.
func (b *Broker) TopicStats(name string) (TopicStats, bool) {
	t, _ := b.topic(name, false)
	if t == nil {
		return TopicStats{}, false
	}
	return t.stats(), true
}

type producer struct {
	b      *Broker
	mu     sync.RWMutex
	closed bool
}

func (p *producer) Send(ctx context.Context, msg courier.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("memory: send %s: %w", msg.Topic, courier.ErrClosed)
	}
	msg, err := p.prepare(msg)
	if err != nil {
		return err
	}
	t, err := p.b.topic(msg.Topic, true)
	if err != nil {
		return fmt.Errorf("memory: send %s: %w", msg.Topic, err)
	}
	t.append(msg)
	return nil
}

// prepare validates msg and copies what the caller may reuse after Send returns. An ID Send
// fills in is written into the same allocation as the copy of the Value: a message that the
// caller gave no ID costs one allocation here, not two.
func (p *producer) prepare(msg courier.Message) (courier.Message, error) {
	var now time.Time
	msg, callerID, err := recordid.Prepare(msg, &now)
	if err != nil {
		return msg, fmt.Errorf("memory: send %s: %w", msg.Topic, err)
	}
	size := msg.Size()
	if !callerID {
		size += uuidv7.Len // counted as every broker counts a filled ID
	}
	if size > p.b.cfg.MaxMessageBytes {
		return msg, fmt.Errorf("memory: send %s: %w: %d bytes, limit %d (Config.MaxMessageBytes)", msg.Topic, courier.ErrMessageTooLarge, size, p.b.cfg.MaxMessageBytes)
	}
	if callerID {
		msg.Value = cloneValue(msg.Value)
	} else {
		msg.Value, msg.ID = cloneValueWithID(msg.Value, msg.Timestamp)
	}
	msg.Headers = maps.Clone(msg.Headers)
	return msg, nil
}

// SendBatch sends each message; all valid messages are sent even when others are not.
func (p *producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = p.Send(ctx, m)
	}
	return driver.NewBatchError(errs)
}

func (p *producer) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

// cloneValueWithID copies v and makes a new ID for time t in one allocation: the ID's bytes
// follow the Value's, which is capped before them so that nothing appended to it reaches them.
func cloneValueWithID(v []byte, t time.Time) ([]byte, string) {
	buf := uuidv7.Append(append(make([]byte, 0, len(v)+uuidv7.Len), v...), t)
	id := unsafe.String(&buf[len(v)], uuidv7.Len) // never written again
	if v == nil {
		return nil, id
	}
	return buf[:len(v):len(v)], id
}

// cloneValue copies v, keeping nil and empty apart.
func cloneValue(v []byte) []byte {
	if v == nil {
		return nil
	}
	return append(make([]byte, 0, len(v)), v...)
}
