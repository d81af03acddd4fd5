package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/batch"
	"github.com/courier-go/courier/dlq"
)

func attempts(msgs []courier.Message) []int {
	var a []int
	for _, m := range msgs {
		a = append(a, m.Attempt)
	}
	return a
}

// checkSettled fails the test if group left messages of topic unacknowledged; call it after
// the group's consumers have stopped.
func checkSettled(t *testing.T, b courier.Broker, topic, group string) {
	t.Helper()
	for _, tg := range targets {
		if tg.unsettled == nil {
			continue
		}
		if n, mine := tg.unsettled(t, b, topic, group); mine && n != 0 {
			t.Fatalf("group %q has %d unacknowledged messages on %q, want 0", group, n, topic)
		}
	}
}

// idle is the IdleTimeout of the replays that end by finding the dead-letter topic drained:
// long enough that a loaded machine does not take its own slowness for an empty topic.
const idle = 2 * time.Second

// watchDeadLetters consumes the dead letters of group's messages from topic; started before
// them, so that it gets them on brokers where a group only gets what is sent after it exists.
func watchDeadLetters(t *testing.T, b courier.Broker, topic, group string) *deliveries {
	t.Helper()
	dead := newDeliveries(nil)
	run(t, b, courier.ConsumerConfig{Group: "ops", Topics: []string{dlq.DefaultTopic(topic, group)}}, dead)
	return dead
}

func TestRetryThenSuccess(t *testing.T) {
	onEach(t, func(t *testing.T, b courier.Broker) {
		topic, group := name("orders"), name("g")
		p := newProducer(t, b)
		h := newDeliveries(func(m courier.Message) error {
			if m.Attempt < 3 {
				return errors.New("flaky")
			}
			return nil
		})
		dl := ok[courier.ExhaustedFunc](t)(dlq.DeadLetter(p, dlq.DeadLetterConfig{Group: group}))
		stop := run(t, b, courier.ConsumerConfig{Group: group, Topics: []string{topic}, MaxAttempts: 5, OnExhausted: dl}, h)
		send(t, p, courier.Message{Topic: topic, Value: []byte("o1")})
		got := h.next(t, 3)
		stop()
		if !slices.Equal(attempts(got), []int{1, 2, 3}) {
			t.Fatalf("attempts %v, want [1 2 3]", attempts(got))
		}
		checkSettled(t, b, topic, group)
	})
}

func TestExhaustionDeadLetters(t *testing.T) {
	onEach(t, func(t *testing.T, b courier.Broker) {
		topic, group := name("orders"), name("billing")
		p := newProducer(t, b)
		h := newDeliveries(func(courier.Message) error { return errors.New("payment declined") })
		dl := ok[courier.ExhaustedFunc](t)(dlq.DeadLetter(p, dlq.DeadLetterConfig{Group: group}))
		dead := watchDeadLetters(t, b, topic, group)
		stop := run(t, b, courier.ConsumerConfig{Group: group, Topics: []string{topic}, MaxAttempts: 3, OnExhausted: dl}, h)
		sent := courier.Message{Topic: topic, Key: "customer-9", Value: []byte("o1"), Headers: map[string]string{"trace": "t1"}}
		start := time.Now()
		send(t, p, sent)
		letter := dead.next(t, 1)[0]
		got := h.next(t, 3)
		stop()
		if !slices.Equal(attempts(got), []int{1, 2, 3}) {
			t.Fatalf("attempts %v, want [1 2 3]", attempts(got))
		}
		info, err := dlq.ParseInfo(letter)
		if err != nil {
			t.Fatal(err)
		}
		if info.OriginalTopic != topic || info.OriginalKey != "customer-9" || info.Group != group ||
			info.Reason != dlq.ReasonExhausted || info.Attempts != 3 || info.FirstFailureAttempt != 1 ||
			info.Error != "payment declined" {
			t.Fatalf("dead-letter info %+v", info)
		}
		if info.FirstFailure.Before(start.Add(-time.Second)) || info.LastFailure.Before(info.FirstFailure) {
			t.Fatalf("failure times %v, %v", info.FirstFailure, info.LastFailure)
		}
		if letter.ID != got[0].ID || letter.Key != sent.Key || string(letter.Value) != "o1" || letter.Headers["trace"] != "t1" {
			t.Fatalf("dead letter %+v does not carry the original", letter)
		}
		checkSettled(t, b, topic, group)
	})
}

func TestPermanentSkipsRetries(t *testing.T) {
	onEach(t, func(t *testing.T, b courier.Broker) {
		topic, group := name("orders"), name("g")
		p := newProducer(t, b)
		calls := newDeliveries(func(courier.Message) error { return courier.Permanent(errors.New("bad json")) })
		dl := ok[courier.ExhaustedFunc](t)(dlq.DeadLetter(p, dlq.DeadLetterConfig{Group: group}))
		dead := watchDeadLetters(t, b, topic, group)
		stop := run(t, b, courier.ConsumerConfig{Group: group, Topics: []string{topic}, MaxAttempts: 5, OnExhausted: dl}, calls)
		send(t, p, courier.Message{Topic: topic, Value: []byte("{")})
		info, err := dlq.ParseInfo(dead.next(t, 1)[0])
		stop()
		if err != nil {
			t.Fatal(err)
		}
		if info.Reason != dlq.ReasonPermanent || info.Attempts != 1 {
			t.Fatalf("info %+v", info)
		}
		if n := len(calls.ch); n != 1 {
			t.Fatalf("handler called %d times, want 1", n)
		}
		checkSettled(t, b, topic, group)
	})
}

// flaky fails its first n Sends, standing for a dead-letter topic that is unavailable.
type flaky struct {
	courier.Producer
	mu sync.Mutex
	n  int
}

func (f *flaky) Send(ctx context.Context, m courier.Message) error {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		return errors.New("dead-letter topic unavailable")
	}
	return f.Producer.Send(ctx, m)
}

// TestFailedDeadLetterPublishIsRetried: the dead-letter hook is tried again while the publish
// fails, without handling the message again, and the message is acknowledged after it.
func TestFailedDeadLetterPublishIsRetried(t *testing.T) {
	onEach(t, func(t *testing.T, b courier.Broker) {
		topic, group := name("orders"), name("g")
		p := newProducer(t, b)
		h := newDeliveries(func(courier.Message) error { return errors.New("always") })
		dl := ok[courier.ExhaustedFunc](t)(dlq.DeadLetter(&flaky{Producer: p, n: 2}, dlq.DeadLetterConfig{Group: group}))
		dead := watchDeadLetters(t, b, topic, group)
		stop := run(t, b, courier.ConsumerConfig{Group: group, Topics: []string{topic}, MaxAttempts: 1, OnExhausted: dl}, h)
		send(t, p, courier.Message{Topic: topic, Value: []byte("x")})
		info, err := dlq.ParseInfo(dead.next(t, 1)[0])
		stop()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(h.ch); n != 1 || info.Attempts != 1 {
			t.Fatalf("handler called %d times, dead letter after attempt %d: want once", n, info.Attempts)
		}
		checkSettled(t, b, topic, group)
	})
}

func TestReplayIsConsumed(t *testing.T) {
	onEach(t, func(t *testing.T, b courier.Broker) {
		topic, group := name("orders"), name("g")
		p := newProducer(t, b)
		var mu sync.Mutex
		broken := true
		h := newDeliveries(func(courier.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if broken {
				return courier.Permanent(errors.New("bug"))
			}
			return nil
		})
		dl := ok[courier.ExhaustedFunc](t)(dlq.DeadLetter(p, dlq.DeadLetterConfig{Group: group}))
		dead := watchDeadLetters(t, b, topic, group)
		run(t, b, courier.ConsumerConfig{Group: group, Topics: []string{topic}, OnExhausted: dl}, h)
		send(t, p, courier.Message{Topic: topic, Key: "k", Value: []byte("a")}, courier.Message{Topic: topic, Key: "k", Value: []byte("b")})
		first := h.next(t, 2)
		dead.next(t, 2) // both are in the dead-letter topic: Replay ends when it is idle
		mu.Lock()
		broken = false
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		res, err := dlq.Replay(ctx, b, dlq.DefaultTopic(topic, group), dlq.ReplayOptions{Group: name("replay"), IdleTimeout: idle})
		if err != nil || res.Replayed != 2 {
			t.Fatalf("Replay: %+v, %v; want 2 replayed", res, err)
		}
		again := h.next(t, 2)
		for i, m := range again {
			if m.ID != first[i].ID || string(m.Value) != string(first[i].Value) || m.Headers[dlq.HeaderReplayCount] != "1" ||
				m.Headers[dlq.HeaderOriginalTopic] != "" || m.Attempt != 1 {
				t.Fatalf("replayed message %d: %+v, want %+v in order with a replay count", i, m, first[i])
			}
		}
	})
}

// gated holds every SendBatch until the test opens the gate.
type gated struct {
	courier.Producer
	entered chan struct{}
	gate    chan struct{}
}

func (g *gated) SendBatch(ctx context.Context, msgs []courier.Message) error {
	g.entered <- struct{}{}
	<-g.gate
	return g.Producer.SendBatch(ctx, msgs)
}

func TestBatchProducer(t *testing.T) {
	onEach(t, func(t *testing.T, b courier.Broker) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		topic := name("events")
		got := newDeliveries(nil)
		run(t, b, courier.ConsumerConfig{Group: name("g"), Topics: []string{topic}, Concurrency: 8}, got)
		sendMany := func(p *batch.Producer, values ...string) {
			t.Helper()
			var wg sync.WaitGroup
			for _, v := range values {
				wg.Go(func() {
					if err := p.Send(ctx, courier.Message{Topic: topic, Value: []byte(v)}); err != nil {
						t.Errorf("Send %s: %v", v, err)
					}
				})
			}
			wg.Wait()
		}
		newBatcher := func(cfg batch.Config) *batch.Producer {
			p, err := batch.New(newProducer(t, b), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			return p
		}

		t.Run("count", func(t *testing.T) {
			p := newBatcher(batch.Config{MaxMessages: 4, Linger: time.Hour})
			sendMany(p, "c1", "c2", "c3", "c4")
			if s := p.Stats(); s.Batches != 1 || s.ByTrigger[batch.TriggerCount] != 1 {
				t.Fatalf("stats %+v, want one batch flushed by count", s)
			}
			got.next(t, 4)
		})
		t.Run("bytes", func(t *testing.T) {
			size := courier.Message{Topic: topic, ID: courier.NewID(time.Now()), Value: []byte("b1")}.Size()
			p := newBatcher(batch.Config{MaxMessages: 100, MaxBytes: 3 * size, Linger: time.Hour})
			sendMany(p, "b1", "b2", "b3")
			if s := p.Stats(); s.Batches != 1 || s.ByTrigger[batch.TriggerBytes] != 1 {
				t.Fatalf("stats %+v, want one batch flushed by bytes", s)
			}
			got.next(t, 3)
		})
		t.Run("linger", func(t *testing.T) {
			const linger = 50 * time.Millisecond
			p := newBatcher(batch.Config{MaxMessages: 100, Linger: linger})
			start := time.Now()
			sendMany(p, "l1", "l2")
			if d := time.Since(start); d < linger {
				t.Fatalf("sent after %v, before the linger", d)
			}
			if s := p.Stats(); s.Batches != 1 || s.ByTrigger[batch.TriggerLinger] != 1 {
				t.Fatalf("stats %+v, want one batch flushed by linger", s)
			}
			got.next(t, 2)
		})
		t.Run("close flushes", func(t *testing.T) {
			p := newBatcher(batch.Config{MaxMessages: 100, Linger: time.Hour})
			done := make(chan struct{})
			go func() { sendMany(p, "f1", "f2"); close(done) }()
			// Close must wait for messages accepted before it; Sends that lose the race
			// with Close get ErrClosed instead, so wait until both are accepted.
			waitUntil(t, func() bool { return p.Pending() == 2 })
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			<-done
			if s := p.Stats(); s.ByTrigger[batch.TriggerClose] != 1 || s.Messages != 2 {
				t.Fatalf("stats %+v, want the batch flushed by Close", s)
			}
			got.next(t, 2)
		})
		t.Run("backpressure", func(t *testing.T) {
			g := &gated{Producer: newProducer(t, b), entered: make(chan struct{}, 10), gate: make(chan struct{})}
			p, err := batch.New(g, batch.Config{MaxMessages: 1, MaxPending: 1, Linger: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			first := make(chan error)
			go func() { first <- p.Send(ctx, courier.Message{Topic: topic, Value: []byte("p1")}) }()
			<-g.entered
			short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancelShort()
			if err := p.Send(short, courier.Message{Topic: topic, Value: []byte("never")}); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send at the bound: %v, want it to block until its deadline", err)
			}
			second := make(chan error)
			go func() { second <- p.Send(ctx, courier.Message{Topic: topic, Value: []byte("p2")}) }()
			close(g.gate)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if err := <-second; err != nil {
				t.Fatal(err)
			}
			for _, m := range got.next(t, 2) {
				if string(m.Value) == "never" {
					t.Fatal("a Send that gave up was sent")
				}
			}
		})
	})
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a condition")
		}
		time.Sleep(time.Millisecond) // polling the condition
	}
}

func TestBatchHandlerPartialFailure(t *testing.T) {
	onEach(t, func(t *testing.T, b courier.Broker) {
		topic, group := name("rows"), name("loader")
		cc := courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: 4}
		hc := batch.HandlerConfig{MaxSize: 4, MaxWait: 50 * time.Millisecond}
		if err := hc.CheckConsumer(cc); err != nil {
			t.Fatal(err)
		}
		handled := make(chan string, 100)
		h, err := batch.NewHandler(batch.BatchHandlerFunc(func(_ context.Context, msgs []courier.Message) error {
			var failed []int
			for i, m := range msgs {
				if string(m.Value) == "bad" && m.Attempt == 1 {
					failed = append(failed, i)
					continue
				}
				handled <- fmt.Sprintf("%s@%d", m.Value, m.Attempt)
			}
			if failed != nil {
				return &batch.PartialError{Failed: failed, Err: errors.New("constraint violation")}
			}
			return nil
		}), hc)
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, b, cc, h)
		p := newProducer(t, b)
		for _, v := range []string{"a", "bad", "c", "d"} {
			send(t, p, courier.Message{Topic: topic, Value: []byte(v)})
		}
		var got []string
		deadline := time.After(timeout)
		for len(got) < 4 {
			select {
			case s := <-handled:
				got = append(got, s)
			case <-deadline:
				t.Fatalf("handled %v, want a c d and bad on its second attempt", got)
			}
		}
		stop()
		slices.Sort(got)
		if !slices.Equal(got, []string{"a@1", "bad@2", "c@1", "d@1"}) {
			t.Fatalf("handled %v, want only bad to come back", got)
		}
		checkSettled(t, b, topic, group)
	})
}

// TestReplayFilterAndLimit replays from one dead-letter topic in two runs: the first selects
// the dead letters of one topic, the second takes one more with a limit. Every message reaches
// its topic once, and the kept one is still there for the second run.
func TestReplayFilterAndLimit(t *testing.T) {
	onEach(t, func(t *testing.T, b courier.Broker) {
		deadTopic, a, c := name("dead"), name("a"), name("c")
		replayGroup := name("replay")
		p := newProducer(t, b)
		letter := func(orig, v string) courier.Message {
			return courier.Message{Topic: deadTopic, Key: v, Value: []byte(v),
				Headers: map[string]string{dlq.HeaderOriginalTopic: orig, dlq.HeaderReplayCount: "oops"}}
		}
		got := newDeliveries(nil)
		run(t, b, courier.ConsumerConfig{Group: name("check"), Topics: []string{a, c}}, got)
		send(t, p, letter(a, "a1"), letter(c, "c1"), letter(a, "a2"), letter(a, "a3"))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		onlyA := func(_ courier.Message, info dlq.Info) bool { return info.OriginalTopic == a }
		res, err := dlq.Replay(ctx, b, deadTopic, dlq.ReplayOptions{Group: replayGroup, Filter: onlyA, Limit: 2, IdleTimeout: time.Minute})
		if err != nil || res.Replayed != 2 || res.Kept != 1 {
			t.Fatalf("first run: %+v, %v; want 2 replayed (the limit), 1 kept", res, err)
		}
		res, err = dlq.Replay(ctx, b, deadTopic, dlq.ReplayOptions{Group: replayGroup, IdleTimeout: idle})
		if err != nil || res.Replayed != 2 {
			t.Fatalf("second run: %+v, %v; want a3 and the kept c1", res, err)
		}
		var values []string
		for _, m := range got.next(t, 4) {
			values = append(values, string(m.Value))
			if m.Headers[dlq.HeaderReplayCount] != "1" || len(m.Headers) != 1 {
				t.Errorf("%s: headers %v, want only the replay count", m.Value, m.Headers)
			}
		}
		slices.Sort(values)
		if !slices.Equal(values, []string{"a1", "a2", "a3", "c1"}) {
			t.Fatalf("replayed %v, want a1 a2 a3 c1 once each", values)
		}
	})
}
