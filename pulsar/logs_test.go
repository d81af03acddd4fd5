package pulsar_test

import (
	"context"
	"errors"
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
