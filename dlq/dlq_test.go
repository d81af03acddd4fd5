package dlq

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/courier-go/courier"
)

func TestRetryThenSuccess(t *testing.T) {
	b := newBroker(t)
	send(t, producer(t, b), courier.Message{Topic: "orders", Value: []byte("o1")})
	h := newCollector(func(m courier.Message) error {
		if m.Attempt < 3 {
			return errors.New("flaky")
		}
		return nil
	})
	retry := must(t)(Retry(RetryConfig{MaxAttempts: 5, Backoff: fast}))
	dl := must(t)(DeadLetter(producer(t, b), DeadLetterConfig{Group: "g"}))
	c := consume(t, b, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}}, courier.Chain(h, dl, retry))
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
}

func TestExhaustionDeadLetters(t *testing.T) {
	b := newBroker(t)
	sent := courier.Message{Topic: "orders", Key: "customer-7", Value: []byte{0xff, 0, 'x'},
		Headers: map[string]string{"trace": "abc"}}
	p := producer(t, b)
	send(t, p, sent)
	h := newCollector(func(courier.Message) error { return errors.New("db said \xffno") })
	retry := must(t)(Retry(RetryConfig{MaxAttempts: 3, Backoff: fast}))
	dl := must(t)(DeadLetter(producer(t, b), DeadLetterConfig{Group: "billing"}))
	start := time.Now()
	c := consume(t, b, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"}}, courier.Chain(h, dl, retry))

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
	if info.FirstFailure.Before(start.Add(-time.Second)) || info.LastFailure.Before(info.FirstFailure) || info.LastFailure.After(time.Now()) {
		t.Fatalf("failure times %v .. %v out of order (test started %v)", info.FirstFailure, info.LastFailure, start)
	}
	if letter.Headers["trace"] != "abc" {
		t.Fatalf("user header lost: %v", letter.Headers)
	}
}

func TestPermanentSkipsRetries(t *testing.T) {
	b := newBroker(t)
	send(t, producer(t, b), courier.Message{Topic: "orders", Value: []byte("bad json")})
	h := newCollector(func(courier.Message) error { return Permanent(errors.New("cannot parse")) })
	retry := must(t)(Retry(RetryConfig{MaxAttempts: 5, Backoff: fast}))
	dl := must(t)(DeadLetter(producer(t, b), DeadLetterConfig{Group: "g", Topic: "poison"}))
	c := consume(t, b, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}}, courier.Chain(h, dl, retry))
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
}

func TestFailedDeadLetterPublishRedelivers(t *testing.T) {
	b := newBroker(t)
	send(t, producer(t, b), courier.Message{Topic: "orders", Value: []byte("x")})
	h := newCollector(func(courier.Message) error { return errors.New("always") })
	retry := must(t)(Retry(RetryConfig{MaxAttempts: 1, Backoff: fast}))
	flaky := &flakyProducer{Producer: producer(t, b), fails: 2}
	dl := must(t)(DeadLetter(flaky, DeadLetterConfig{Group: "g"}))
	// Each delivery is the last attempt Retry allows; the first two dead-letter publishes fail,
	// so the message must come back twice before it lands in the dead-letter topic.
	c := consume(t, b, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}}, courier.Chain(h, dl, retry))
	_, info := firstDeadLetter(t, b, DefaultTopic("orders", "g"))
	c.stop(t)
	if got := attempts(h.all()); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("handler attempts = %v, want [1 2 3]: the message must come back after each failed publish", got)
	}
	if info.Attempts != 3 || info.FirstFailureAttempt != 3 {
		t.Fatalf("info = %+v, want attempts 3 first seen at 3", info)
	}
	if !settledAll(t, b, "orders", "g") {
		t.Fatal("not acknowledged after the publish succeeded")
	}
}

// TestAttemptsCountAcrossRedeliveries stops a consumer in the middle of Retry's backoff; the
// next consumer of the group gets the message with Attempt 2 and Retry goes on from there.
func TestAttemptsCountAcrossRedeliveries(t *testing.T) {
	b := newBroker(t)
	send(t, producer(t, b), courier.Message{Topic: "orders", Value: []byte("x")})
	h := newCollector(func(courier.Message) error { return errors.New("always") })
	dl := must(t)(DeadLetter(producer(t, b), DeadLetterConfig{Group: "g"}))
	slow := must(t)(Retry(RetryConfig{MaxAttempts: 3, Backoff: courier.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}}))
	first := consume(t, b, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}, DrainTimeout: 10 * time.Millisecond},
		courier.Chain(h, dl, slow))
	h.wait(t, 1)
	first.stop(t) // cancels the handler in its hour-long backoff: the message is handed back

	quick := must(t)(Retry(RetryConfig{MaxAttempts: 3, Backoff: fast}))
	consume(t, b, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}}, courier.Chain(h, dl, quick))
	_, info := firstDeadLetter(t, b, DefaultTopic("orders", "g"))
	if got := attempts(h.all()); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("handler attempts = %v, want [1 2 3] across two consumers", got)
	}
	if info.Attempts != 3 || info.FirstFailureAttempt != 2 {
		t.Fatalf("info = %+v: want 3 attempts, first failure seen here at attempt 2", info)
	}
}

func TestRetryStartsFromMessageAttempt(t *testing.T) {
	var seen []int
	h := courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		seen = append(seen, m.Attempt)
		return errors.New("no")
	})
	retry := must(t)(Retry(RetryConfig{MaxAttempts: 4, Backoff: fast}))
	err := retry(h).HandleMessage(context.Background(), courier.Message{Topic: "t", Attempt: 3})
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 4 || re.FirstAttempt != 3 || re.Permanent {
		t.Fatalf("got %#v, want a RetryError after attempt 4", err)
	}
	if !slices.Equal(seen, []int{3, 4}) {
		t.Fatalf("attempts = %v, want [3 4]", seen)
	}
	// Past MaxAttempts already (a dead-letter publish failed): one more try, then give up.
	seen = nil
	err = retry(h).HandleMessage(context.Background(), courier.Message{Topic: "t", Attempt: 9})
	if !errors.As(err, &re) || !slices.Equal(seen, []int{9}) {
		t.Fatalf("got %v after attempts %v, want one try", err, seen)
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h := courier.HandlerFunc(func(context.Context, courier.Message) error { cancel(); return errors.New("no") })
	retry := must(t)(Retry(RetryConfig{MaxAttempts: 5, Backoff: fast}))
	err := retry(h).HandleMessage(ctx, courier.Message{Topic: "t", Attempt: 1})
	var re *RetryError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("got %v, want the plain handler error (no giving up on shutdown)", err)
	}
	// DeadLetter must not dead-letter on shutdown either, even a permanent error.
	p := &flakyProducer{}
	dl := must(t)(DeadLetter(p, DeadLetterConfig{Group: "g"}))
	perm := courier.HandlerFunc(func(context.Context, courier.Message) error { return Permanent(errors.New("x")) })
	if err := dl(perm).HandleMessage(ctx, courier.Message{Topic: "t"}); err == nil {
		t.Fatal("a message was acknowledged on shutdown")
	}
}

func TestDeadLetterAloneCountsDeliveries(t *testing.T) {
	b := newBroker(t)
	send(t, producer(t, b), courier.Message{Topic: "orders", Value: []byte("x")})
	h := newCollector(func(courier.Message) error { return errors.New("always") })
	dl := must(t)(DeadLetter(producer(t, b), DeadLetterConfig{Group: "g", MaxAttempts: 2}))
	c := consume(t, b, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}}, dl(h))
	_, info := firstDeadLetter(t, b, DefaultTopic("orders", "g"))
	c.stop(t)
	if got := attempts(h.all()); !slices.Equal(got, []int{1, 2}) || info.Attempts != 2 || info.Reason != ReasonExhausted {
		t.Fatalf("attempts %v, info %+v", got, info)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("base")
	err := Permanent(base)
	if !IsPermanent(err) || !errors.Is(err, base) || err.Error() != "base" {
		t.Fatalf("Permanent: %v", err)
	}
	if !IsPermanent(&RetryError{Err: err}) {
		t.Fatal("IsPermanent does not see through RetryError")
	}
	if IsPermanent(base) || Permanent(nil) != nil {
		t.Fatal("IsPermanent(base) or Permanent(nil)")
	}
}

func TestConfigs(t *testing.T) {
	if _, err := Retry(RetryConfig{MaxAttempts: -1}); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "negative MaxAttempts") {
		t.Errorf("Retry: %v", err)
	}
	if _, err := Retry(RetryConfig{Backoff: courier.Backoff{Initial: -1}}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("Retry bad backoff: %v", err)
	}
	if _, err := DeadLetter(&flakyProducer{}, DeadLetterConfig{}); err == nil || !strings.Contains(err.Error(), "empty Group") {
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
}
