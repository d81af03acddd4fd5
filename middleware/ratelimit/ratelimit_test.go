package ratelimit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/middleware/ratelimit"
	"golang.org/x/time/rate"
)

var noop = courier.HandlerFunc(func(context.Context, courier.Message) error { return nil })

func mustMiddleware(t testing.TB, l *rate.Limiter) courier.Middleware {
	t.Helper()
	m, err := ratelimit.Middleware(l)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		l    *rate.Limiter
		want string
	}{
		{nil, "nil limiter"},
		{rate.NewLimiter(10, 0), "burst 0"},
		{rate.NewLimiter(0, 5), "limit 0"},
		{rate.NewLimiter(-1, 5), "limit -1"},
	} {
		_, err := ratelimit.Middleware(c.l)
		if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Middleware: %v, want ErrInvalidConfig saying %q", err, c.want)
		}
		if _, err := ratelimit.Producer(nopProducer{}, c.l); !errors.Is(err, courier.ErrInvalidConfig) {
			t.Errorf("Producer: %v, want ErrInvalidConfig", err)
		}
	}
	if _, err := ratelimit.Middleware(rate.NewLimiter(rate.Inf, 0)); err != nil {
		t.Errorf("an unlimited limiter: %v", err)
	}
	if _, err := ratelimit.Producer(nil, rate.NewLimiter(1, 1)); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil producer: %v", err)
	}
}

func TestHoldsRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := mustMiddleware(t, rate.NewLimiter(10, 2))(noop)
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var times []time.Duration
		for range 4 { // four workers, as a consumer with Concurrency 4
			wg.Go(func() {
				for range 11 {
					if err := h.HandleMessage(t.Context(), courier.Message{}); err != nil {
						t.Error(err)
					}
					mu.Lock()
					times = append(times, time.Since(start))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// 44 messages at 10/s with a burst of 2: the first two at once, then one every 100ms.
		if got, want := time.Since(start), 4200*time.Millisecond; got != want {
			t.Fatalf("44 messages took %v, want %v", got, want)
		}
		for i := range 10 { // no window of 1s holds more than burst + rate
			n := 0
			for _, d := range times {
				if d >= time.Duration(i)*100*time.Millisecond && d < time.Duration(i)*100*time.Millisecond+time.Second {
					n++
				}
			}
			if n > 12 {
				t.Fatalf("%d messages within a second from %v, want at most 12", n, time.Duration(i)*100*time.Millisecond)
			}
		}
	})
}

func TestCancelPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rate.NewLimiter(1, 1)
		h := mustMiddleware(t, l)(noop)
		if err := h.HandleMessage(t.Context(), courier.Message{}); err != nil { // takes the burst
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		err := h.HandleMessage(ctx, courier.Message{ID: "m1", Topic: "orders"})
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "m1") {
			t.Fatalf("err = %v, want one wrapping context.Canceled and naming the message", err)
		}
		if got := time.Since(start); got != 300*time.Millisecond {
			t.Fatalf("returned after %v, want 300ms (when the context ended)", got)
		}
		// The cancelled wait gave its token back: the next one comes 1s after the first.
		if err := h.HandleMessage(t.Context(), courier.Message{}); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("next token after %v, want 1s", got)
		}
	})
}

func TestDeadlineTooShort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rate.NewLimiter(1, 1)
		h := mustMiddleware(t, l)(noop)
		h.HandleMessage(t.Context(), courier.Message{})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		// rate refuses at once, with an error of its own that does not wrap DeadlineExceeded.
		err := h.HandleMessage(ctx, courier.Message{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want one wrapping DeadlineExceeded", err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("returned after %v, want at once", time.Since(start))
		}
	})
}

type nopProducer struct{}

func (nopProducer) Send(context.Context, courier.Message) error        { return nil }
func (nopProducer) SendBatch(context.Context, []courier.Message) error { return nil }
func (nopProducer) Close() error                                       { return nil }

func TestProducer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := memory.New(context.Background(), memory.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		inner, err := b.NewProducer(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		p, err := ratelimit.Producer(inner, rate.NewLimiter(10, 3))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for range 3 {
			if err := p.Send(t.Context(), courier.Message{Topic: "t"}); err != nil {
				t.Fatal(err)
			}
		}
		if time.Since(start) != 0 {
			t.Fatalf("the burst took %v", time.Since(start))
		}
		// A batch of 7, larger than the burst: 700ms of tokens.
		if err := p.SendBatch(t.Context(), make7()); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 700*time.Millisecond {
			t.Fatalf("batch of 7 after the burst took %v, want 700ms", got)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := p.Send(ctx, courier.Message{Topic: "t"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Send with a cancelled context: %v", err)
		}
		if err := p.SendBatch(ctx, make7()); !errors.Is(err, context.Canceled) {
			t.Fatalf("SendBatch with a cancelled context: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Send(t.Context(), courier.Message{Topic: "t"}); !errors.Is(err, courier.ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
	})
}

func make7() []courier.Message {
	msgs := make([]courier.Message, 7)
	for i := range msgs {
		msgs[i].Topic = "t"
	}
	return msgs
}
