package redisstreams_test

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/courier-go/courier/internal/testenv"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(killHelperEnv); spec != "" {
		os.Exit(killHelper(spec)) // this process is the consumer TestKilledConsumerEntriesTakenOver kills
	}
	os.Exit(testenv.Main(m))
}

// redisURL returns the URL of the Redis the tests use: COURIER_REDIS_URL, else a container
// started once for the whole test binary, else the test is skipped (failed under
// COURIER_REQUIRE_BROKERS=1).
func redisURL(t testing.TB) string {
	t.Helper()
	return testenv.Broker(t, testenv.RedisURL, testenv.Container("redis"))
}

// adminClient returns a client for the test's own checks and cleanup.
func adminClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("COURIER_REDIS_URL %q: %v", url, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// deleteKeys removes every key that starts with prefix: the streams a test made.
func deleteKeys(t testing.TB, c *redis.Client, prefix string) {
	t.Helper()
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
			t.Errorf("delete test streams: %v", err)
		}
	}
}

type netListenConfig struct{}

// listen takes a spare local port.
func (netListenConfig) listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
