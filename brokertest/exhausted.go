package brokertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// attempts records, for the MaxAttempts cases, every handler call and every OnExhausted call.
type attempts struct {
	mu     sync.Mutex
	seen   []string      // "id@attempt" of each handler call
	gaveUp []string      // "id@attempts first@firstAttempt" of each OnExhausted call
	failed chan struct{} // signalled when the handler fails
	gave   chan struct{} // signalled when OnExhausted is called
}

func newAttempts() *attempts {
	return &attempts{failed: make(chan struct{}, 1), gave: make(chan struct{}, 1)}
}

// signal wakes whoever waits on ch, if nobody was woken yet.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// handler fails every message whose ID is "failing".
func (a *attempts) handler(ctx context.Context, m courier.Message) error {
	a.mu.Lock()
	a.seen = append(a.seen, fmt.Sprintf("%s@%d", m.ID, m.Attempt))
	a.mu.Unlock()
	if m.ID != "failing" {
		return nil
	}
	signal(a.failed)
	return errors.New("always fails")
}

func (a *attempts) exhausted(_ context.Context, m courier.Message, err error) error {
	var ee *courier.ExhaustedError
	if !errors.As(err, &ee) {
		return fmt.Errorf("OnExhausted got %T, want *courier.ExhaustedError", err)
	}
	a.mu.Lock()
	a.gaveUp = append(a.gaveUp, fmt.Sprintf("%s@%d first@%d", m.ID, ee.Attempts, ee.FirstAttempt))
	a.mu.Unlock()
	signal(a.gave)
	return nil
}

// collector returns a collector that runs a's handler first.
func (a *attempts) collector() *collector {
	col := newCollector()
	col.handle = a.handler
	return col
}

// check fails the test unless the handler calls and the OnExhausted calls are as wanted.
func (a *attempts) check(t *testing.T, seen, gaveUp string, why string) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if fmt.Sprint(a.seen) != seen {
		t.Errorf("handled %v, want %s: %s", a.seen, seen, why)
	}
	if fmt.Sprint(a.gaveUp) != gaveUp {
		t.Errorf("OnExhausted got %v, want %s", a.gaveUp, gaveUp)
	}
}

// maxAttemptsConfig is the cases' consumer config: at most 3 attempts, then a.exhausted.
func (e *env) maxAttemptsConfig(group, topic string, a *attempts) courier.ConsumerConfig {
	cfg := e.config(group, 4, topic)
	cfg.MaxAttempts, cfg.OnExhausted = 3, a.exhausted
	return cfg
}

// testMaxAttempts: a failing message is handled MaxAttempts times, then goes to OnExhausted,
// whose nil acknowledges it (a later consumer of the group does not get it); the next
// message of its key waits for all of that.
func testMaxAttempts(e *env) {
	t := e.t
	topic, group := e.topic(), e.group()
	a := newAttempts()
	cfg := e.maxAttemptsConfig(group, topic, a)
	col := a.collector()
	r := e.consume(context.Background(), e.consumer(cfg), col)
	p := e.producer()
	e.send(p, courier.Message{ID: "failing", Topic: topic, Key: "k", Value: []byte("1")},
		courier.Message{ID: "next", Topic: topic, Key: "k", Value: []byte("2")})
	waitUntil(t, e.caps.Timeout, "the next message of the key", col.changed, func() bool { return len(col.get("next")) > 0 })
	e.stop(r)

	later := a.collector()
	e.consume(context.Background(), e.consumer(cfg), later)
	e.send(p, courier.Message{ID: "last", Topic: topic, Key: "k", Value: []byte("3")})
	waitUntil(t, e.caps.Timeout, "a message sent after", later.changed, func() bool { return len(later.get("last")) > 0 })
	a.check(t, "[failing@1 failing@2 failing@3 next@1 last@1]", "[failing@3 first@1]",
		"three attempts, the next message of the key after them, and the exhausted message acknowledged")
}

// testStopConsumer: an OnExhausted that stops the consumer (courier.StopConsumer) ends
// Consume with an error wrapping courier.ErrStop, and leaves the message unacknowledged: the
// group's next consumer gets it.
func testStopConsumer(e *env) {
	t := e.t
	topic, group := e.topic(), e.group()
	a := newAttempts()
	cfg := e.config(group, 4, topic)
	cfg.MaxAttempts, cfg.OnExhausted = 1, courier.StopConsumer
	r := e.consume(context.Background(), e.consumer(cfg), courier.HandlerFunc(a.handler))
	e.send(e.producer(), courier.Message{ID: "failing", Topic: topic, Value: []byte("1")})
	err := r.wait(e.caps.Timeout)
	if !errors.Is(err, courier.ErrStop) {
		t.Fatalf("Consume returned %v, want an error wrapping courier.ErrStop", err)
	}
	t.Logf("Consume returned: %v", err)
	col := newCollector()
	e.consume(context.Background(), e.consumer(e.config(group, 1, topic)), col)
	waitUntil(t, e.caps.Timeout, "the message the stopped consumer left", col.changed, func() bool { return len(col.get("failing")) > 0 })
}

// testMaxAttemptsAcrossConsumers: a message one consumer hands back (its Close, in the middle
// of the backoff) comes to the group's next consumer with the broker's count, and
// MaxAttempts counts on from there.
func testMaxAttemptsAcrossConsumers(e *env) {
	t := e.t
	if !e.caps.RedeliveryCount {
		t.Skip("capability RedeliveryCount not declared: Attempt restarts on another consumer of the group after a message is handed back, so MaxAttempts bounds the attempts of one consumer")
	}
	topic, group := e.topic(), e.group()
	a := newAttempts()
	cfg := e.maxAttemptsConfig(group, topic, a)
	slow := cfg
	slow.Backoff = courier.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}
	first := e.consume(context.Background(), e.consumer(slow), courier.HandlerFunc(a.handler))
	e.send(e.producer(), courier.Message{ID: "failing", Topic: topic, Value: []byte("1")})
	select {
	case <-a.failed:
	case <-time.After(e.caps.Timeout):
		t.Fatal("the first consumer got no message")
	}
	e.stop(first) // hands the message back in the middle of its hour-long backoff
	e.consume(context.Background(), e.consumer(cfg), courier.HandlerFunc(a.handler))
	select {
	case <-a.gave:
	case <-time.After(e.caps.Timeout):
		t.Fatal("OnExhausted was not called")
	}
	a.check(t, "[failing@1 failing@2 failing@3]", "[failing@3 first@2]", "the attempts counted across the two consumers")
}
