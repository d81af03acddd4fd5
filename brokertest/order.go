package brokertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/courier-go/courier"
)

// keyOrder checks, across the handlers of any number of consumers, that the messages of each
// key run one at a time and that none starts before every message sent before it of its key
// was handled: a redelivery of a message already handled is a duplicate, which
// at-least-once allows, but skipping ahead is a violation.
type keyOrder struct {
	mu         sync.Mutex
	next       map[string]int // per key: the lowest seq not yet handled
	runningOn  map[string]int // per key: the consumer running one of its messages, or -1
	lastOn     map[string]int // per key: the consumer that handled it last
	handled    map[int]int    // per consumer: messages handled
	moves      int            // times a key's next message ran on another consumer than its last
	dups       int            // messages handled again
	violations []string
}

func newKeyOrder() *keyOrder {
	return &keyOrder{next: map[string]int{}, runningOn: map[string]int{}, lastOn: map[string]int{}, handled: map[int]int{}}
}

// seqOf reads the sequence number at the end of a test message ID "key-seq".
func seqOf(id string) (int, error) {
	var seq int
	if _, err := fmt.Sscanf(id[strings.LastIndexByte(id, '-')+1:], "%d", &seq); err != nil {
		return 0, fmt.Errorf("bad test ID %q", id)
	}
	return seq, nil
}

// keyedMessages returns perKey messages of each of keys keys on topic, interleaved, with IDs
// "key<k>-<seq>" that seqOf reads.
func keyedMessages(topic string, keys, perKey int) []courier.Message {
	var msgs []courier.Message
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprint("key", k)
			msgs = append(msgs, courier.Message{ID: fmt.Sprintf("%s-%d", key, i), Topic: topic, Key: key, Value: []byte{byte(i)}})
		}
	}
	return msgs
}

// handler returns the handler of consumer n, which feeds col once the checks are done.
func (o *keyOrder) handler(n int, col *collector) courier.HandlerFunc {
	return func(ctx context.Context, m courier.Message) error {
		seq, err := seqOf(m.ID)
		if err != nil {
			return err
		}
		o.mu.Lock()
		if other, busy := o.runningOn[m.Key]; busy {
			o.violations = append(o.violations, fmt.Sprintf("key %s: %s started on consumer %d while consumer %d ran a message of the key", m.Key, m.ID, n, other))
		}
		o.runningOn[m.Key] = n
		switch next := o.next[m.Key]; {
		case seq > next:
			o.violations = append(o.violations, fmt.Sprintf("key %s: seq %d started on consumer %d before seq %d was handled", m.Key, seq, n, next))
		case seq < next:
			o.dups++
		}
		if last, ok := o.lastOn[m.Key]; ok && last != n {
			o.moves++
		}
		o.mu.Unlock()

		time.Sleep(50 * time.Microsecond) // widen the window in which a second message of the key could overlap
		err = col.HandleMessage(ctx, m)

		o.mu.Lock()
		defer o.mu.Unlock()
		delete(o.runningOn, m.Key)
		if err == nil {
			o.lastOn[m.Key] = n
			o.handled[n]++
			if seq == o.next[m.Key] {
				o.next[m.Key] = seq + 1
			}
		}
		return err
	}
}

// testKeyOrderAcrossGroup runs a keyed stream through several consumers of one group while
// one of them leaves and another joins: each key's messages must run one at a time, in send
// order, whichever consumer gets them.
func testKeyOrderAcrossGroup(e *env) {
	t := e.t
	if e.caps.KeyOrder != OrderAcrossGroup {
		t.Skipf("capability KeyOrder is %q: the consumers of one group may each get messages of a key and handle them side by side, so per-key order is checked within one consumer only (PerKeyOrder)", e.caps.KeyOrder)
	}
	const keys = 16
	perKey := max(e.caps.Messages/(2*keys), 10)
	topic, group := e.topic(), e.group()
	order := newKeyOrder()
	col := newCollector()
	start := func(n int) *running {
		return e.consume(context.Background(), e.consumer(e.config(group, 4, topic)), order.handler(n, col))
	}
	first := start(0)
	start(1)
	p := e.producer()
	msgs := keyedMessages(topic, keys, perKey)
	half := len(msgs) / 2
	if err := p.SendBatch(context.Background(), msgs[:half]); err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	// Once the group is well into the stream, a third consumer joins and the first leaves:
	// the keys of the first move, and the group's order must survive that.
	col.waitUnique(t, half/2, e.caps.Timeout)
	start(2)
	e.stop(first)
	if err := p.SendBatch(context.Background(), msgs[half:]); err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	col.waitUnique(t, len(msgs), e.caps.Timeout)

	order.mu.Lock()
	defer order.mu.Unlock()
	for i, v := range order.violations {
		if i == 10 {
			t.Errorf("... %d violations in all", len(order.violations))
			break
		}
		t.Error(v)
	}
	sharing := 0
	for _, n := range order.handled {
		if n > 0 {
			sharing++
		}
	}
	if sharing < 2 {
		t.Errorf("handled per consumer %v: the group's consumers did not share the stream, so order across them was not tested", order.handled)
	}
	t.Logf("%d keys x %d messages; handled per consumer %v; keys moved between consumers %d times; %d duplicates",
		keys, perKey, order.handled, order.moves, order.dups)
}
