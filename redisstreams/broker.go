package redisstreams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

func init() {
	open := func(ctx context.Context, u *url.URL) (courier.Broker, error) { return Open(ctx, u.String()) }
	courier.Register("redis", open)
	courier.Register("rediss", open)
}

// Broker produces to and consumes from Redis streams. It is safe for concurrent use.
type Broker struct {
	client  redis.UniversalClient
	owned   bool // made by Open: Close closes it
	cfg     Config
	log     *slog.Logger
	addr    string // for errors and logs
	nameTag string // ConsumerName, or host-pid

	members driver.Owned // producers and consumers, closed with the broker
}

// Open connects to the Redis of a redis:// or rediss:// URL (see ParseURL), checks that it
// answers, and returns a Broker that closes the connection when it is closed.
func Open(ctx context.Context, rawURL string) (*Broker, error) {
	opts, cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	// Socket reads and writes then end at the caller's context deadline, so Send honours it
	// even when Redis stops answering without closing the connection.
	opts.ContextTimeoutEnabled = true
	client := redis.NewClient(opts)
	b, err := newBroker(client, true, opts.Addr, cfg)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis: %s unreachable: %w", opts.Addr, err)
	}
	return b, nil
}

// New returns a Broker on a client the caller made (a *redis.Client, *redis.ClusterClient,
// a sentinel failover client...). The Broker never closes it: the caller does, after closing
// the Broker. New does no I/O.
//
// On Redis Cluster each stream lives in one slot; a consumer reading several topics reads
// them with one XREADGROUP, so their stream keys must share a hash slot (a {tag} in Prefix or
// in the topic names).
func New(client redis.UniversalClient, cfg Config) (*Broker, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: redis: New needs a client", courier.ErrInvalidConfig)
	}
	return newBroker(client, false, "", cfg)
}

func newBroker(client redis.UniversalClient, owned bool, addr string, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if addr == "" {
		addr = "redis"
		if c, ok := client.(*redis.Client); ok {
			addr = c.Options().Addr
		}
	}
	tag := cfg.ConsumerName
	if tag == "" {
		host, _ := os.Hostname()
		tag = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return &Broker{
		client: client, owned: owned, cfg: cfg, addr: addr, nameTag: tag,
		log: cfg.Logger.With("broker", "redis", "addr", addr),
	}, nil
}

// Client returns the go-redis client the broker uses.
func (b *Broker) Client() redis.UniversalClient { return b.client }

// streamKey is the Redis key of topic.
func (b *Broker) streamKey(topic string) string { return b.cfg.Prefix + topic }

// NewProducer returns a producer. It does no I/O.
func (b *Broker) NewProducer(ctx context.Context) (courier.Producer, error) {
	p := newProducer(b)
	if err := b.members.Add(p); err != nil {
		return nil, err // p holds nothing: producers do no I/O before a Send
	}
	return p, nil
}

// NewConsumer creates cfg.Group on each topic's stream (and the stream) if missing, starting
// at the stream's first entry (courier.StartOldest) or after its last (courier.StartNewest),
// and returns a consumer with a name of its own in the group.
func (b *Broker) NewConsumer(ctx context.Context, cfg courier.ConsumerConfig) (courier.Consumer, error) {
	cfg, err := driver.ConsumerConfig("redis", cfg, b.cfg.Logger)
	if err != nil {
		return nil, err
	}
	if b.members.Closed() {
		return nil, courier.ErrClosed
	}
	c := newConsumer(b, cfg, b.nameTag+"-"+randomHex(4))
	for _, s := range c.streams {
		if err := c.ensureGroup(ctx, s); err != nil {
			return nil, err
		}
	}
	if err := b.members.Add(c); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every producer and consumer made from b (their Consume returns), then the
// client if Open made it. Idempotent.
func (b *Broker) Close() error {
	if first, _ := b.members.Close(); !first {
		return nil
	}
	if b.owned {
		if err := b.client.Close(); err != nil {
			return fmt.Errorf("redis: %s: close: %w", b.addr, err)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
