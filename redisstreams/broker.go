package redisstreams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

func init() {
	open := func(ctx context.Context, u *url.URL) (courier.Broker, error) {
		cfg, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg)
	}
	courier.Register("redis", open)
	courier.Register("rediss", open)
}

// Broker produces to and consumes from Redis streams. It is safe for concurrent use.
type Broker struct {
	client  redis.UniversalClient
	owned   bool // made by New: Close closes it
	cfg     Config
	log     *slog.Logger
	addr    string // for logs and connection errors
	nameTag string // ConsumerName, or host-pid

	members driver.Owned // producers and consumers, closed with the broker
}

var _ courier.Broker = (*Broker)(nil)

// New connects to the Redis of cfg.URL, checks that it answers (retrying, and logging each
// failure, for at most cfg.ConnectTimeout whatever ctx's deadline), and returns a Broker that
// closes the connection when it is closed. It fails, naming the address and the cause, when
// Redis does not answer in time, and at once, wrapping courier.ErrAuthentication, when Redis
// refuses the credentials (WRONGPASS, NOAUTH, or a password for a Redis that has none).
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("redis: new broker: %w: Config.URL is empty (NewWithClient takes a client of your own)", courier.ErrInvalidConfig)
	}
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	// Socket reads and writes then end at the caller's context deadline, so Send honours it
	// even when Redis stops answering without closing the connection.
	opts.ContextTimeoutEnabled = true
	client := redis.NewClient(opts)
	b := newBroker(client, true, opts.Addr, cfg)
	if err := connect(ctx, opts, b.cfg); err != nil {
		_ = client.Close()
		return nil, err
	}
	return b, nil
}

// NewWithClient returns a Broker on a client the caller made (a *redis.Client,
// *redis.ClusterClient, a sentinel failover client...) and owns: the Broker never closes it;
// the caller does, after closing the Broker. cfg.URL is ignored. NewWithClient does no I/O.
//
// On Redis Cluster each stream lives in one slot; a consumer reading several topics reads
// them with one XREADGROUP, so their stream keys must share a hash slot (a {tag} in Prefix or
// in the topic names).
func NewWithClient(client redis.UniversalClient, cfg Config) (*Broker, error) {
	if client == nil {
		return nil, fmt.Errorf("redis: new broker: %w: NewWithClient needs a client", courier.ErrInvalidConfig)
	}
	cfg.URL = ""
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addr := "redis"
	if c, ok := client.(*redis.Client); ok {
		addr = c.Options().Addr
	}
	return newBroker(client, false, addr, cfg), nil
}

// newBroker returns a Broker on client; cfg is valid.
func newBroker(client redis.UniversalClient, owned bool, addr string, cfg Config) *Broker {
	cfg = cfg.withDefaults()
	tag := cfg.ConsumerName
	if tag == "" {
		host, _ := os.Hostname()
		tag = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return &Broker{
		client: client, owned: owned, cfg: cfg, addr: addr, nameTag: tag,
		log: cfg.Logger.With("broker", "redis", "addr", addr),
	}
}

// As is the escape hatch to the go-redis client under the Broker, for the commands courier
// does not cover (XINFO, XTRIM, a Lua script of your own...). target must be a pointer to a
// redis.UniversalClient (or another interface the client has, such as redis.Cmdable), or to the
// client's concrete type (*redis.Client for a Broker made by
// New; *redis.ClusterClient and others when NewWithClient got one): As sets it and reports
// true, or reports false and leaves it alone. The client stays the Broker's when New made it:
// do not close it.
//
//	var c redis.UniversalClient
//	if b.As(&c) { n, err := c.XLen(ctx, "orders").Result() }
func (b *Broker) As(target any) bool {
	t := reflect.ValueOf(target)
	if t.Kind() != reflect.Pointer || t.IsNil() {
		return false
	}
	c := reflect.ValueOf(b.client)
	if !c.Type().AssignableTo(t.Elem().Type()) {
		return false
	}
	t.Elem().Set(c)
	return true
}

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
		if err := c.ensureGroup(ctx, "new consumer", s); err != nil {
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
// client if New made it. Idempotent.
func (b *Broker) Close() error {
	if first, _ := b.members.Close(); !first {
		return nil
	}
	if b.owned {
		if err := b.client.Close(); err != nil {
			return fmt.Errorf("redis: close %s: %w", b.addr, err)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
