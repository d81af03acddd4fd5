// Command dlq shows retries, dead letters and replay: a flaky message succeeds after retries,
// a poison message is dead-lettered at once, and once the bug is "fixed" it is replayed and
// handled.
//
//	go run ./examples/dlq [-url memory://]   (or -url redis://127.0.0.1:6379/0)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/dlq"
	_ "github.com/courier-go/courier/memory"
	_ "github.com/courier-go/courier/redisstreams"
)

func main() {
	url := flag.String("url", "memory://", "broker URL")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(log.Writer(), &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *url); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url string) error {
	b, err := courier.Open(ctx, url)
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := b.NewProducer(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	topic := fmt.Sprintf("orders-%d", time.Now().UnixNano()) // fresh names on a real broker
	for _, v := range []string{"ok", "flaky", "poison"} {
		if err := p.Send(ctx, courier.Message{Topic: topic, Key: v, Value: []byte(v)}); err != nil {
			return err
		}
	}

	var fixed atomic.Bool
	var mu sync.Mutex
	flakyTries := 0
	handled := make(chan string, 10)
	handler := courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		switch v := string(m.Value); {
		case v == "flaky":
			mu.Lock()
			flakyTries++
			n := flakyTries
			mu.Unlock()
			if n < 3 {
				return fmt.Errorf("database busy (try %d)", n)
			}
		case v == "poison" && !fixed.Load():
			return courier.Permanent(errors.New("cannot parse order"))
		}
		fmt.Printf("handled %-6s attempt %d replays %s\n", m.Value, m.Attempt, orZero(m.Headers[dlq.HeaderReplayCount]))
		handled <- string(m.Value)
		return nil
	})

	const group = "billing"
	deadLetter, err := dlq.DeadLetter(p, dlq.DeadLetterConfig{Group: group})
	if err != nil {
		return err
	}
	dead := make(chan courier.Message, 10)
	watch := courier.HandlerFunc(func(_ context.Context, m courier.Message) error { dead <- m; return nil })

	// The consumer retries a failed message in its place (later messages of its key wait),
	// five times at most, then hands it to the dead-letter hook.
	stopMain, err := consume(ctx, b, courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: 3,
		MaxAttempts: 5, Backoff: courier.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Jitter: 0.2},
		OnExhausted: deadLetter}, handler)
	if err != nil {
		return err
	}
	stopWatch, err := consume(ctx, b, courier.ConsumerConfig{Group: "ops", Topics: []string{dlq.DefaultTopic(topic, group)}}, watch)
	if err != nil {
		return err
	}
	for range 2 {
		if err := wait(ctx, handled); err != nil {
			return err
		}
	}
	letter, err := waitMsg(ctx, dead)
	if err != nil {
		return err
	}
	info, err := dlq.ParseInfo(letter)
	if err != nil {
		return err
	}
	fmt.Printf("dead letter %s: reason=%s attempts=%d error=%q\n", letter.Value, info.Reason, info.Attempts, info.Error)
	if err := stopWatch(); err != nil {
		return err
	}

	fixed.Store(true) // a new release fixes the bug: move the dead letter back
	res, err := dlq.Replay(ctx, b, dlq.DefaultTopic(topic, group), dlq.ReplayOptions{IdleTimeout: time.Second})
	if err != nil {
		return err
	}
	fmt.Printf("replayed %d\n", res.Replayed)
	if err := wait(ctx, handled); err != nil {
		return err
	}
	return stopMain()
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return strings.TrimSpace(s)
}

// consume runs a consumer in the background; the returned func stops it.
func consume(ctx context.Context, b courier.Broker, cfg courier.ConsumerConfig, h courier.MessageHandler) (func() error, error) {
	c, err := b.NewConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, h) }()
	return func() error {
		if err := c.Close(); err != nil {
			return err
		}
		return <-done
	}, nil
}

func wait(ctx context.Context, ch <-chan string) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a message: %w", ctx.Err())
	}
}

func waitMsg(ctx context.Context, ch <-chan courier.Message) (courier.Message, error) {
	select {
	case m := <-ch:
		return m, nil
	case <-ctx.Done():
		return courier.Message{}, fmt.Errorf("waiting for the dead letter: %w", ctx.Err())
	}
}
