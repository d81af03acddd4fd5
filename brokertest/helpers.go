package brokertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

func (e *env) producer() courier.Producer {
	e.t.Helper()
	p, err := e.b.NewProducer(context.Background())
	if err != nil {
		e.t.Fatalf("NewProducer: %v", err)
	}
	e.t.Cleanup(func() { _ = p.Close() })
	return p
}

func (e *env) consumer(cfg courier.ConsumerConfig) courier.Consumer {
	e.t.Helper()
	c, err := e.b.NewConsumer(context.Background(), cfg)
	if err != nil {
		e.t.Fatalf("NewConsumer(group %q, topics %v): %v", cfg.Group, cfg.Topics, err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (e *env) send(p courier.Producer, msgs ...courier.Message) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e.caps.Timeout)
	defer cancel()
	for _, m := range msgs {
		if err := p.Send(ctx, m); err != nil {
			e.t.Fatalf("Send to %q: %v", m.Topic, err)
		}
	}
}

// running is a Consume call in the background.
type running struct {
	c    courier.Consumer
	done chan error
}

// consume runs c.Consume(ctx, h) in the background. Its result is checked when the case ends.
func (e *env) consume(ctx context.Context, c courier.Consumer, h courier.MessageHandler) *running {
	r := &running{c: c, done: make(chan error, 1)}
	go func() { r.done <- c.Consume(ctx, h) }()
	e.t.Cleanup(func() {
		_ = c.Close()
		if err := r.wait(e.caps.Timeout); err != nil {
			e.t.Errorf("Consume: %v", err)
		}
	})
	return r
}

// wait waits for Consume to return, and returns its error.
func (r *running) wait(timeout time.Duration) error {
	select {
	case err, ok := <-r.done:
		if !ok {
			return nil // already collected
		}
		close(r.done)
		return err
	case <-time.After(timeout):
		return fmt.Errorf("consume did not return within %v", timeout)
	}
}

// stop closes the consumer and checks that Consume returns nil within the timeout.
func (e *env) stop(r *running) {
	e.t.Helper()
	if err := r.c.Close(); err != nil {
		e.t.Errorf("consumer Close: %v", err)
	}
	if err := r.wait(e.caps.Timeout); err != nil {
		e.t.Fatalf("after Close: %v", err)
	}
}

// collector records deliveries by message ID.
type collector struct {
	mu      sync.Mutex
	byID    map[string][]courier.Message // every delivery, duplicates included
	order   []courier.Message
	changed chan struct{}
	handle  func(ctx context.Context, m courier.Message) error // optional, runs first
}

func newCollector() *collector {
	return &collector{byID: map[string][]courier.Message{}, changed: make(chan struct{}, 1)}
}

func (c *collector) HandleMessage(ctx context.Context, m courier.Message) error {
	if c.handle != nil {
		if err := c.handle(ctx, m); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.byID[m.ID] = append(c.byID[m.ID], m)
	c.order = append(c.order, m)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

// unique returns how many distinct IDs were delivered.
func (c *collector) unique() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

// duplicates returns how many deliveries repeated an ID already delivered.
func (c *collector) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.order) - len(c.byID)
}

func (c *collector) get(id string) []courier.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.byID[id])
}

func (c *collector) all() []courier.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

// waitUnique waits until n distinct IDs were delivered.
func (c *collector) waitUnique(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("%d distinct messages", n), c.changed, func() bool { return c.unique() >= n })
}

// waitUntil waits for cond, re-checking whenever changed fires (and every 50ms, for
// conditions that depend on more than one source), failing the test at the deadline.
func waitUntil(t *testing.T, timeout time.Duration, what string, changed <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// expectErr fails unless err wraps target.
func expectErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, target)
		return
	}
	if !errors.Is(err, target) {
		t.Errorf("%s: error %q does not wrap %v", what, err, target)
		return
	}
	t.Logf("%s: %v", what, err)
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%06d", prefix, i)
	}
	return out
}
