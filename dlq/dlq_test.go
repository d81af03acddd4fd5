package dlq

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/courier-go/courier"
)

// orders is the consumer config of the tests: the group's messages of "orders", handled
// at most maxAttempts times, then given to hook.
func orders(group string, maxAttempts int, hook courier.ExhaustedFunc) courier.ConsumerConfig {
	return courier.ConsumerConfig{Group: group, Topics: []string{"orders"}, Concurrency: 4,
		MaxAttempts: maxAttempts, OnExhausted: hook}
}

func TestRetriesThenSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBroker(t)
		send(t, producer(t, b), courier.Message{Topic: "orders", Value: []byte("o1")})
		h := newCollector(func(m courier.Message) error {
			if m.Attempt < 3 {
				return errors.New("flaky")
			}
			return nil
		})
		c := consume(t, b, orders("g", 5, deadLetterTo(t, producer(t, b), DeadLetterConfig{Group: "g"})), h)
		got := h.wait(t, 3)
		c.stop(t)
		if !slices.Equal(attempts(got), []int{1, 2, 3}) {
			t.Fatalf("attempts = %v, want [1 2 3]", attempts(got))
		}
		if !settledAll(t, b, "orders", "g") {
			t.Fatal("the message was not acknowledged after it succeeded")
		}
		if _, ok := b.TopicStats(DefaultTopic("orders", "g")); ok {
			t.Fatal("a message that succeeded was dead-lettered")
		}
	})
}

func TestExhaustionDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBroker(t)
		sent := courier.Message{Topic: "orders", Key: "customer-7", Value: []byte{0xff, 0, 'x'},
			Headers: map[string]string{"trace": "abc"}}
		p := producer(t, b)
		send(t, p, sent)
		h := newCollector(func(courier.Message) error { return errors.New("db said \xffno") })
		start := time.Now()
		c := consume(t, b, orders("billing", 3, deadLetterTo(t, producer(t, b), DeadLetterConfig{Group: "billing"})), h)

		letter, info := firstDeadLetter(t, b, "orders.billing.dlq")
		c.stop(t)
		if got := attempts(h.all()); !slices.Equal(got, []int{1, 2, 3}) {
			t.Fatalf("handler attempts = %v, want [1 2 3]", got)
		}
		if !settledAll(t, b, "orders", "billing") {
			t.Fatal("the dead-lettered message was not acknowledged")
		}
		orig := h.all()[0]
		if letter.ID != orig.ID || letter.Key != sent.Key || string(letter.Value) != string(sent.Value) || !letter.Timestamp.Equal(orig.Timestamp) {
			t.Fatalf("dead letter %+v does not carry the original %+v", letter, orig)
		}
		if info.OriginalTopic != "orders" || info.OriginalKey != "customer-7" || info.Group != "billing" ||
			info.Reason != ReasonExhausted || info.Attempts != 3 || info.FirstFailureAttempt != 1 || info.ReplayCount != 0 {
			t.Fatalf("info = %+v", info)
		}
		if info.Error != "db said \uFFFDno" {
			t.Fatalf("error header %q, want the error text made valid UTF-8", info.Error)
		}
		// The bubble's clock: the first failure at once, the last two backoffs later.
		if !info.FirstFailure.Equal(start) || info.LastFailure.Sub(info.FirstFailure) != 2*time.Second {
			t.Fatalf("failure times %v .. %v, want %v and two seconds later", info.FirstFailure, info.LastFailure, start)
		}
		if letter.Headers["trace"] != "abc" {
			t.Fatalf("user header lost: %v", letter.Headers)
		}
	})
}

func TestPermanentSkipsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBroker(t)
		send(t, producer(t, b), courier.Message{Topic: "orders", Value: []byte("bad json")})
		h := newCollector(func(courier.Message) error { return Permanent(errors.New("cannot parse")) })
		c := consume(t, b, orders("g", 5, deadLetterTo(t, producer(t, b), DeadLetterConfig{Group: "g", Topic: "poison"})), h)
		_, info := firstDeadLetter(t, b, "poison")
		c.stop(t)
		if n := len(h.all()); n != 1 {
			t.Fatalf("handler called %d times, want 1", n)
		}
		if info.Reason != ReasonPermanent || info.Attempts != 1 || info.Error != "cannot parse" {
			t.Fatalf("info = %+v", info)
		}
		if !settledAll(t, b, "orders", "g") {
			t.Fatal("not acknowledged")
		}
	})
}

// TestFailedPublishRetriesInPlace: while the dead-letter topic is unavailable, the hook is
// tried again after the backoff without handling the message again, the next message of its
// key waits, and the message is acknowledged only once its dead letter is published.
func TestFailedPublishRetriesInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBroker(t)
		send(t, producer(t, b), courier.Message{Topic: "orders", Key: "k", Value: []byte("bad")},
			courier.Message{Topic: "orders", Key: "k", Value: []byte("next")})
		flaky := &flakyProducer{Producer: producer(t, b), fails: 2}
		h := newCollector(func(m courier.Message) error {
			if string(m.Value) == "bad" {
				return errors.New("always")
			}
			if flaky.firstPublished().IsZero() {
				t.Error("the next message of the key ran before the dead letter was published")
			}
			return nil
		})
		start := time.Now()
		c := consume(t, b, orders("g", 1, deadLetterTo(t, flaky, DeadLetterConfig{Group: "g"})), h)
		_, info := firstDeadLetter(t, b, DefaultTopic("orders", "g"))
		got := h.wait(t, 2)
		c.stop(t)
		if vals := []string{string(got[0].Value), string(got[1].Value)}; !slices.Equal(vals, []string{"bad", "next"}) || len(h.all()) != 2 {
			t.Fatalf("handled %q: want the failing message once, then the next", vals)
		}
		if took := flaky.firstPublished().Sub(start); took != 2*time.Second {
			t.Fatalf("dead letter published after %v, want two backoffs of a second", took)
		}
		if info.Attempts != 1 || info.FirstFailureAttempt != 1 {
			t.Fatalf("info = %+v, want the handler's one attempt", info)
		}
		if !settledAll(t, b, "orders", "g") {
			t.Fatal("not acknowledged after the publish succeeded")
		}
	})
}

// TestAttemptsCountAcrossRedeliveries stops a consumer in the middle of its backoff; the next
// consumer of the group gets the message with Attempt 2 and MaxAttempts counts on from there.
func TestAttemptsCountAcrossRedeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBroker(t)
		send(t, producer(t, b), courier.Message{Topic: "orders", Value: []byte("x")})
		h := newCollector(func(courier.Message) error { return errors.New("always") })
		dl := deadLetterTo(t, producer(t, b), DeadLetterConfig{Group: "g"})
		slow := orders("g", 3, dl)
		slow.Backoff = courier.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}
		first := consume(t, b, slow, h)
		h.wait(t, 1)
		first.stop(t) // the message waits out an hour-long backoff: Close hands it back

		consume(t, b, orders("g", 3, dl), h)
		_, info := firstDeadLetter(t, b, DefaultTopic("orders", "g"))
		if got := attempts(h.all()); !slices.Equal(got, []int{1, 2, 3}) {
			t.Fatalf("handler attempts = %v, want [1 2 3] across two consumers", got)
		}
		if info.Attempts != 3 || info.FirstFailureAttempt != 2 {
			t.Fatalf("info = %+v: want 3 attempts, first failure seen here at attempt 2", info)
		}
	})
}

// TestHookByHand: the hook also takes a plain error, and fails (so the message is not
// acknowledged) when the publish cannot be made.
func TestHookByHand(t *testing.T) {
	p := &recordingProducer{}
	dl := deadLetterTo(t, p, DeadLetterConfig{Group: "g"})
	msg := courier.Message{ID: "m1", Topic: "orders", Key: "k", Attempt: 4, Value: []byte("v"),
		Headers: map[string]string{HeaderError: "stale", "trace": "t"}}
	if err := dl(context.Background(), msg, Permanent(errors.New("bad"))); err != nil {
		t.Fatal(err)
	}
	letter := p.sent[0]
	info, err := ParseInfo(letter)
	if err != nil || letter.Topic != "orders.g.dlq" || info.Attempts != 4 || info.FirstFailureAttempt != 4 ||
		info.Reason != ReasonPermanent || info.Error != "bad" || letter.Headers["trace"] != "t" {
		t.Fatalf("letter %+v, info %+v, err %v", letter, info, err)
	}
	p.err = errFlaky
	err = dl(context.Background(), msg, errors.New("x"))
	if !errors.Is(err, errFlaky) || !strings.Contains(err.Error(), `dead-letter topic "orders.g.dlq"`) {
		t.Fatalf("failed publish: %v", err)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("base")
	err := Permanent(base)
	if !IsPermanent(err) || !courier.IsPermanent(err) || !errors.Is(err, base) || err.Error() != "base" {
		t.Fatalf("Permanent: %v", err)
	}
	if IsPermanent(base) || Permanent(nil) != nil {
		t.Fatal("IsPermanent(base) or Permanent(nil)")
	}
}

func TestConfigs(t *testing.T) {
	if _, err := DeadLetter(&flakyProducer{}, DeadLetterConfig{}); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "empty Group") {
		t.Errorf("DeadLetter without group: %v", err)
	}
	if _, err := DeadLetter(nil, DeadLetterConfig{Group: "g"}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("DeadLetter nil producer: %v", err)
	}
	if err := (ReplayOptions{Limit: -1, IdleTimeout: -1}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "negative Limit") || !strings.Contains(err.Error(), "negative IdleTimeout") {
		t.Errorf("ReplayOptions: %v", err)
	}
}

func TestParseInfoNeverPanics(t *testing.T) {
	for _, c := range []struct {
		name    string
		headers map[string]string
		want    []string // substrings of the error
		check   func(Info) bool
	}{
		{"nil headers", nil, []string{HeaderOriginalTopic}, func(i Info) bool { return i == Info{} }},
		{"not numbers", map[string]string{HeaderOriginalTopic: "t", HeaderAttempts: "three", HeaderReplayCount: "-1", HeaderFirstFailureAttempt: "1e9"},
			[]string{HeaderAttempts, HeaderReplayCount, HeaderFirstFailureAttempt}, func(i Info) bool { return i.OriginalTopic == "t" && i.Attempts == 0 }},
		{"overflow", map[string]string{HeaderOriginalTopic: "t", HeaderAttempts: "99999999999999999999999"},
			[]string{HeaderAttempts}, nil},
		{"bad times", map[string]string{HeaderOriginalTopic: "t", HeaderFirstFailure: "yesterday", HeaderLastFailure: ""},
			[]string{HeaderFirstFailure, HeaderLastFailure}, func(i Info) bool { return i.FirstFailure.IsZero() }},
		{"padded but fine", map[string]string{HeaderOriginalTopic: "t", HeaderAttempts: " 4 ", HeaderLastFailure: "2026-11-26T10:00:00.5Z"},
			nil, func(i Info) bool {
				return i.Attempts == 4 && i.LastFailure.Equal(time.Date(2026, 11, 26, 10, 0, 0, 5e8, time.UTC))
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			info, err := ParseInfo(courier.Message{ID: "id", Topic: "dead", Headers: c.headers})
			if len(c.want) == 0 && err != nil {
				t.Fatalf("ParseInfo: %v", err)
			}
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not name %s", err, w)
				}
			}
			if c.check != nil && !c.check(info) {
				t.Errorf("info = %+v", info)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	long := strings.Repeat("é", MaxErrorBytes) // two bytes each: a cut can split one
	s := errorText(errors.New(long))
	if len(s) > MaxErrorBytes || !strings.HasSuffix(s, "...") || !strings.HasPrefix(s, "é") {
		t.Fatalf("len %d, %q...", len(s), s[:10])
	}
	if !utf8.ValidString(s) {
		t.Fatal("not valid UTF-8")
	}
	if errorText(nil) != "" {
		t.Fatal("errorText(nil)")
	}
}
