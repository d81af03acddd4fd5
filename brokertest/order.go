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
// "key<k>-<seq>" that seqOf reads, seq counting from first.
func keyedMessages(topic string, keys, perKey, first int) []courier.Message {
	var msgs []courier.Message
	for i := first; i < first+perKey; i++ {
		for k := range keys {
			key := fmt.Sprint("key", k)
			msgs = append(msgs, courier.Message{ID: fmt.Sprintf("%s-%d", key, i), Topic: topic, Key: key, Value: []byte{byte(i)}})
		}
	}
	return msgs
}

// shared reports whether more than one consumer handled messages and a key moved between
// consumers: only then was order across them tested.
func (o *keyOrder) shared() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sharedLocked()
}

func (o *keyOrder) sharedLocked() bool {
	n := 0
	for _, h := range o.handled {
		if h > 0 {
			n++
		}
	}
	return n >= 2 && o.moves > 0
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
	const keys, maxRounds = 16, 8
	perRound := max(e.caps.Messages/(2*keys), 10) // messages of each key in a round
	topic, group := e.topic(), e.group()
	order := newKeyOrder()
	col := newCollector()
	members := 0
	join := func() *running {
		members++
		return e.consume(context.Background(), e.consumer(e.config(group, 4, topic)), order.handler(members-1, col))
	}
	active := []*running{join(), join()}
	p := e.producer()
	sent := 0
	// Each round sends half of its messages; once the group is well into them a consumer
	// joins and the oldest leaves, so that keys move, then the round sends the other half.
	// A round is enough unless one consumer happened to take the whole stream (a loaded
	// machine can starve the others): then the next round churns the group again.
	for round := 0; ; round++ {
		msgs := keyedMessages(topic, keys, perRound, round*perRound)
		half := len(msgs) / 2
		if err := p.SendBatch(context.Background(), msgs[:half]); err != nil {
			t.Fatalf("SendBatch: %v", err)
		}
		col.waitUnique(t, sent+half/2, e.caps.Timeout)
		active = append(active, join())
		e.stop(active[0])
		active = active[1:]
		if err := p.SendBatch(context.Background(), msgs[half:]); err != nil {
			t.Fatalf("SendBatch: %v", err)
		}
		sent += len(msgs)
		col.waitUnique(t, sent, e.caps.Timeout)
		if order.shared() || round == maxRounds-1 {
			t.Logf("%d rounds of %d keys x %d messages", round+1, keys, perRound)
			break
		}
	}

	order.mu.Lock()
	defer order.mu.Unlock()
	for i, v := range order.violations {
		if i == 10 {
			t.Errorf("... %d violations in all", len(order.violations))
			break
		}
		t.Error(v)
	}
	if !order.sharedLocked() {
		t.Errorf("handled per consumer %v, keys moved %d times: the group's consumers did not share the stream in %d rounds, so order across them was not tested",
			order.handled, order.moves, maxRounds)
	}
	t.Logf("handled per consumer %v; keys moved between consumers %d times; %d duplicates", order.handled, order.moves, order.dups)
}
