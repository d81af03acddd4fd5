package integration

import (
	"context"
	"net/url"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	_ "github.com/courier-go/courier/redisstreams"
)

func init() {
	targets = append(targets, target{name: "redis", open: openRedis, unsettled: redisUnsettled})
}

// redisBroker is a Redis broker whose stream keys start with prefix, and a client of the
// test's own to look at them and delete them afterwards.
type redisBroker struct {
	courier.Broker
	prefix string
	admin  *redis.Client
}

// openRedis opens COURIER_REDIS_URL (else skips, or fails under COURIER_REQUIRE_BROKERS=1)
// with a key prefix of the test's own, and a claim pass every 100ms so that messages a closed
// consumer handed back are taken over quickly.
func openRedis(t testing.TB) courier.Broker {
	t.Helper()
	raw := testenv.Broker(t, testenv.RedisURL, nil)
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("%s=%q: %v", testenv.RedisURL, raw, err)
	}
	admin := redis.NewClient(opts)
	t.Cleanup(func() { _ = admin.Close() })
	prefix := name("t") + ":"
	t.Cleanup(func() { deleteKeys(t, admin, prefix) }) // runs after the broker closed
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("prefix", prefix)
	q.Set("claim_interval", "100ms")
	u.RawQuery = q.Encode()
	return &redisBroker{Broker: openURL(t, u.String()), prefix: prefix, admin: admin}
}

func redisUnsettled(t testing.TB, b courier.Broker, topic, group string) (int64, bool) {
	rb, mine := b.(*redisBroker)
	if !mine {
		return 0, false
	}
	p, err := rb.admin.XPending(context.Background(), rb.prefix+topic, group).Result()
	if err != nil {
		t.Fatalf("XPENDING %s%s %s: %v", rb.prefix, topic, group, err)
	}
	return p.Count, true
}

func deleteKeys(t testing.TB, c *redis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan %s*: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("deleting the test's streams: %v", err)
		}
	}
}
