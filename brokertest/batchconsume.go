package brokertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/courier-go/courier"
)

// testBatchConsume: a courier.BatchHandler under BatchSize gets several messages per call
// (never more than BatchSize, and never two of one key), messages of a key in send order; a
// message its batch failed for comes back alone, and only it.
func testBatchConsume(e *env) {
	t := e.t
	const batchSize, keys, perKey = 8, 8, 4
	topic := e.topic()
	cfg := e.config(e.group(), 1, topic)
	cfg.BatchSize = batchSize
	c := e.consumer(cfg) // the group exists before the messages are sent
	var msgs []courier.Message
	for seq := range perKey {
		for k := range keys {
			msgs = append(msgs, courier.Message{ID: fmt.Sprintf("k%d-%d", k, seq), Topic: topic, Key: fmt.Sprint("k", k), Value: []byte{byte(seq)}})
		}
	}
	e.send(e.producer(), msgs...)

	var (
		mu       sync.Mutex
		sizes    []int
		handled  = map[string][]string{} // key -> IDs in the order handled
		count    = map[string]int{}      // ID -> successful handlings
		failedID string                  // the message the first batch of several fails for
		overlap  []string
	)
	col := newCollector() // signals progress to waitUntil
	record := func(m courier.Message) {
		handled[m.Key] = append(handled[m.Key], m.ID)
		count[m.ID]++
		_ = col.HandleMessage(context.Background(), m)
	}
	h := courier.BatchHandlerFunc(func(_ context.Context, batch []courier.Message) error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(batch))
		seen := map[string]bool{}
		errs := make([]error, len(batch))
		for i, m := range batch {
			if seen[m.Key] {
				overlap = append(overlap, m.ID)
			}
			seen[m.Key] = true
			if failedID == "" && len(batch) > 1 {
				failedID = m.ID
				errs[i] = errors.New("fails in its batch")
				continue
			}
			record(m)
		}
		if errs[0] != nil {
			return &courier.BatchError{Errs: errs}
		}
		return nil
	})
	e.consume(context.Background(), c, h)
	waitUntil(t, e.caps.Timeout, "every message handled", col.changed, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(count) == len(msgs)
	})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("batch sizes %v; %s failed in its batch", sizes, failedID)
	if slices.Max(sizes) < 2 || slices.Max(sizes) > batchSize {
		t.Errorf("batch sizes %v: want some above 1 and none above %d", sizes, batchSize)
	}
	if len(overlap) > 0 {
		t.Errorf("messages %v shared a batch with an earlier message of their key", overlap)
	}
	for k := range keys {
		key := fmt.Sprint("k", k)
		want := make([]string, perKey)
		for seq := range perKey {
			want[seq] = fmt.Sprintf("k%d-%d", k, seq)
		}
		if got := handled[key]; !slices.Equal(got, want) {
			t.Errorf("key %s handled in the order %v, want %v", key, got, want)
		}
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("message %s handled %d times, want once (only the failed one comes back)", id, n)
		}
	}
	if failedID == "" {
		t.Error("no batch of several came, so the partial failure was not tried")
	}
}
