package pulsar_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/pulsar"
	"github.com/courier-go/courier/pulsar/pulsartest"
)

func TestOpenRegistersSchemes(t *testing.T) {
	srv, err := pulsartest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	b, err := courier.Open(ctx, srv.URL()+"?operation_timeout=5s&send_timeout=5s")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Send(ctx, courier.Message{Topic: "opened", Value: []byte("x")}); err != nil {
		t.Fatalf("Send through an opened broker: %v", err)
	}
	for _, s := range []string{"pulsar", "pulsar+ssl"} {
		found := false
		for _, r := range courier.Schemes() {
			found = found || r == s
		}
		if !found {
			t.Errorf("scheme %q not registered", s)
		}
	}
	if _, err := courier.Open(ctx, "pulsar://h:6650?bogus=1"); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("Open with an unknown parameter = %v, want ErrInvalidConfig", err)
	}
}

func TestUnreachableBroker(t *testing.T) {
	srv, err := pulsartest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	b, err := pulsar.New(t.Context(), pulsar.Config{URL: srv.URL(), OperationTimeout: 300 * time.Millisecond, ConnectionTimeout: 200 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = srv.Close() // nothing listens there any more
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Send(context.Background(), courier.Message{Topic: "t", Value: []byte("x")})
	if err == nil || !strings.HasPrefix(err.Error(), "pulsar: send t: ") {
		t.Fatalf("Send to an unreachable broker = %v, want an error naming the topic", err)
	}
	_, err = b.NewConsumer(context.Background(), courier.ConsumerConfig{Group: "g", Topics: []string{"t"}})
	if err == nil || !strings.Contains(err.Error(), `group "g"`) {
		t.Fatalf("NewConsumer on an unreachable broker = %v, want an error naming the group", err)
	}
}

func TestExclusiveGroupRefusesSecondConsumer(t *testing.T) {
	b, err := pulsar.New(t.Context(), pulsar.Config{URL: serviceURL(t), SubscriptionType: pulsar.Exclusive, OperationTimeout: 5 * time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := courier.ConsumerConfig{Group: "g", Topics: []string{"excl"}}
	c, err := b.NewConsumer(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if second, err := b.NewConsumer(context.Background(), cfg); err == nil {
		second.Close()
		t.Fatal("a second consumer joined an Exclusive group")
	}
}

// Two consumers of one Key_Shared group: each key is handled by one of them
// at a time and in the order sent, while both get work.
func TestKeySharedGroupKeepsKeyOrderAcrossConsumers(t *testing.T) {
	b := newBroker(t)
	defer b.Close()
	ctx := context.Background()
	const topic, keys, perKey = "ks-order", 10, 30
	var (
		mu      sync.Mutex
		next    = map[string]int{}
		byCons  = map[int]int{}
		total   int
		done    = make(chan struct{})
		badness []string
	)
	handler := func(id int) courier.HandlerFunc {
		return func(_ context.Context, m courier.Message) error {
			var seq int
			fmt.Sscanf(m.ID[strings.LastIndexByte(m.ID, '-')+1:], "%d", &seq)
			mu.Lock()
			defer mu.Unlock()
			if seq < next[m.Key] {
				return nil // a duplicate after a hand-over: at-least-once allows it
			}
			if seq != next[m.Key] {
				badness = append(badness, fmt.Sprintf("key %s: got %d, want %d", m.Key, seq, next[m.Key]))
			}
			next[m.Key] = seq + 1
			byCons[id]++
			if total++; total == keys*perKey {
				close(done)
			}
			return nil
		}
	}
	cfg := courier.ConsumerConfig{Group: "g", Topics: []string{topic}, Concurrency: 4}
	var wg sync.WaitGroup
	defer wg.Wait() // after the consumers' Close below
	for id := range 2 {
		c, err := b.NewConsumer(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Consume(ctx, handler(id)) }()
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var msgs []courier.Message
	for i := range perKey {
		for k := range keys {
			msgs = append(msgs, courier.Message{ID: fmt.Sprintf("k%d-%d", k, i), Topic: topic, Key: fmt.Sprint("k", k), Value: []byte("v")})
		}
	}
	if err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("handled %d of %d; next per key %v; problems %v", total, keys*perKey, next, badness)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range badness {
		t.Error(b)
	}
	if byCons[0] == 0 || byCons[1] == 0 {
		t.Errorf("work not shared: %v", byCons)
	}
}

// A message handed back when Consume ends is redelivered by the broker, and
// its Attempt comes from Pulsar's redelivery count.
func TestAttemptFromRedeliveryCount(t *testing.T) {
	b, err := pulsar.New(t.Context(), pulsar.Config{URL: serviceURL(t), NackDelay: 20 * time.Millisecond, OperationTimeout: 5 * time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"attempts"}, DrainTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Send(ctx, courier.Message{ID: "m", Topic: "attempts", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	// First Consume: the handler is still busy when Consume ends, so the
	// message goes back to the broker unhandled.
	first, stop := context.WithCancel(ctx)
	entered := make(chan int, 1)
	consumed := make(chan error, 1)
	go func() {
		consumed <- c.Consume(first, courier.HandlerFunc(func(hctx context.Context, m courier.Message) error {
			entered <- m.Attempt
			<-hctx.Done()
			return hctx.Err()
		}))
	}()
	select {
	case a := <-entered:
		if a != 1 {
			t.Fatalf("first delivery has Attempt %d", a)
		}
	case <-time.After(wait):
		t.Fatal("no delivery")
	}
	stop()
	if err := <-consumed; err != nil {
		t.Fatalf("Consume: %v", err)
	}

	second, stop2 := context.WithCancel(ctx)
	defer stop2()
	got := make(chan int, 1)
	go func() {
		consumed <- c.Consume(second, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			got <- m.Attempt
			return nil
		}))
	}()
	select {
	case a := <-got:
		if a != 2 {
			t.Fatalf("redelivered message has Attempt %d, want 2", a)
		}
	case <-time.After(wait):
		t.Fatal("message not redelivered")
	}
	stop2()
	<-consumed
}

// The adapter rides out a broker that drops every connection: producers and
// consumers reconnect and no message is lost.
func TestSurvivesDroppedConnections(t *testing.T) {
	srv, err := pulsartest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	b, err := pulsar.New(t.Context(), pulsar.Config{URL: srv.URL(), OperationTimeout: 5 * time.Second, SendTimeout: 10 * time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"drops"}, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		more = make(chan struct{}, 1)
	)
	consumed := make(chan error, 1)
	go func() {
		consumed <- c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			mu.Lock()
			seen[m.ID] = true
			mu.Unlock()
			select {
			case more <- struct{}{}:
			default:
			}
			return nil
		}))
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	waitCount := func(n int) {
		deadline := time.After(wait)
		for count() < n {
			select {
			case <-more:
			case <-deadline:
				t.Fatalf("handled %d distinct messages, want %d", count(), n)
			}
		}
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := func(from, to int) {
		var msgs []courier.Message
		for i := from; i < to; i++ {
			msgs = append(msgs, courier.Message{ID: fmt.Sprint("m", i), Topic: "drops", Key: fmt.Sprint("k", i%5), Value: []byte("v")})
		}
		if err := p.SendBatch(ctx, msgs); err != nil {
			t.Fatalf("SendBatch: %v", err)
		}
	}
	send(0, 200)
	waitCount(100)
	if srv.DropConnections() == 0 {
		t.Fatal("no connection dropped")
	}
	send(200, 400)
	waitCount(400)
	_ = c.Close()
	if err := <-consumed; err != nil {
		t.Fatalf("Consume: %v", err)
	}
}
