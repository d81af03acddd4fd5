package redisstreams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// stream is one topic a consumer reads.
type stream struct {
	topic string
	key   string
}

// consumer is one member of a Redis consumer group, on one or more streams.
type consumer struct {
	b       *Broker
	cfg     courier.ConsumerConfig
	name    string // this consumer's name in the group; unique
	streams []*stream
	byKey   map[string]int // stream key -> index in streams
	log     *slog.Logger

	guard driver.Guard
}

func newConsumer(b *Broker, cfg courier.ConsumerConfig, name string) *consumer {
	c := &consumer{
		b: b, cfg: cfg, name: name,
		byKey: make(map[string]int, len(cfg.Topics)),
		log:   cfg.Logger.With("broker", "redis", "addr", b.addr, "group", cfg.Group, "consumer", name),
	}
	c.guard.Name = fmt.Sprintf("redis: group %q", cfg.Group)
	for i, t := range cfg.Topics {
		s := &stream{topic: t, key: b.streamKey(t)}
		c.streams = append(c.streams, s)
		c.byKey[s.key] = i
	}
	return c
}

// ensureGroup creates the group on s (and s) if missing; op names the operation for errors.
func (c *consumer) ensureGroup(ctx context.Context, op string, s *stream) error {
	start := "0"
	if c.cfg.StartFrom == courier.StartNewest {
		start = "$"
	}
	err := c.b.client.XGroupCreateMkStream(ctx, s.key, c.cfg.Group, start).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return c.errorf(op, s, "create group: %w", err)
	}
	return nil
}

// errorf wraps err with the broker, operation, topic and group it concerns.
func (c *consumer) errorf(op string, s *stream, format string, args ...any) error {
	return fmt.Errorf("redis: %s %s: group %q: %w", op, s.topic, c.cfg.Group, fmt.Errorf(format, args...))
}

// Consume delivers the group's messages to h until ctx ends or Close is called, then returns
// nil. It returns an error when it cannot go on: its client was closed, or a stream key
// holds something other than a stream.
func (c *consumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
	ctx, finish, runs, err := c.guard.Start(ctx, h)
	if err != nil {
		return err
	}
	defer finish(&err)
	return newRun(ctx, c, h).consume(ctx, runs == 1)
}

// Close stops Consume and waits for it to drain (bounded by DrainTimeout), to acknowledge what
// was handled and to hand back what was not (each bounded by 5s when Redis does not answer;
// what is not done is delivered again after ClaimIdle). Idempotent.
func (c *consumer) Close() error {
	if !c.guard.Close() {
		return nil
	}
	c.b.members.Remove(c)
	return nil
}

// isNoGroup reports an error for a group or stream that does not exist (any more): the
// stream was deleted, or Redis restarted without persistence.
func isNoGroup(err error) bool {
	var rerr redis.Error // from a script, the code follows the script's own error text on old servers
	return errors.As(err, &rerr) && strings.Contains(rerr.Error(), "NOGROUP")
}
