package pulsar_test

// The helpers of this file are the same in every adapter (only the package line differs): they
// check what each adapter promises alike (its Logger, its error form) and belong in brokertest.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// logBuffer is a slog destination a test reads: every Write wakes the waiters.
type logBuffer struct {
	mu    sync.Mutex
	text  strings.Builder
	wrote chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{wrote: make(chan struct{}, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.text.Write(p)
	l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// waitLine waits until a line holds every one of parts, and returns it.
func (l *logBuffer) waitLine(t *testing.T, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		text := l.text.String()
		l.mu.Unlock()
		for line := range strings.Lines(text) {
			if containsAll(line, parts) {
				return line
			}
		}
		select {
		case <-l.wrote:
		case <-deadline:
			t.Fatalf("no log line with %q after %v; the logs:\n%s", parts, timeout, text)
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// consumeFailingOnce runs c until its handler has seen a message fail once and succeed on
// its redelivery: the engine then has logged its retry warning.
func consumeFailingOnce(t *testing.T, c courier.Consumer, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	err := c.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		if m.Attempt == 1 {
			return errors.New("first attempt fails")
		}
		cancel()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != context.Canceled {
		t.Fatalf("no redelivery after a failed attempt within %v", timeout)
	}
}

// checkErrorForms checks that b's errors read "<broker>: <operation> <topic>: ..." and wrap
// the sentinel a caller branches on. b's MaxMessageBytes must be limit.
func checkErrorForms(t *testing.T, b courier.Broker, broker, topic string, limit int) {
	t.Helper()
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sendPrefix := broker + ": send " + topic + ": "
	for _, tc := range []struct {
		name string
		msg  courier.Message
		want error
	}{
		{"too large", courier.Message{Topic: topic, Value: make([]byte, limit+1)}, courier.ErrMessageTooLarge},
		{"reserved header", courier.Message{Topic: topic, Headers: map[string]string{courier.ReservedHeaderPrefix + "x": "v"}}, courier.ErrInvalidMessage},
	} {
		err := p.Send(t.Context(), tc.msg)
		if !errors.Is(err, tc.want) || !strings.HasPrefix(fmt.Sprint(err), sendPrefix) {
			t.Errorf("Send of a message %s = %v, want %v and the prefix %q", tc.name, err, tc.want, sendPrefix)
		}
	}
	_, err = b.NewConsumer(t.Context(), courier.ConsumerConfig{Topics: []string{topic}})
	if prefix := broker + ": new consumer"; !errors.Is(err, courier.ErrInvalidConfig) || !strings.HasPrefix(fmt.Sprint(err), prefix) {
		t.Errorf("NewConsumer without a group = %v, want ErrInvalidConfig and the prefix %q", err, prefix)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	err = p.Send(t.Context(), courier.Message{Topic: topic, Value: []byte("x")})
	if !errors.Is(err, courier.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

// roundTrip sends one message to topic through b and consumes it in a new group.
func roundTrip(t *testing.T, b courier.Broker, topic, group string) {
	t.Helper()
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sent := courier.Message{Topic: topic, Key: "k", Value: []byte("round trip")}
	if err := p.Send(t.Context(), sent); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got courier.Message
	err = c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		got = m
		cancel()
		return nil
	}))
	if err != nil || got.Key != sent.Key || string(got.Value) != string(sent.Value) {
		t.Fatalf("Consume = %v, got %+v; want the message sent", err, got)
	}
}
