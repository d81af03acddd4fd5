package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/dlq"
	"github.com/courier-go/courier/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestRun(t *testing.T) {
	for _, c := range []struct {
		args    []string
		wantErr string
		wantOut string
	}{
		{nil, "missing -url and -topic", ""},
		{[]string{"-url", "memory://"}, "missing -topic", ""},
		{[]string{"-url", "memory://", "-topic", "t", "-limit", "-1"}, "negative Limit", ""},
		{[]string{"-url", "nope://x", "-topic", "t"}, `no broker registered for scheme "nope"`, ""},
		{[]string{"-url", "memory://", "-topic", "t", "extra"}, "unexpected arguments", ""},
		{[]string{"-bogus"}, "flag provided but not defined", ""},
		// A fresh memory broker has nothing to replay: the run ends on the idle timeout.
		{[]string{"-url", "memory://", "-topic", "t", "-idle", "20ms", "-only-topic", "a"}, "", "replayed 0, kept 0 (filtered out), invalid 0 (no original topic) from t"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: got %v, want an error containing %q", c.args, err, c.wantErr)
		case !strings.Contains(out.String(), c.wantOut):
			t.Errorf("%q: output %q, want %q", c.args, out.String(), c.wantOut)
		}
	}
}

// TestReplayOnRedis dead-letters a message on Redis and moves it back with the command.
func TestReplayOnRedis(t *testing.T) {
	raw := testenv.Broker(t, testenv.RedisURL, nil)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	prefix := fmt.Sprintf("courier-dlq-test-%08x:", rand.Uint32())
	q.Set("prefix", prefix)
	u.RawQuery = q.Encode()
	t.Cleanup(func() { deleteKeys(t, raw, prefix) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := courier.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	letters := []courier.Message{
		{Topic: "orders.g.dlq", Value: []byte("1"), Headers: map[string]string{dlq.HeaderOriginalTopic: "orders", dlq.HeaderError: "timeout talking to db"}},
		{Topic: "orders.g.dlq", Value: []byte("2"), Headers: map[string]string{dlq.HeaderOriginalTopic: "orders", dlq.HeaderError: "bad json"}},
	}
	if err := p.SendBatch(ctx, letters); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"-url", u.String(), "-topic", "orders.g.dlq", "-error-contains", "timeout", "-idle", "1s"}
	if err := run(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if want := "replayed 1, kept 1 (filtered out), invalid 0"; !strings.Contains(out.String(), want) {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "check", Topics: []string{"orders"}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan courier.Message, 1)
	go c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error { got <- m; return nil }))
	defer c.Close()
	select {
	case m := <-got:
		if string(m.Value) != "1" || m.Headers[dlq.HeaderReplayCount] != "1" {
			t.Fatalf("replayed %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("the replayed message did not reach its topic")
	}
}

// deleteKeys removes the streams the test made under prefix.
func deleteKeys(t *testing.T, raw, prefix string) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err == nil && len(keys) > 0 {
		err = c.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Errorf("deleting the test's streams: %v", err)
	}
}
