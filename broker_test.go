package courier_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/memory"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	b, err := courier.Open(ctx, "memory://")
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	for _, c := range []struct{ url, want string }{
		{"nosuch://x", `no broker registered for scheme "nosuch" (registered: memory`},
		{"localhost:6379", "registered"},
		{"://bad", "malformed broker URL (registered schemes: memory"},
		{"no-scheme-at-all", "has no scheme; registered schemes: memory"},
		{"memory://host", "has a host or path"},
		{"memory://?max_messages_per_topic=x", "not a whole number"},
		{"memory://?typo=1", `unknown URL parameter "typo"`},
	} {
		_, err := courier.Open(ctx, c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, courier.ErrInvalidConfig) {
			t.Errorf("Open(%q) = %v, want an ErrInvalidConfig saying %q", c.url, err, c.want)
		}
	}
}

func TestOpenRedactsPassword(t *testing.T) {
	for _, u := range []string{"user:secret@host", "redis://user:secret@host:port:bad/", "nosuch://u:secret@h/"} {
		_, err := courier.Open(context.Background(), u)
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): error %v leaks the password or is missing", u, err)
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("registering memory twice did not panic")
		}
	}()
	courier.Register("memory", func(context.Context, *url.URL) (courier.Broker, error) { return nil, nil })
}

func TestConsumerConfigValidate(t *testing.T) {
	ok := courier.ConsumerConfig{Group: "g", Topics: []string{"a", "b"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, c := range []struct {
		cfg  courier.ConsumerConfig
		want string
	}{
		{courier.ConsumerConfig{Topics: []string{"a"}}, "empty Group"},
		{courier.ConsumerConfig{Group: "g"}, "no Topics"},
		{courier.ConsumerConfig{Group: "g", Topics: []string{"a", ""}}, "Topics[1] is empty"},
		{courier.ConsumerConfig{Group: "g", Topics: []string{"a", "a"}}, `topic "a" is listed twice`},
		{courier.ConsumerConfig{Group: "g", Topics: []string{"a"}, Concurrency: -2}, "negative Concurrency"},
		{courier.ConsumerConfig{Group: "g", Topics: []string{"a"}, StartFrom: 7}, "unknown StartFrom"},
		{courier.ConsumerConfig{Group: "g", Topics: []string{"a"}, DrainTimeout: -1}, "negative DrainTimeout"},
		{courier.ConsumerConfig{Group: "g", Topics: []string{"a"}, MaxAttempts: -1}, "negative MaxAttempts -1"},
		{courier.ConsumerConfig{Group: "g", Topics: []string{"a"}, Backoff: courier.Backoff{Initial: time.Second}}, "Max"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, courier.ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want an ErrInvalidConfig saying %q", c.cfg, err, c.want)
		}
	}
	d := ok.WithDefaults()
	if d.Concurrency != 1 || d.DrainTimeout != courier.DefaultDrainTimeout || d.Backoff != courier.DefaultBackoff || d.Logger == nil ||
		d.OnExhausted == nil || d.MaxAttempts != 0 {
		t.Errorf("WithDefaults = %+v", d)
	}
}

func TestBackoff(t *testing.T) {
	b := courier.Backoff{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond, Multiplier: 2}
	for attempt, want := range map[int]time.Duration{0: 10, 1: 10, 2: 20, 3: 40, 4: 80, 5: 80, 1000: 80} {
		if got := b.Delay(attempt); got != want*time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", attempt, got, want*time.Millisecond)
		}
	}
	j := courier.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 1, Jitter: 0.5}
	for range 1000 {
		if d := j.Delay(1); d < 50*time.Millisecond || d > 150*time.Millisecond {
			t.Fatalf("jittered delay %v outside 100ms±50%%", d)
		}
	}
	if d := (courier.Backoff{}).Delay(1); d < 80*time.Millisecond || d > 120*time.Millisecond {
		t.Errorf("zero Backoff delay %v, want DefaultBackoff's 100ms±20%%", d)
	}
	for _, bad := range []courier.Backoff{
		{Initial: -1, Max: 1, Multiplier: 1},
		{Initial: 2, Max: 1, Multiplier: 1},
		{Initial: 1, Max: 1, Multiplier: 0.5},
		{Initial: 1, Max: 1, Multiplier: 1, Jitter: 2},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}

func TestChainOrder(t *testing.T) {
	var trace []string
	mw := func(name string) courier.Middleware {
		return func(next courier.MessageHandler) courier.MessageHandler {
			return courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
				trace = append(trace, name)
				return next.HandleMessage(ctx, m)
			})
		}
	}
	h := courier.Chain(courier.HandlerFunc(func(context.Context, courier.Message) error {
		trace = append(trace, "handler")
		return nil
	}), mw("outer"), mw("inner"))
	if err := h.HandleMessage(context.Background(), courier.Message{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trace, ","); got != "outer,inner,handler" {
		t.Fatalf("order %s", got)
	}
}
