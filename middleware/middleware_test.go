package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware"
)

var errBoom = errors.New("boom")

func TestRecover(t *testing.T) {
	var logs bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&logs, nil))
	h := courier.Chain(courier.HandlerFunc(func(context.Context, courier.Message) error {
		panic(errBoom)
	}), middleware.Recover(lg))
	err := h.HandleMessage(t.Context(), courier.Message{ID: "m1", Topic: "orders", Value: []byte("secret-payload")})
	var pe *middleware.PanicError
	if !errors.As(err, &pe) || !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want a *PanicError wrapping errBoom", err)
	}
	if !bytes.Contains(pe.Stack, []byte("middleware_test.TestRecover")) {
		t.Errorf("stack does not show the panicking function:\n%s", pe.Stack)
	}
	out := logs.String()
	if !strings.Contains(out, "id=m1") || !strings.Contains(out, "topic=orders") {
		t.Errorf("log misses the message's ID or topic: %s", out)
	}
	if strings.Contains(out, "secret-payload") {
		t.Errorf("log holds the payload: %s", out)
	}

	// A panic with a value that is not an error, and a handler that does not panic.
	h = middleware.Recover(slog.New(slog.DiscardHandler))(courier.HandlerFunc(func(context.Context, courier.Message) error {
		panic("plain")
	}))
	if err := h.HandleMessage(t.Context(), courier.Message{}); !errors.As(err, &pe) || pe.Value != "plain" || errors.Unwrap(err) != nil {
		t.Fatalf("err = %v, want a *PanicError with the value \"plain\"", err)
	}
	h = middleware.Recover(nil)(courier.HandlerFunc(func(context.Context, courier.Message) error { return errBoom }))
	if err := h.HandleMessage(t.Context(), courier.Message{}); err != errBoom {
		t.Fatalf("err = %v, want the handler's error unchanged", err)
	}
}

func mustTimeout(t testing.TB, d time.Duration) courier.Middleware {
	t.Helper()
	m, err := middleware.Timeout(d)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTimeoutConfig(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := middleware.Timeout(d); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), d.String()) {
			t.Errorf("Timeout(%v) = %v, want ErrInvalidConfig naming the value", d, err)
		}
	}
}

func TestTimeoutDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := mustTimeout(t, time.Second)(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			start := time.Now()
			if dl, ok := ctx.Deadline(); !ok || !dl.Equal(start.Add(time.Second)) {
				t.Errorf("Deadline() = %v, %v; want now+1s", dl, ok)
			}
			if ctx.Err() != nil {
				t.Errorf("Err() before the deadline = %v", ctx.Err())
			}
			<-ctx.Done()
			if got := time.Since(start); got != time.Second {
				t.Errorf("Done after %v, want 1s", got)
			}
			return ctx.Err()
		}))
		if err := h.HandleMessage(t.Context(), courier.Message{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		// The recycled context starts afresh for the next message.
		if err := h.HandleMessage(t.Context(), courier.Message{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second message: err = %v, want DeadlineExceeded", err)
		}
	})
}

func TestTimeoutErrWithoutDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := mustTimeout(t, time.Second)(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			time.Sleep(999 * time.Millisecond)
			if err := ctx.Err(); err != nil {
				t.Errorf("Err() 1ms before the deadline = %v", err)
			}
			time.Sleep(time.Millisecond)
			err := ctx.Err()
			select {
			case <-ctx.Done():
			default:
				t.Error("Err() reported the deadline but Done() is open")
			}
			return err
		}))
		if err := h.HandleMessage(t.Context(), courier.Message{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
	})
}

func TestTimeoutParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		parent, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
		h := mustTimeout(t, time.Hour)(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			if ctx.Value(key{}) != "v" {
				t.Error("the parent's value is lost")
			}
			child, stop := context.WithCancel(ctx) // what handlers do with their context
			defer stop()
			time.AfterFunc(time.Second, cancel)
			<-child.Done()
			return ctx.Err()
		}))
		if err := h.HandleMessage(parent, courier.Message{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want the parent's Canceled", err)
		}

		// A parent whose deadline comes first keeps it.
		short, cancelShort := context.WithTimeout(t.Context(), time.Minute)
		defer cancelShort()
		want, _ := short.Deadline()
		h = mustTimeout(t, time.Hour)(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			if dl, _ := ctx.Deadline(); !dl.Equal(want) {
				t.Errorf("Deadline() = %v, want the parent's %v", dl, want)
			}
			return nil
		}))
		if err := h.HandleMessage(short, courier.Message{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTimeoutContextEndsWithTheHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var kept context.Context
		var done <-chan struct{}
		h := mustTimeout(t, time.Hour)(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			kept, done = ctx, ctx.Done()
			return nil
		}))
		if err := h.HandleMessage(t.Context(), courier.Message{}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		default:
			t.Fatal("Done() still open after the handler returned")
		}
		if !errors.Is(kept.Err(), context.Canceled) {
			t.Fatalf("Err() after the handler returned = %v, want Canceled", kept.Err())
		}
	})
}

func TestTimeoutPanickingHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := courier.Chain(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			<-ctx.Done()
			panic("late")
		}), middleware.Recover(slog.New(slog.DiscardHandler)), mustTimeout(t, time.Second))
		var pe *middleware.PanicError
		if err := h.HandleMessage(t.Context(), courier.Message{}); !errors.As(err, &pe) {
			t.Fatalf("err = %v, want a PanicError", err)
		}
		// The pool still hands out working contexts.
		h = mustTimeout(t, time.Second)(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			<-ctx.Done()
			return ctx.Err()
		}))
		if err := h.HandleMessage(t.Context(), courier.Message{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLogging(t *testing.T) {
	var logs bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var fail atomic.Bool
	h := middleware.Logging(middleware.LoggingConfig{Logger: lg, SuccessLevel: slog.LevelDebug})(
		courier.HandlerFunc(func(context.Context, courier.Message) error {
			if fail.Load() {
				return errBoom
			}
			return nil
		}))
	msg := courier.Message{ID: "m1", Topic: "orders", Key: "alice@example.com", Value: []byte("card=4111"),
		Headers: map[string]string{"authorization": "Bearer xyz"}, Attempt: 2, Partition: 3, Offset: 42}
	if err := h.HandleMessage(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := h.HandleMessage(t.Context(), msg); err != errBoom {
		t.Fatalf("err = %v, want the handler's error unchanged", err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), logs.String())
	}
	for _, want := range []string{"level=DEBUG", "message handled", "id=m1", "topic=orders", "attempt=2", "partition=3", "offset=42", "duration="} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("success line misses %q: %s", want, lines[0])
		}
	}
	for _, want := range []string{"level=WARN", "message failed", "err=boom"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("failure line misses %q: %s", want, lines[1])
		}
	}
	for _, secret := range []string{"card=4111", "Bearer", "alice@example.com"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log holds %q: %s", secret, logs.String())
		}
	}

	// Lines below the logger's level are not written.
	logs.Reset()
	fail.Store(false)
	quiet := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h = middleware.Logging(middleware.LoggingConfig{Logger: quiet, SuccessLevel: slog.LevelDebug})(courier.HandlerFunc(
		func(context.Context, courier.Message) error { return nil }))
	if err := h.HandleMessage(t.Context(), msg); err != nil || logs.Len() != 0 {
		t.Fatalf("err %v, log %q; want nothing logged at Debug", err, logs.String())
	}
}

// TestTimeoutWithContextHelpers: the context works with what the context package builds on
// top of a context: Cause, AfterFunc, and derived contexts, before and after the deadline.
func TestTimeoutWithContextHelpers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := mustTimeout(t, time.Second)(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			fired := make(chan time.Duration, 1)
			start := time.Now()
			stop := context.AfterFunc(ctx, func() { fired <- time.Since(start) })
			defer stop()
			if context.Cause(ctx) != nil {
				t.Errorf("Cause before the deadline = %v", context.Cause(ctx))
			}
			child, cancel := context.WithTimeout(ctx, time.Hour) // the parent's deadline wins
			defer cancel()
			<-child.Done()
			if d := <-fired; d != time.Second {
				t.Errorf("AfterFunc fired after %v, want 1s", d)
			}
			if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
				t.Errorf("after the deadline: Cause %v, child's Err %v; want DeadlineExceeded", context.Cause(ctx), child.Err())
			}
			return nil
		}))
		if err := h.HandleMessage(t.Context(), courier.Message{}); err != nil {
			t.Fatal(err)
		}
		// Cause without Done ever being called: the deadline passed unseen.
		h = mustTimeout(t, time.Second)(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			time.Sleep(2 * time.Second)
			if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				t.Errorf("Cause = %v, want DeadlineExceeded", context.Cause(ctx))
			}
			return nil
		}))
		if err := h.HandleMessage(t.Context(), courier.Message{}); err != nil {
			t.Fatal(err)
		}
	})
}
