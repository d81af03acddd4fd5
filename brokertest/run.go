package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/google/uuid"
)

// Run runs every conformance case against the harness, each as a subtest on a fresh broker.
// Cases do not run in parallel, so that the goroutine check of each is exact.
func Run(t *testing.T, h Harness, caps Capabilities) {
	if h.NewBroker == nil {
		t.Fatal("brokertest: Harness.NewBroker is required")
	}
	caps = caps.withDefaults()
	cases := []struct {
		name string
		fn   func(*env)
	}{
		{"RoundTrip", testRoundTrip},
		{"FillsIDAndTimestamp", testFillsIDAndTimestamp},
		{"NilAndEmptyValue", testNilAndEmptyValue},
		{"LargeValue", testLargeValue},
		{"TooLarge", testTooLarge},
		{"InvalidInput", testInvalidInput},
		{"SendBatch", testSendBatch},
		{"SendBatchReportsFailures", testSendBatchReportsFailures},
		{"NoLossConcurrentProducers", testNoLossConcurrentProducers},
		{"TwoGroupsEachGetEverything", testTwoGroups},
		{"GroupMembersShare", testGroupMembersShare},
		{"PerKeyOrder", testPerKeyOrder},
		{"KeyOrderAcrossGroup", testKeyOrderAcrossGroup},
		{"DifferentKeysInParallel", testDifferentKeysInParallel},
		{"RedeliveryKeepsPlace", testRedeliveryKeepsPlace},
		{"PanicIsRedelivered", testPanicIsRedelivered},
		{"MaxAttempts", testMaxAttempts},
		{"MaxAttemptsAcrossConsumers", testMaxAttemptsAcrossConsumers},
		{"StopConsumer", testStopConsumer},
		{"ClosedMidHandlingRedelivers", testClosedMidHandling},
		{"CloseEndsConsume", testCloseEndsConsume},
		{"ContextEndsConsume", testContextEndsConsume},
		{"ConsumeAgainAfterContextEnds", testConsumeAgain},
		{"ErrClosed", testErrClosed},
		{"TopicIsolation", testTopicIsolation},
		{"OneGroupTwoTopics", testOneGroupTwoTopics},
		{"MultipleTopics", testMultipleTopics},
		{"GroupCreatedBeforeSend", testGroupCreatedBeforeSend},
		{"Replay", testReplay},
		{"StartNewest", testStartNewest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(setup(t, h, caps)) })
	}
}

// sameMessage reports how got differs from sent, ignoring delivery fields.
func sameMessage(sent, got courier.Message, nilValue bool) string {
	var diffs []string
	if got.ID != sent.ID {
		diffs = append(diffs, fmt.Sprintf("ID %q, sent %q", got.ID, sent.ID))
	}
	if got.Topic != sent.Topic {
		diffs = append(diffs, fmt.Sprintf("Topic %q, sent %q", got.Topic, sent.Topic))
	}
	if got.Key != sent.Key {
		diffs = append(diffs, fmt.Sprintf("Key %q, sent %q", got.Key, sent.Key))
	}
	if !bytes.Equal(got.Value, sent.Value) {
		diffs = append(diffs, fmt.Sprintf("Value of %d bytes differs from the %d sent", len(got.Value), len(sent.Value)))
	}
	if nilValue && (got.Value == nil) != (sent.Value == nil) {
		diffs = append(diffs, fmt.Sprintf("Value nil=%v, sent nil=%v", got.Value == nil, sent.Value == nil))
	}
	if len(got.Headers) != len(sent.Headers) || !maps.Equal(got.Headers, sent.Headers) {
		diffs = append(diffs, fmt.Sprintf("Headers %q, sent %q", got.Headers, sent.Headers))
	}
	if !got.Timestamp.Equal(sent.Timestamp) {
		diffs = append(diffs, fmt.Sprintf("Timestamp %v, sent %v", got.Timestamp, sent.Timestamp))
	}
	if got.Attempt < 1 {
		diffs = append(diffs, fmt.Sprintf("Attempt %d, want >= 1", got.Attempt))
	}
	return strings.Join(diffs, "; ")
}

// roundTrip sends msgs on a fresh group and checks each arrives unchanged.
func (e *env) roundTrip(msgs []courier.Message) {
	t := e.t
	topic := e.topic()
	c := e.consumer(e.config(e.group(), 1, topic))
	col := newCollector()
	e.consume(context.Background(), c, col)
	p := e.producer()
	for i := range msgs {
		msgs[i].Topic = topic
	}
	e.send(p, msgs...)
	col.waitUnique(t, len(msgs), e.caps.Timeout)
	for _, sent := range msgs {
		got := col.get(sent.ID)
		if len(got) == 0 {
			t.Errorf("message %s not delivered", sent.ID)
			continue
		}
		if d := sameMessage(sent, got[0], e.caps.NilValue); d != "" {
			t.Errorf("message %s: %s", sent.ID, d)
		}
	}
}

func testRoundTrip(e *env) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC)
	e.roundTrip([]courier.Message{
		{ID: "plain", Key: "k1", Value: []byte("hello"), Timestamp: ts},
		{ID: "binary", Key: "k2", Value: binary, Timestamp: ts.Add(time.Second)},
		{ID: "invalid-utf8", Value: []byte{0xff, 0xfe, 0x00, 0xc3, 0x28}, Timestamp: ts},
		{ID: "unicode", Key: "ключ-🔑", Value: []byte("héllo wörld ✓"), Timestamp: ts.In(time.FixedZone("X", 3600)),
			Headers: map[string]string{"content-type": "text/plain; charset=utf-8", "ünïcödé": "値 ✓ 🚀", "empty": "", "spaces in key": " padded "}},
		{ID: "many-headers", Value: []byte("h"), Timestamp: ts, Headers: manyHeaders(50)},
		{ID: uuid.NewString(), Value: []byte("uuid id"), Timestamp: ts},
	})
}

func manyHeaders(n int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h[fmt.Sprintf("h%02d", i)] = strings.Repeat("v", i)
	}
	return h
}

func testFillsIDAndTimestamp(e *env) {
	t := e.t
	topic := e.topic()
	c := e.consumer(e.config(e.group(), 1, topic))
	col := newCollector()
	e.consume(context.Background(), c, col)
	// A second group gets the same ID: whether Send writes it or the consumer derives it
	// from the record, a message has one ID.
	other := newCollector()
	e.consume(context.Background(), e.consumer(e.config(e.group(), 1, topic)), other)
	before := time.Now().Add(-time.Second)
	e.send(e.producer(), courier.Message{Topic: topic, Value: []byte("x")})
	col.waitUnique(t, 1, e.caps.Timeout)
	other.waitUnique(t, 1, e.caps.Timeout)
	got := col.all()[0]
	if id := other.all()[0].ID; id != got.ID {
		t.Errorf("two groups got IDs %q and %q for one message", got.ID, id)
	}
	id, err := uuid.Parse(got.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("filled ID %q is not a UUIDv7 (err %v)", got.ID, err)
	}
	if got.Timestamp.Before(before) || got.Timestamp.After(time.Now().Add(time.Second)) {
		t.Errorf("filled Timestamp %v is not the send time", got.Timestamp)
	}
	if got.Attempt != 1 {
		t.Errorf("first delivery has Attempt %d, want 1", got.Attempt)
	}
}

func testNilAndEmptyValue(e *env) {
	e.roundTrip([]courier.Message{
		{ID: "nil", Value: nil, Timestamp: time.Now()},
		{ID: "empty", Value: []byte{}, Timestamp: time.Now()},
	})
}

func testLargeValue(e *env) {
	const size = 1 << 20
	if e.caps.MaxMessageBytes > 0 && e.caps.MaxMessageBytes < size+1024 {
		e.t.Skipf("broker's MaxMessageBytes %d is below 1 MiB", e.caps.MaxMessageBytes)
	}
	v := make([]byte, size)
	for i := range v {
		v[i] = byte(i*7 + i>>8)
	}
	e.roundTrip([]courier.Message{{ID: "large", Key: "big", Value: v, Timestamp: time.Now()}})
}

func testTooLarge(e *env) {
	if e.caps.MaxMessageBytes <= 0 {
		e.t.Skip("capability MaxMessageBytes not declared: the broker's size limit is not tested")
	}
	p := e.producer()
	err := p.Send(context.Background(), courier.Message{Topic: e.topic(), Value: make([]byte, e.caps.MaxMessageBytes+1)})
	expectErr(e.t, "Send over MaxMessageBytes", err, courier.ErrMessageTooLarge)
}

func testInvalidInput(e *env) {
	t := e.t
	p := e.producer()
	ctx := context.Background()
	topic := e.topic()
	expectErr(t, "Send with empty topic", p.Send(ctx, courier.Message{Value: []byte("x")}), courier.ErrInvalidMessage)
	expectErr(t, "Send with empty header key", p.Send(ctx, courier.Message{Topic: topic, Headers: map[string]string{"": "v"}}), courier.ErrInvalidMessage)
	expectErr(t, "Send with reserved header key", p.Send(ctx, courier.Message{Topic: topic, Headers: map[string]string{courier.ReservedHeaderPrefix + "id": "v"}}), courier.ErrInvalidMessage)
	expectErr(t, "Send with non-UTF-8 header value", p.Send(ctx, courier.Message{Topic: topic, Headers: map[string]string{"k": "\xff"}}), courier.ErrInvalidMessage)
	_, err := e.b.NewConsumer(ctx, courier.ConsumerConfig{Topics: []string{topic}})
	expectErr(t, "NewConsumer without group", err, courier.ErrInvalidConfig)
	_, err = e.b.NewConsumer(ctx, courier.ConsumerConfig{Group: e.group()})
	expectErr(t, "NewConsumer without topics", err, courier.ErrInvalidConfig)
	_, err = e.b.NewConsumer(ctx, courier.ConsumerConfig{Group: e.group(), Topics: []string{topic}, Concurrency: -1})
	expectErr(t, "NewConsumer with negative concurrency", err, courier.ErrInvalidConfig)
	c := e.consumer(e.config(e.group(), 1, topic))
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, nil) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Consume with a nil handler: no error")
		}
	case <-time.After(e.caps.Timeout):
		_ = c.Close()
		<-done
		t.Error("Consume with a nil handler did not return an error")
	}
}

func testSendBatch(e *env) {
	t := e.t
	topic := e.topic()
	c := e.consumer(e.config(e.group(), 4, topic))
	col := newCollector()
	e.consume(context.Background(), c, col)
	var msgs []courier.Message
	for _, id := range ids("batch", 100) {
		msgs = append(msgs, courier.Message{ID: id, Topic: topic, Key: id[len(id)-1:], Value: []byte(id)})
	}
	if err := e.producer().SendBatch(context.Background(), msgs); err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	col.waitUnique(t, len(msgs), e.caps.Timeout)
	for _, m := range msgs {
		if got := col.get(m.ID); len(got) == 0 || !bytes.Equal(got[0].Value, m.Value) {
			t.Errorf("message %s: delivered %v", m.ID, got)
		}
	}
}

func testSendBatchReportsFailures(e *env) {
	t := e.t
	topic := e.topic()
	c := e.consumer(e.config(e.group(), 1, topic))
	col := newCollector()
	e.consume(context.Background(), c, col)
	msgs := []courier.Message{
		{ID: "ok-0", Topic: topic, Value: []byte("a")},
		{ID: "bad-1", Topic: "", Value: []byte("b")},
		{ID: "ok-2", Topic: topic, Value: []byte("c")},
		{ID: "bad-3", Topic: topic, Headers: map[string]string{"": "x"}},
	}
	err := e.producer().SendBatch(context.Background(), msgs)
	var be *courier.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("SendBatch with invalid messages = %v, want a *courier.BatchError", err)
	}
	if got := be.Failed(); fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("BatchError.Failed() = %v, want [1 3] (%v)", got, err)
	}
	if !errors.Is(err, courier.ErrInvalidMessage) {
		t.Errorf("BatchError does not wrap ErrInvalidMessage: %v", err)
	}
	col.waitUnique(t, 2, e.caps.Timeout) // the valid ones were sent
	if len(col.get("ok-0")) == 0 || len(col.get("ok-2")) == 0 {
		t.Errorf("valid messages of the batch not delivered")
	}
}

func testNoLossConcurrentProducers(e *env) {
	t := e.t
	const producers = 4
	topic := e.topic()
	c := e.consumer(e.config(e.group(), 8, topic))
	col := newCollector()
	e.consume(context.Background(), c, col)
	per := e.caps.Messages / producers
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := e.b.NewProducer(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer p.Close()
			for j, id := range ids(fmt.Sprint("p", i), per) {
				m := courier.Message{ID: id, Topic: topic, Value: []byte(id)}
				if j%3 == 0 {
					m.Key = fmt.Sprint("key", j%11)
				}
				if err := p.Send(context.Background(), m); err != nil {
					errs <- fmt.Errorf("producer %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	col.waitUnique(t, producers*per, e.caps.Timeout)
	t.Logf("%d messages from %d producers delivered, %d duplicates", producers*per, producers, col.duplicates())
}

func testTwoGroups(e *env) {
	t := e.t
	topic := e.topic()
	cols := []*collector{newCollector(), newCollector()}
	for _, col := range cols {
		e.consume(context.Background(), e.consumer(e.config(e.group(), 2, topic)), col)
	}
	n := e.caps.Messages / 4
	p := e.producer()
	for _, id := range ids("m", n) {
		e.send(p, courier.Message{ID: id, Topic: topic, Value: []byte(id)})
	}
	for i, col := range cols {
		col.waitUnique(t, n, e.caps.Timeout)
		t.Logf("group %d: %d messages, %d duplicates", i, n, col.duplicates())
	}
}

func testGroupMembersShare(e *env) {
	t := e.t
	topic := e.topic()
	group := e.group()
	// First consumer holds its first message until the second has received one: the
	// group must hand the second consumer messages while the first is busy.
	col := newCollector()
	var first, second atomic.Int64
	secondGotOne := make(chan struct{})
	var once sync.Once
	handlerFor := func(mine *atomic.Int64, blocks bool) courier.HandlerFunc {
		return func(ctx context.Context, m courier.Message) error {
			if mine.Add(1) == 1 && blocks {
				select {
				case <-secondGotOne:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if !blocks {
				once.Do(func() { close(secondGotOne) })
			}
			return col.HandleMessage(ctx, m)
		}
	}
	c1 := e.consumer(e.config(group, 1, topic))
	c2 := e.consumer(e.config(group, 1, topic))
	e.consume(context.Background(), c1, handlerFor(&first, true))
	n := e.caps.Messages / 2
	p := e.producer()
	var msgs []courier.Message
	for _, id := range ids("shared", n) {
		msgs = append(msgs, courier.Message{ID: id, Topic: topic, Value: []byte(id)})
	}
	e.send(p, msgs...)
	e.consume(context.Background(), c2, handlerFor(&second, false))
	col.waitUnique(t, n, e.caps.Timeout)
	t.Logf("consumer 1 handled %d, consumer 2 handled %d, %d duplicates", first.Load(), second.Load(), col.duplicates())
	if second.Load() == 0 {
		t.Error("the second consumer of the group received nothing")
	}
}

func testPerKeyOrder(e *env) {
	t := e.t
	const keys = 8
	perKey := max(e.caps.Messages/(2*keys), 10)
	topic := e.topic()
	var mu sync.Mutex
	next := map[string]int{}
	busy := map[string]bool{}
	var violations []string
	var parallel, inFlight atomic.Int64
	col := newCollector()
	col.handle = func(ctx context.Context, m courier.Message) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		if n > 1 {
			parallel.Add(1)
		}
		seq, err := seqOf(m.ID)
		if err != nil {
			return err
		}
		mu.Lock()
		if busy[m.Key] {
			violations = append(violations, fmt.Sprintf("key %s: %s ran while another message of the key was running", m.Key, m.ID))
		}
		busy[m.Key] = true
		if seq != next[m.Key] {
			violations = append(violations, fmt.Sprintf("key %s: got seq %d, want %d", m.Key, seq, next[m.Key]))
		}
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // widen the window in which a second message of the key could overlap
		if seq%7 == 3 && m.Attempt == 1 {
			mu.Lock()
			busy[m.Key] = false
			mu.Unlock()
			return errors.New("fail first attempt") // redelivered in place
		}
		mu.Lock()
		next[m.Key] = seq + 1
		busy[m.Key] = false
		mu.Unlock()
		return nil
	}
	e.consume(context.Background(), e.consumer(e.config(e.group(), 8, topic)), col)
	p := e.producer()
	msgs := keyedMessages(topic, keys, perKey, 0)
	if err := p.SendBatch(context.Background(), msgs); err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	col.waitUnique(t, len(msgs), e.caps.Timeout)
	mu.Lock()
	defer mu.Unlock()
	for i, v := range violations {
		if i == 10 {
			t.Errorf("... %d violations in all", len(violations))
			break
		}
		t.Error(v)
	}
	t.Logf("%d keys x %d messages in order; handlers overlapped %d times", keys, perKey, parallel.Load())
}

func testDifferentKeysInParallel(e *env) {
	t := e.t
	topic := e.topic()
	started := make(chan string, 4)
	both := make(chan struct{})
	col := newCollector()
	col.handle = func(ctx context.Context, m courier.Message) error {
		started <- m.Key
		select {
		case <-both:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.consume(context.Background(), e.consumer(e.config(e.group(), 2, topic)), col)
	e.send(e.producer(),
		courier.Message{ID: "a", Topic: topic, Key: "key-a", Value: []byte("a")},
		courier.Message{ID: "b", Topic: topic, Key: "key-b", Value: []byte("b")})
	timeout := time.After(e.caps.Timeout)
	for range 2 {
		select {
		case <-started:
		case <-timeout:
			close(both)
			t.Fatal("messages of two different keys did not run at the same time with Concurrency 2")
		}
	}
	close(both)
	col.waitUnique(t, 2, e.caps.Timeout)
}

func testRedeliveryKeepsPlace(e *env) {
	t := e.t
	topic := e.topic()
	var mu sync.Mutex
	var seen []string
	col := newCollector()
	col.handle = func(ctx context.Context, m courier.Message) error {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s@%d", m.ID, m.Attempt))
		mu.Unlock()
		if m.ID == "first" && m.Attempt < 3 {
			return errors.New("transient failure")
		}
		return nil
	}
	e.consume(context.Background(), e.consumer(e.config(e.group(), 4, topic)), col)
	e.send(e.producer(),
		courier.Message{ID: "first", Topic: topic, Key: "k", Value: []byte("1")},
		courier.Message{ID: "second", Topic: topic, Key: "k", Value: []byte("2")})
	col.waitUnique(t, 2, e.caps.Timeout)
	mu.Lock()
	defer mu.Unlock()
	if want := "[first@1 first@2 first@3 second@1]"; fmt.Sprint(seen) != want {
		t.Errorf("handled %v, want %s: retried with Attempt counting up, before the next message of its key", seen, want)
	}
}

func testPanicIsRedelivered(e *env) {
	t := e.t
	topic := e.topic()
	col := newCollector()
	col.handle = func(ctx context.Context, m courier.Message) error {
		if m.Attempt == 1 {
			panic("handler bug")
		}
		return nil
	}
	e.consume(context.Background(), e.consumer(e.config(e.group(), 1, topic)), col)
	e.send(e.producer(), courier.Message{ID: "p", Topic: topic, Value: []byte("x")})
	col.waitUnique(t, 1, e.caps.Timeout)
	if got := col.get("p")[0].Attempt; got != 2 {
		t.Errorf("message after a panic delivered with Attempt %d, want 2", got)
	}
}

func testClosedMidHandling(e *env) {
	t := e.t
	topic := e.topic()
	group := e.group()
	cfg := e.config(group, 1, topic)
	cfg.DrainTimeout = 100 * time.Millisecond
	inHandler := make(chan struct{})
	var once sync.Once
	first := e.consumer(cfg)
	r := e.consume(context.Background(), first, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		once.Do(func() { close(inHandler) })
		<-ctx.Done() // stuck until the drain time is over
		return ctx.Err()
	}))
	var msgs []courier.Message
	for _, id := range ids("unacked", 5) {
		msgs = append(msgs, courier.Message{ID: id, Topic: topic, Value: []byte(id)})
	}
	e.send(e.producer(), msgs...)
	select {
	case <-inHandler:
	case <-time.After(e.caps.Timeout):
		t.Fatal("first consumer got no message")
	}
	second := e.consumer(cfg)
	col := newCollector()
	e.consume(context.Background(), second, col)
	e.stop(r)
	col.waitUnique(t, len(msgs), e.caps.Timeout)
	t.Logf("second consumer got all %d messages the first did not finish; %d duplicates", len(msgs), col.duplicates())
}

func testCloseEndsConsume(e *env) {
	topic := e.topic()
	c := e.consumer(e.config(e.group(), 4, topic))
	col := newCollector()
	r := e.consume(context.Background(), c, col)
	e.send(e.producer(), courier.Message{ID: "x", Topic: topic, Value: []byte("x")})
	col.waitUnique(e.t, 1, e.caps.Timeout)
	start := time.Now()
	e.stop(r)
	e.t.Logf("Consume returned %v after Close", time.Since(start))
	if err := c.Close(); err != nil {
		e.t.Errorf("second Close: %v", err)
	}
}

func testContextEndsConsume(e *env) {
	topic := e.topic()
	c := e.consumer(e.config(e.group(), 4, topic))
	ctx, cancel := context.WithCancel(context.Background())
	r := e.consume(ctx, c, newCollector())
	cancel()
	if err := r.wait(e.caps.Timeout); err != nil {
		e.t.Fatalf("after ctx cancel: %v", err)
	}
}

func testErrClosed(e *env) {
	t := e.t
	ctx := context.Background()
	topic := e.topic()
	p := e.producer()
	e.send(p, courier.Message{Topic: topic, Value: []byte("before close")})
	if err := p.Close(); err != nil {
		t.Fatalf("producer Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second producer Close: %v", err)
	}
	expectErr(t, "Send after producer Close", p.Send(ctx, courier.Message{Topic: topic, Value: []byte("x")}), courier.ErrClosed)
	expectErr(t, "SendBatch after producer Close", p.SendBatch(ctx, []courier.Message{{Topic: topic}}), courier.ErrClosed)

	c := e.consumer(e.config(e.group(), 1, topic))
	if err := c.Close(); err != nil {
		t.Fatalf("consumer Close: %v", err)
	}
	expectErr(t, "Consume after Close", c.Consume(ctx, newCollector()), courier.ErrClosed)

	p2 := e.producer()
	if err := e.b.Close(); err != nil {
		t.Fatalf("broker Close: %v", err)
	}
	expectErr(t, "Send after broker Close", p2.Send(ctx, courier.Message{Topic: topic, Value: []byte("x")}), courier.ErrClosed)
	_, err := e.b.NewProducer(ctx)
	expectErr(t, "NewProducer after broker Close", err, courier.ErrClosed)
	_, err = e.b.NewConsumer(ctx, e.config(e.group(), 1, topic))
	expectErr(t, "NewConsumer after broker Close", err, courier.ErrClosed)
}

func testTopicIsolation(e *env) {
	t := e.t
	a, b := e.topic(), e.topic()
	colA, colB := newCollector(), newCollector()
	group := e.group()
	e.consume(context.Background(), e.consumer(e.config(group, 1, a)), colA)
	e.consume(context.Background(), e.consumer(e.config(group+"-b", 1, b)), colB)
	p := e.producer()
	e.send(p, courier.Message{ID: "to-a", Topic: a, Value: []byte("a")})
	e.send(p, courier.Message{ID: "to-b", Topic: b, Value: []byte("b")})
	colA.waitUnique(t, 1, e.caps.Timeout)
	colB.waitUnique(t, 1, e.caps.Timeout)
	// Each topic is ordered by itself: a message sent after the one above, on the other
	// topic, would have been seen by now if topics leaked into each other.
	e.send(p, courier.Message{ID: "to-a-2", Topic: a, Key: "k", Value: []byte("a")})
	colA.waitUnique(t, 2, e.caps.Timeout)
	for _, m := range colA.all() {
		if m.Topic != a {
			t.Errorf("consumer of %q got %s from %q", a, m.ID, m.Topic)
		}
	}
	for _, m := range colB.all() {
		if m.Topic != b || m.ID != "to-b" {
			t.Errorf("consumer of %q got %s from %q", b, m.ID, m.Topic)
		}
	}
}

func testMultipleTopics(e *env) {
	t := e.t
	a, b := e.topic(), e.topic()
	col := newCollector()
	e.consume(context.Background(), e.consumer(e.config(e.group(), 2, a, b)), col)
	p := e.producer()
	e.send(p, courier.Message{ID: "a", Topic: a, Value: []byte("a")}, courier.Message{ID: "b", Topic: b, Value: []byte("b")})
	col.waitUnique(t, 2, e.caps.Timeout)
	if col.get("a")[0].Topic != a || col.get("b")[0].Topic != b {
		t.Errorf("delivered topics %q and %q, want %q and %q", col.get("a")[0].Topic, col.get("b")[0].Topic, a, b)
	}
}

func testGroupCreatedBeforeSend(e *env) {
	t := e.t
	topic := e.topic()
	for _, start := range []courier.StartPosition{courier.StartOldest, courier.StartNewest} {
		cfg := e.config(e.group(), 1, topic)
		cfg.StartFrom = start
		c := e.consumer(cfg) // the group exists from here on
		id := "sent-before-consume-" + start.String()
		e.send(e.producer(), courier.Message{ID: id, Topic: topic, Value: []byte("x")})
		col := newCollector()
		e.consume(context.Background(), c, col)
		waitUntil(t, e.caps.Timeout, "message sent between NewConsumer and Consume ("+start.String()+")", col.changed,
			func() bool { return len(col.get(id)) > 0 })
	}
}

func testReplay(e *env) {
	if !e.caps.Replay {
		e.t.Skip("capability Replay not declared: a group created after a message was sent does not receive it on this broker")
	}
	t := e.t
	topic := e.topic()
	e.send(e.producer(), courier.Message{ID: "old", Topic: topic, Value: []byte("x")})
	col := newCollector()
	e.consume(context.Background(), e.consumer(e.config(e.group(), 1, topic)), col)
	col.waitUnique(t, 1, e.caps.Timeout)
}

func testStartNewest(e *env) {
	t := e.t
	topic := e.topic()
	p := e.producer()
	e.send(p, courier.Message{ID: "old", Topic: topic, Key: "k", Value: []byte("old")})
	cfg := e.config(e.group(), 1, topic)
	cfg.StartFrom = courier.StartNewest
	col := newCollector()
	e.consume(context.Background(), e.consumer(cfg), col)
	e.send(p, courier.Message{ID: "new", Topic: topic, Key: "k", Value: []byte("new")})
	col.waitUnique(t, 1, e.caps.Timeout)
	// Same key, so a replayed "old" would have come before "new".
	if first := col.all()[0].ID; first != "new" {
		t.Errorf("a StartNewest group first got %q, want the message sent after it was created", first)
	}
}

func testConsumeAgain(e *env) {
	t := e.t
	topic := e.topic()
	c := e.consumer(e.config(e.group(), 1, topic))
	first := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	r := e.consume(ctx, c, first)
	p := e.producer()
	e.send(p, courier.Message{ID: "before", Topic: topic, Value: []byte("1")})
	first.waitUnique(t, 1, e.caps.Timeout)
	cancel()
	if err := r.wait(e.caps.Timeout); err != nil {
		t.Fatalf("after ctx cancel: %v", err)
	}
	// The consumer is not closed: Consume may run again and goes on where the group is.
	second := newCollector()
	e.consume(context.Background(), c, second)
	e.send(p, courier.Message{ID: "after", Topic: topic, Value: []byte("2")})
	waitUntil(t, e.caps.Timeout, "the message sent after Consume ran again", second.changed,
		func() bool { return len(second.get("after")) > 0 })
}
