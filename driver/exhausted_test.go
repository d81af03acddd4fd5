package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courier-go/courier"
)

// second is a backoff of exactly one second, so that synctest's clock shows each wait.
var second = courier.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}

// journal records what happened, in order, with the (synctest) time of each entry.
type journal struct {
	mu      sync.Mutex
	entries []string
	times   []time.Time
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, fmt.Sprintf(format, args...))
	j.times = append(j.times, time.Now())
}

func (j *journal) all() ([]string, []time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries), slices.Clone(j.times)
}

// gaps returns the time between consecutive entries.
func gaps(ts []time.Time) []time.Duration {
	var d []time.Duration
	for i := 1; i < len(ts); i++ {
		d = append(d, ts[i].Sub(ts[i-1]))
	}
	return d
}

// TestExhaustedAfterMaxAttempts: a message is handled exactly MaxAttempts times, a backoff
// apart, then reaches OnExhausted with its story; the next message of its key waits for all
// of it; OnExhausted's nil acknowledges it.
func TestExhaustedAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal
		rec := newRecorder()
		done := make(chan struct{})
		var got *courier.ExhaustedError
		boom := errors.New("boom")
		h := courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			j.add("handle %s#%d", m.ID, m.Attempt)
			if m.ID == "a" {
				return boom
			}
			close(done)
			return nil
		})
		hook := func(_ context.Context, m courier.Message, err error) error {
			j.add("exhausted %s#%d", m.ID, m.Attempt)
			if !errors.As(err, &got) {
				t.Errorf("OnExhausted got %T, want *courier.ExhaustedError", err)
			}
			return nil
		}
		start := time.Now()
		e := NewEngine(context.Background(), h, rec, EngineConfig{Concurrency: 4, Backoff: second,
			MaxAttempts: 3, OnExhausted: hook, Logger: quiet})
		submit(t, e, delivery("a", "k"))
		submit(t, e, delivery("b", "k"))
		<-done
		e.Close()

		entries, times := j.all()
		want := []string{"handle a#1", "handle a#2", "handle a#3", "exhausted a#3", "handle b#1"}
		if !slices.Equal(entries, want) {
			t.Fatalf("journal %q, want %q", entries, want)
		}
		if g := gaps(times); !slices.Equal(g, []time.Duration{time.Second, time.Second, 0, 0}) {
			t.Fatalf("gaps %v: want the backoff between attempts and none after the last", g)
		}
		if !errors.Is(got, boom) || got.Attempts != 3 || got.FirstAttempt != 1 || got.Permanent ||
			!got.FirstFailure.Equal(start) || got.LastFailure.Sub(got.FirstFailure) != 2*time.Second {
			t.Fatalf("ExhaustedError %+v", got)
		}
		rec.settledOnce(t, []string{"a", "b"})
		if rec.acked["a"] != 1 {
			t.Fatal("the exhausted message was not acknowledged after OnExhausted returned nil")
		}
	})
}

// TestAttemptFromBrokerBoundsAcrossRedeliveries: a message the broker delivers with Attempt
// 3 (its third delivery) gets one more try under MaxAttempts 3, not three.
func TestAttemptFromBrokerBoundsAcrossRedeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal
		exhausted := make(chan struct{})
		h := courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			j.add("handle %s#%d", m.ID, m.Attempt)
			return errors.New("no")
		})
		e := NewEngine(context.Background(), h, newRecorder(), EngineConfig{Backoff: second, MaxAttempts: 3,
			OnExhausted: func(context.Context, courier.Message, error) error { close(exhausted); return nil },
			Logger:      quiet})
		d := delivery("a", "")
		d.Msg.Attempt = 3
		submit(t, e, d)
		<-exhausted
		e.Close()
		if entries, _ := j.all(); !slices.Equal(entries, []string{"handle a#3"}) {
			t.Fatalf("journal %q: want one attempt, the broker's third", entries)
		}
	})
}

// TestFailingHookIsRetriedInPlace: OnExhausted failing is retried after the backoff without
// handling the message again, later messages of its key wait, and nothing is released.
func TestFailingHookIsRetriedInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal
		rec := newRecorder()
		done := make(chan struct{})
		h := courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			j.add("handle %s#%d", m.ID, m.Attempt)
			if m.ID == "a" {
				return errors.New("bad")
			}
			close(done)
			return nil
		})
		var calls atomic.Int32
		hook := func(_ context.Context, m courier.Message, err error) error {
			j.add("exhausted %s#%d", m.ID, m.Attempt)
			if calls.Add(1) < 3 {
				return errors.New("dead-letter topic unavailable")
			}
			return nil
		}
		e := NewEngine(context.Background(), h, rec, EngineConfig{Concurrency: 2, Backoff: second,
			MaxAttempts: 1, OnExhausted: hook, Logger: quiet})
		submit(t, e, delivery("a", "k"))
		submit(t, e, delivery("b", "k"))
		<-done
		e.Close()
		entries, times := j.all()
		want := []string{"handle a#1", "exhausted a#1", "exhausted a#2", "exhausted a#3", "handle b#1"}
		if !slices.Equal(entries, want) {
			t.Fatalf("journal %q, want %q", entries, want)
		}
		if g := gaps(times); !slices.Equal(g, []time.Duration{0, time.Second, time.Second, 0}) {
			t.Fatalf("gaps %v: want the backoff between the hook's tries", g)
		}
		rec.settledOnce(t, []string{"a", "b"})
		if rec.acked["a"] != 1 || rec.retried["a"] != 2 {
			t.Fatalf("a acked %d times after %d retries, want once after 2", rec.acked["a"], rec.retried["a"])
		}
	})
}

// TestCloseDuringHookReleases: Close while OnExhausted runs gives it the drain time, then
// cancels it; a hook that then fails leaves the message released, not acknowledged. Close
// while the hook waits for its next try releases the message at once.
func TestCloseDuringHookReleases(t *testing.T) {
	t.Run("running", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder()
			inHook := make(chan struct{})
			hook := func(ctx context.Context, m courier.Message, err error) error {
				close(inHook)
				<-ctx.Done() // a publish that cannot finish
				return ctx.Err()
			}
			e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
				return courier.Permanent(errors.New("unparsable"))
			}), rec, EngineConfig{Backoff: second, DrainTimeout: 3 * time.Second, OnExhausted: hook, Logger: quiet})
			submit(t, e, delivery("a", "k"))
			<-inHook
			start := time.Now()
			e.Close()
			if waited := time.Since(start); waited != 3*time.Second {
				t.Fatalf("Close took %v, want the drain timeout", waited)
			}
			rec.settledOnce(t, []string{"a"})
			if rec.released["a"] != 1 {
				t.Fatal("the message was not released")
			}
		})
	})
	t.Run("waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := newRecorder()
			failed := make(chan struct{})
			hook := func(context.Context, courier.Message, error) error {
				close(failed)
				return errors.New("unavailable")
			}
			e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
				return errors.New("no")
			}), rec, EngineConfig{Backoff: courier.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1},
				MaxAttempts: 1, OnExhausted: hook, Logger: quiet})
			submit(t, e, delivery("a", "k"))
			<-failed
			synctest.Wait() // the hook's failure is scheduled for retry
			start := time.Now()
			e.Close()
			if time.Since(start) != 0 {
				t.Fatal("Close waited for the hook's backoff")
			}
			rec.settledOnce(t, []string{"a"})
			if rec.released["a"] != 1 {
				t.Fatal("the message was not released")
			}
		})
	})
}

// TestPermanentGoesToHookAtOnce: with no MaxAttempts, a permanent error skips the retries.
func TestPermanentGoesToHookAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		var handled atomic.Int32
		var got atomic.Pointer[courier.ExhaustedError]
		done := make(chan struct{})
		e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
			handled.Add(1)
			return fmt.Errorf("decoding: %w", courier.Permanent(errors.New("bad json")))
		}), rec, EngineConfig{Backoff: second, Logger: quiet, OnExhausted: func(_ context.Context, _ courier.Message, err error) error {
			var ee *courier.ExhaustedError
			errors.As(err, &ee)
			got.Store(ee)
			close(done)
			return nil
		}})
		submit(t, e, delivery("a", ""))
		<-done
		e.Close()
		if ee := got.Load(); handled.Load() != 1 || ee == nil || !ee.Permanent || ee.Attempts != 1 {
			t.Fatalf("handled %d times, ExhaustedError %+v; want once, permanent", handled.Load(), ee)
		}
		if rec.acked["a"] != 1 {
			t.Fatal("not acknowledged")
		}
	})
}

// TestDefaultDropsAndCounts: without OnExhausted, an exhausted message is dropped (logged and
// acknowledged); DropExhausted counts what it drops.
func TestDefaultDropsAndCounts(t *testing.T) {
	for _, name := range []string{"default", "DropExhausted"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder()
				logs := &messageLog{}
				var dropped atomic.Int64
				cfg := EngineConfig{Backoff: second, MaxAttempts: 2, Logger: slog.New(logs)}
				if name == "DropExhausted" {
					cfg.OnExhausted = courier.DropExhausted(quiet, &dropped)
				}
				e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
					return errors.New("no")
				}), rec, cfg)
				submit(t, e, delivery("a", "k"))
				time.Sleep(time.Minute) // synctest's clock: far past the two attempts
				synctest.Wait()
				e.Close()
				if rec.acked["a"] != 1 {
					t.Fatalf("acked %d times, want once", rec.acked["a"])
				}
				if name == "default" && !logs.saw("courier: message dropped: its last attempt failed") {
					t.Fatal("the drop was not logged on the engine's logger")
				}
				if name == "DropExhausted" && dropped.Load() != 1 {
					t.Fatalf("dropped = %d, want 1", dropped.Load())
				}
			})
		})
	}
}

// TestStopConsumerEndsTheRun: courier.StopConsumer releases the message, stops the engine
// (later messages are released unhandled), cancels the Guard's run and makes finish return
// the stop error.
func TestStopConsumerEndsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		var g Guard
		var handled atomic.Int32
		h := courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			handled.Add(1)
			return errors.New("no")
		})
		consume := func() (err error) {
			run, finish, _, err := g.Start(context.Background(), h)
			if err != nil {
				return err
			}
			defer finish(&err)
			e := NewEngine(run, h, rec, EngineConfig{Backoff: second, MaxAttempts: 1, OnExhausted: courier.StopConsumer,
				Logger: quiet, Broker: "test", Group: "g"})
			defer e.Close()
			// Both at once: a's failure stops the engine, maybe before a second Submit came.
			if n, err := e.SubmitAll(context.Background(), []Delivery{delivery("a", "k"), delivery("b", "k")}); n != 2 || err != nil {
				t.Fatalf("SubmitAll: %d, %v", n, err)
			}
			<-run.Done()
			if !errors.Is(e.Err(), courier.ErrStop) {
				t.Errorf("Engine.Err() = %v", e.Err())
			}
			if err := e.Submit(context.Background(), delivery("c", "")); !errors.Is(err, courier.ErrStop) {
				t.Errorf("Submit after the stop: %v, want the stop error", err)
			}
			return nil
		}
		err := consume()
		if !errors.Is(err, courier.ErrStop) || err.Error() != `test: group "g": courier: consumer stopped by OnExhausted: message a on "t": courier: gave up after attempt 1 (attempts exhausted): no` {
			t.Fatalf("Consume returned %v", err)
		}
		if handled.Load() != 1 {
			t.Fatalf("handler ran %d times, want once: nothing after the stop", handled.Load())
		}
		rec.settledOnce(t, []string{"a", "b"})
		if rec.released["a"] != 1 || rec.released["b"] != 1 {
			t.Fatalf("released %v, want both", rec.released)
		}
	})
}

// messageLog is a slog.Handler that keeps the messages of the records at Error level.
type messageLog struct {
	mu   sync.Mutex
	msgs []string
}

func (h *messageLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *messageLog) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *messageLog) WithGroup(string) slog.Handler                { return h }
func (h *messageLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}

func (h *messageLog) saw(msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.msgs, msg)
}

// TestPanickingHookIsRetried: a panic in OnExhausted is an error like any other: the hook is
// called again after the backoff, and the message is not lost.
func TestPanickingHookIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		var calls atomic.Int32
		done := make(chan struct{})
		e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
			return courier.Permanent(errors.New("bad"))
		}), rec, EngineConfig{Backoff: second, Logger: quiet, OnExhausted: func(context.Context, courier.Message, error) error {
			if calls.Add(1) == 1 {
				panic("hook bug")
			}
			close(done)
			return nil
		}})
		submit(t, e, delivery("a", "k"))
		<-done
		e.Close()
		if calls.Load() != 2 || rec.acked["a"] != 1 || rec.released["a"] != 0 {
			t.Fatalf("hook called %d times, acked %d, released %d; want twice, once, never", calls.Load(), rec.acked["a"], rec.released["a"])
		}
	})
}

// TestConsumerConfigCarriesTheBound: an adapter's config helpers refuse a negative
// MaxAttempts, naming the broker, and hand MaxAttempts and OnExhausted to the engine.
func TestConsumerConfigCarriesTheBound(t *testing.T) {
	_, err := ConsumerConfig("mybroker", courier.ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxAttempts: -2}, quiet)
	if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "mybroker: new consumer") ||
		!strings.Contains(err.Error(), "negative MaxAttempts -2") {
		t.Fatalf("negative MaxAttempts: %v", err)
	}
	cc, err := ConsumerConfig("mybroker", courier.ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxAttempts: 4,
		OnExhausted: courier.StopConsumer}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ec := FromConsumerConfig("mybroker", cc)
	if ec.MaxAttempts != 4 || ec.OnExhausted == nil ||
		!errors.Is(ec.OnExhausted(context.Background(), courier.Message{}, errors.New("x")), courier.ErrStop) {
		t.Fatalf("engine config %+v does not carry the bound and the hook", ec)
	}
}

// TestLastAttemptFailingWhileClosingCallsHook: a last attempt that fails while Close drains
// goes to OnExhausted within the drain time, rather than back to the broker for one more;
// an attempt that is not the last is released.
func TestLastAttemptFailingWhileClosingCallsHook(t *testing.T) {
	for _, c := range []struct {
		name        string
		maxAttempts int
		acked       bool
	}{{"last", 1, true}, {"not last", 2, false}} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder()
				inHandler, proceed := make(chan struct{}), make(chan struct{})
				var hooked atomic.Int32
				e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
					close(inHandler)
					<-proceed
					return errors.New("no")
				}), rec, EngineConfig{Backoff: second, MaxAttempts: c.maxAttempts, Logger: quiet,
					OnExhausted: func(context.Context, courier.Message, error) error { hooked.Add(1); return nil }})
				submit(t, e, delivery("a", "k"))
				<-inHandler
				closed := make(chan struct{})
				go func() { e.Close(); close(closed) }()
				synctest.Wait() // Close has begun and waits for the running handler
				close(proceed)
				<-closed
				rec.settledOnce(t, []string{"a"})
				if got := rec.acked["a"] == 1; got != c.acked || (hooked.Load() == 1) != c.acked {
					t.Fatalf("acked %v, hook called %d times; want acked %v", got, hooked.Load(), c.acked)
				}
			})
		})
	}
}

// TestUndecodableGoesToOnExhausted: a delivery the adapter could not decode never reaches
// the handler: OnExhausted gets it at once, as a permanent failure, even without MaxAttempts,
// and the next message of its key goes on after it.
func TestUndecodableGoesToOnExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal
		rec := newRecorder()
		done := make(chan struct{})
		var got *courier.ExhaustedError
		h := courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			j.add("handle %s#%d", m.ID, m.Attempt)
			close(done)
			return nil
		})
		hook := func(_ context.Context, m courier.Message, err error) error {
			j.add("exhausted %s#%d", m.ID, m.Attempt)
			errors.As(err, &got)
			return nil
		}
		e := NewEngine(context.Background(), h, rec, EngineConfig{Backoff: second, OnExhausted: hook, Logger: quiet})
		bad := errors.New("field ts is not Unix nanoseconds")
		poison := delivery("poison", "k")
		poison.Undecodable = bad
		submit(t, e, poison)
		submit(t, e, delivery("next", "k"))
		<-done
		e.Close()
		entries, _ := j.all()
		if want := []string{"exhausted poison#1", "handle next#1"}; !slices.Equal(entries, want) {
			t.Fatalf("journal %q, want %q", entries, want)
		}
		if got == nil || !errors.Is(got, bad) || !got.Permanent || got.Attempts != 1 {
			t.Fatalf("ExhaustedError %+v, want the decoding error, permanent, after 1 attempt", got)
		}
		rec.settledOnce(t, []string{"poison", "next"})
	})
}
