package pulsar_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// SendBatch reuses its scratch space (messages, property maps, callbacks)
// from one batch to the next: batches of growing and shrinking sizes, with
// and without headers and with a refused message inside, must each arrive
// exactly as sent, with no header or key left over from an earlier batch.
func TestSendBatchReuseKeepsBatchesApart(t *testing.T) {
	b := newBroker(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	topic := fmt.Sprintf("reuse-%d", time.Now().UnixNano())

	var mu sync.Mutex
	got := map[string]courier.Message{}
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(context.Background(), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			mu.Lock()
			got[m.ID] = m
			mu.Unlock()
			return nil
		}))
	}()
	defer func() {
		_ = c.Close()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	}()

	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var want []courier.Message
	for bi, size := range []int{3, 7, 2, 5} {
		batch := make([]courier.Message, size)
		for i := range batch {
			m := courier.Message{Topic: topic, ID: fmt.Sprintf("b%d-m%d", bi, i), Value: []byte{byte(bi), byte(i)}}
			if bi%2 == 0 {
				m.Headers = map[string]string{fmt.Sprintf("h%d", i): "v", "batch": fmt.Sprint(bi)}
			}
			if i%3 == 1 {
				m.Key = fmt.Sprintf("k%d", i)
			}
			batch[i] = m
		}
		refused := -1
		if bi == 1 {
			refused = 4
			batch[refused].Headers = map[string]string{courier.ReservedHeaderPrefix + "x": "reserved"}
		}
		err := p.SendBatch(ctx, batch)
		var be *courier.BatchError
		switch {
		case refused < 0 && err != nil:
			t.Fatalf("batch %d: %v", bi, err)
		case refused >= 0 && (!errors.As(err, &be) || !errors.Is(be.Errs[refused], courier.ErrInvalidMessage)):
			t.Fatalf("batch %d: SendBatch = %v, want a BatchError refusing message %d", bi, err, refused)
		}
		for i, m := range batch {
			if i != refused {
				want = append(want, m)
			}
		}
	}

	deadline := time.Now().Add(wait)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("received %d messages, want %d", len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.ID]
		switch {
		case !ok:
			t.Errorf("%s: not received", w.ID)
		case g.Key != w.Key || string(g.Value) != string(w.Value) || !maps.Equal(g.Headers, w.Headers):
			t.Errorf("%s: received key %q value %v headers %v, want %q %v %v", w.ID, g.Key, g.Value, g.Headers, w.Key, w.Value, w.Headers)
		}
	}
}
