package dlq

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// idle is the IdleTimeout of the replays that end by finding the topic drained: long enough
// that a loaded machine does not take its own slowness for an empty topic.
const idle = 500 * time.Millisecond

// deadLetter is a dead letter as DeadLetter would have published it.
func deadLetter(topic, origTopic, value string, extra map[string]string) courier.Message {
	h := map[string]string{HeaderOriginalTopic: origTopic, HeaderGroup: "g", HeaderError: "boom",
		HeaderReason: ReasonExhausted, HeaderAttempts: "3", HeaderFirstFailureAttempt: "1",
		HeaderFirstFailure: "2026-11-26T10:00:00Z", HeaderLastFailure: "2026-11-26T10:00:01Z", "trace": "t-" + value}
	for k, v := range extra {
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	return courier.Message{Topic: topic, Key: "k-" + value, Value: []byte(value), Headers: h}
}

func replay(t *testing.T, b courier.Broker, topic string, opts ReplayOptions) ReplayResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := Replay(ctx, b, topic, opts)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return res
}

// TestReplayEndToEnd dead-letters a message, replays it, and a fixed handler consumes it.
func TestReplayEndToEnd(t *testing.T) {
	b := newBroker(t)
	p := producer(t, b)
	send(t, p, courier.Message{Topic: "orders", Key: "c1", Value: []byte("o1"), Headers: map[string]string{"trace": "x"}})
	broken := true
	h := newCollector(func(courier.Message) error {
		if broken {
			return Permanent(errors.New("bug"))
		}
		return nil
	})
	dl := deadLetterTo(t, p, DeadLetterConfig{Group: "g"})
	c := consume(t, b, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}, OnExhausted: dl}, h)
	h.wait(t, 1)
	c.stop(t)
	broken = false // the bug is fixed; the consumer is stopped, so no data race

	start := time.Now()
	res := replay(t, b, DefaultTopic("orders", "g"), ReplayOptions{IdleTimeout: idle})
	if res != (ReplayResult{Replayed: 1}) {
		t.Fatalf("result %+v, want 1 replayed", res)
	}
	if d := time.Since(start); d > timeout/2 {
		t.Fatalf("replay of a drained topic took %v", d)
	}
	consume(t, b, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}, OnExhausted: dl}, h)
	got := h.wait(t, 2)[1]
	if string(got.Value) != "o1" || got.Key != "c1" || got.Attempt != 1 || got.ID != h.all()[0].ID {
		t.Fatalf("replayed message %+v", got)
	}
	want := map[string]string{"trace": "x", HeaderReplayCount: "1"}
	if len(got.Headers) != len(want) || got.Headers["trace"] != "x" || got.Headers[HeaderReplayCount] != "1" {
		t.Fatalf("headers %v, want %v", got.Headers, want)
	}

	// The dead-letter topic is drained for the replay group: a second run moves nothing.
	if res := replay(t, b, DefaultTopic("orders", "g"), ReplayOptions{IdleTimeout: idle}); res != (ReplayResult{}) {
		t.Fatalf("second replay %+v, want nothing", res)
	}
}

func TestReplayFilterKeepsTheRest(t *testing.T) {
	b := newBroker(t)
	p := producer(t, b)
	send(t, p, deadLetter("dead", "a", "1", nil), deadLetter("dead", "b", "2", nil), deadLetter("dead", "a", "3", nil))
	onlyA := func(_ courier.Message, info Info) bool { return info.OriginalTopic == "a" }
	// The kept message comes back to this run, which must neither handle it again nor count
	// it as activity: the run ends after the idle timeout.
	res := replay(t, b, "dead", ReplayOptions{Filter: onlyA, IdleTimeout: idle})
	if res != (ReplayResult{Replayed: 2, Kept: 1}) {
		t.Fatalf("result %+v, want 2 replayed, 1 kept", res)
	}
	got := newCollector(nil)
	consume(t, b, courier.ConsumerConfig{Group: "check", Topics: []string{"a", "b"}}, got)
	msgs := got.wait(t, 2)
	var values []string
	for _, m := range msgs {
		values = append(values, m.Topic+":"+string(m.Value))
		if m.Headers[HeaderReplayCount] != "1" || m.Headers[HeaderOriginalTopic] != "" || m.Headers["trace"] != "t-"+string(m.Value) {
			t.Errorf("replayed headers %v", m.Headers)
		}
	}
	slices.Sort(values)
	if !slices.Equal(values, []string{"a:1", "a:3"}) {
		t.Fatalf("replayed %v, want a:1 a:3", values)
	}
	// The kept one is replayed by a later run without the filter.
	res = replay(t, b, "dead", ReplayOptions{Limit: 1, IdleTimeout: time.Hour})
	if res != (ReplayResult{Replayed: 1}) {
		t.Fatalf("second run %+v, want the kept message replayed", res)
	}
	m := got.wait(t, 3)[2]
	if m.Topic != "b" || string(m.Value) != "2" || m.Headers[HeaderReplayCount] != "1" || len(m.Headers) != 2 {
		t.Fatalf("kept message replayed as %+v", m)
	}
}

func TestReplayLimit(t *testing.T) {
	b := newBroker(t)
	p := producer(t, b)
	send(t, p, deadLetter("dead", "a", "1", nil), deadLetter("dead", "a", "2", nil), deadLetter("dead", "a", "3", nil))
	if res := replay(t, b, "dead", ReplayOptions{Limit: 2, IdleTimeout: time.Hour}); res.Replayed != 2 {
		t.Fatalf("first run %+v, want 2", res)
	}
	if res := replay(t, b, "dead", ReplayOptions{IdleTimeout: idle}); res.Replayed != 1 {
		t.Fatalf("second run %+v, want the third", res)
	}
	s, _ := b.TopicStats("a")
	if s.Messages != 3 {
		t.Fatalf("topic a has %d messages, want 3 (no duplicates, none lost)", s.Messages)
	}
}

func TestReplayMalformedHeaders(t *testing.T) {
	b := newBroker(t)
	p := producer(t, b)
	send(t, p,
		deadLetter("dead", "", "no-topic", map[string]string{HeaderOriginalTopic: ""}),
		deadLetter("dead", "a", "bad-count", map[string]string{HeaderReplayCount: "lots", HeaderAttempts: "x", HeaderFirstFailure: "?"}),
		deadLetter("dead", "a", "twice", map[string]string{HeaderReplayCount: "1"}),
	)
	res := replay(t, b, "dead", ReplayOptions{IdleTimeout: idle})
	if res != (ReplayResult{Replayed: 2, Invalid: 1}) {
		t.Fatalf("result %+v, want 2 replayed and 1 invalid", res)
	}
	got := newCollector(nil)
	consume(t, b, courier.ConsumerConfig{Group: "check", Topics: []string{"a"}}, got)
	counts := map[string]string{}
	for _, m := range got.wait(t, 2) {
		counts[string(m.Value)] = m.Headers[HeaderReplayCount]
	}
	if counts["bad-count"] != "1" || counts["twice"] != "2" {
		t.Fatalf("replay counts %v, want bad-count:1 twice:2", counts)
	}
	// The invalid one stays in the dead-letter topic, untouched but for the run's mark.
	dead := newCollector(nil)
	consume(t, b, courier.ConsumerConfig{Group: "check", Topics: []string{"dead"}}, dead)
	var kept []courier.Message
	for _, m := range dead.wait(t, 4) {
		if m.Headers[headerReplayPass] != "" {
			kept = append(kept, m)
		}
	}
	if len(kept) != 1 || string(kept[0].Value) != "no-topic" || kept[0].Headers[HeaderError] != "boom" {
		t.Fatalf("kept %+v, want the invalid dead letter alone", kept)
	}
}

// failingProducer fails every Send.
type failingProducer struct{ courier.Producer }

func (failingProducer) Send(context.Context, courier.Message) error { return errFlaky }

func TestReplayIsAtLeastOnce(t *testing.T) {
	b := newBroker(t)
	p := producer(t, b)
	send(t, p, deadLetter("dead", "a", "1", nil))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := Replay(ctx, b, "dead", ReplayOptions{Producer: failingProducer{p}, IdleTimeout: time.Hour})
	if !errors.Is(err, errFlaky) || !strings.Contains(err.Error(), `"dead"`) || res.Replayed != 0 {
		t.Fatalf("Replay with a failing producer: %+v, %v", res, err)
	}
	// The dead letter was not acknowledged: the next run replays it.
	if res := replay(t, b, "dead", ReplayOptions{IdleTimeout: idle}); res.Replayed != 1 {
		t.Fatalf("next run %+v, want the dead letter replayed", res)
	}
}

func TestReplayBadInput(t *testing.T) {
	b := newBroker(t)
	ctx := context.Background()
	if _, err := Replay(ctx, b, "", ReplayOptions{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("empty topic: %v", err)
	}
	if _, err := Replay(ctx, b, "dead", ReplayOptions{Limit: -1}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("negative limit: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Replay(cctx, b, "dead", ReplayOptions{IdleTimeout: time.Hour}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
