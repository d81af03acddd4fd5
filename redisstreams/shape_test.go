package redisstreams_test

import (
	"errors"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/redisstreams"
	"github.com/redis/go-redis/v9"
)

// A client the caller passes in stays open after the Broker closes, and As reaches it.
func TestNewWithClient(t *testing.T) {
	url := redisURL(t)
	admin := adminClient(t, url)
	b, err := redisstreams.NewWithClient(admin, redisstreams.Config{Prefix: testPrefix(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.RoundTrip(t, b, "with-client", "round-trip")
	var c *redis.Client
	if !b.As(&c) || c != admin {
		t.Errorf("As(*redis.Client) = %v, want the client given to NewWithClient", c)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Ping(t.Context()).Err(); err != nil {
		t.Errorf("client closed by Broker.Close: %v", err)
	}
	if _, err := redisstreams.NewWithClient(nil, redisstreams.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("NewWithClient(nil) = %v, want ErrInvalidConfig", err)
	}
	if _, err := redisstreams.New(t.Context(), redisstreams.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("New without a URL = %v, want ErrInvalidConfig", err)
	}
}

// As hands out the broker's own client as the interfaces and the concrete type it has, and
// refuses other targets.
func TestAs(t *testing.T) {
	u, err := url.Parse(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := redisstreams.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redisstreams.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var uc redis.UniversalClient
	var cmd redis.Cmdable
	var c *redis.Client
	if !b.As(&uc) || !b.As(&cmd) || !b.As(&c) {
		t.Fatalf("As: UniversalClient %v, Cmdable %v, *Client %v: want all three set", uc, cmd, c)
	}
	if uc != c || cmd != c {
		t.Errorf("As set different clients: %p, %p, %p", uc, cmd, c)
	}
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Errorf("Ping through As: %v", err)
	}
	var cluster *redis.ClusterClient
	var s string
	if b.As(&cluster) || b.As(&s) || b.As(nil) || b.As(c) {
		t.Error("As reported true for a target of another type")
	}
	if cluster != nil || s != "" {
		t.Error("As changed a target it refused")
	}
}

// The broker's Logger, with the attributes the caller gave it, receives the consumer's logs:
// the engine's retry warning and the adapter's own.
func TestBrokerLogger(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	logs := brokertest.NewLogBuffer()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("app", "logger-test")
	cfg, err := redisstreams.ParseURL(mustParse(t, url))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prefix, cfg.Logger = prefix, logger
	b, err := redisstreams.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "g", Topics: []string{"logged"},
		Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 2}})
	if err != nil {
		t.Fatal(err)
	}
	// A courier entry whose timestamp cannot be read: the consumer's default OnExhausted
	// logs and drops it.
	var client redis.UniversalClient
	if !b.As(&client) {
		t.Fatal("As(*redis.UniversalClient) = false")
	}
	if err := client.XAdd(t.Context(), &redis.XAddArgs{Stream: prefix + "logged", Values: []string{"id", "x", "ts", "yesterday"}}).Err(); err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), courier.Message{Topic: "logged", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	brokertest.ConsumeFailingOnce(t, c, 10*time.Second)
	logs.WaitLine(t, 5*time.Second, `msg="courier: handler failed; retrying after backoff"`, "app=logger-test", "broker=redis", "group=g")
	logs.WaitLine(t, 5*time.Second, `msg="courier: message dropped: its last attempt failed"`, "app=logger-test", "group=g", "cannot be decoded")
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestErrorForms(t *testing.T) {
	b, _, _ := testBroker(t, "max_message_bytes=1024")
	brokertest.CheckErrorForms(t, b, "redis", "orders", 1024)
}
