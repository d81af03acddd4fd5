package brokertest

// Checks every adapter runs alike outside Run, on a broker it makes with settings of its own
// (a Logger that records, a small MaxMessageBytes, a client the test owns).

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

// LogBuffer is a slog destination a test reads: every Write wakes the waiters. Adapters
// give it to a broker's Config.Logger to check that their logs arrive there.
type LogBuffer struct {
	mu    sync.Mutex
	text  strings.Builder
	wrote chan struct{}
}

// NewLogBuffer returns an empty LogBuffer.
func NewLogBuffer() *LogBuffer { return &LogBuffer{wrote: make(chan struct{}, 1)} }

// Write records p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.text.Write(p)
	l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// String returns what was written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// WaitLine waits until a line holds every one of parts, and returns it; it fails the test
// after timeout, showing the logs.
func (l *LogBuffer) WaitLine(t *testing.T, timeout time.Duration, parts ...string) string {
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

// ConsumeFailingOnce runs c until its handler has seen a message fail once and succeed on
// its redelivery: the engine then has logged its retry warning.
func ConsumeFailingOnce(t *testing.T, c courier.Consumer, timeout time.Duration) {
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

// CheckErrorForms checks that b's errors read "<broker>: <operation> <topic>: ..." and wrap
// the sentinel a caller branches on. b's MaxMessageBytes must be limit.
func CheckErrorForms(t *testing.T, b courier.Broker, broker, topic string, limit int) {
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

// RoundTrip sends one message to topic through b and consumes it in a new group.
func RoundTrip(t *testing.T, b courier.Broker, topic, group string) {
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
