package pulsartest

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/courier-go/courier/pulsar/pulsartest/internal/wire"
)

// maxKeySharedSkips bounds how far past blocked keys one Key_Shared dispatch
// reads ahead, as a real broker limits its look-ahead.
const maxKeySharedSkips = 1000

// subscription is a cursor over a topic plus the bookkeeping of what its
// consumers hold. All of it is guarded by Server.mu.
type subscription struct {
	t       *topic
	name    string
	typ     wire.CommandSubscribe_SubType
	durable bool

	consumers []*consumer // in order of subscription
	active    *consumer   // Exclusive and Failover: the one that receives
	rr        int         // Shared: round-robin position

	readPos    uint64              // next entry never dispatched yet
	markDelete int64               // every entry up to here is acknowledged
	acked      map[uint64]bool     // acknowledged entries after markDelete
	replay     map[uint64]struct{} // entries to send again, before readPos
	pending    map[uint64]pendingEntry
	redeliver  map[uint64]uint32 // redelivery count per entry (Shared, Key_Shared)
	keyHolds   map[uint32]*keyHold

	timer   *time.Timer // wakes dispatch for delayed delivery
	timerAt time.Time
}

// pendingEntry records who holds an unacknowledged delivered entry.
type pendingEntry struct {
	c     *consumer
	hash  uint32
	keyed bool
}

// keyHold records which consumer holds unacknowledged messages of a
// Key_Shared key hash, and how many.
type keyHold struct {
	c *consumer
	n int
}

// consumer is a client consumer attached to a subscription.
type consumer struct {
	id       uint64
	c        *conn
	sub      *subscription
	name     string
	priority int32
	permits  int64
	ranges   []*wire.IntRange // Key_Shared STICKY ranges; nil means auto-split
}

func newSubscription(t *topic, name string, typ wire.CommandSubscribe_SubType, durable bool, start uint64) *subscription {
	sub := &subscription{
		t: t, name: name, typ: typ, durable: durable,
		acked:     map[uint64]bool{},
		replay:    map[uint64]struct{}{},
		pending:   map[uint64]pendingEntry{},
		redeliver: map[uint64]uint32{},
		keyHolds:  map[uint32]*keyHold{},
	}
	sub.reset(start)
	return sub
}

// reset moves the cursor so that entry start is the next to be read and
// forgets everything delivered.
func (sub *subscription) reset(start uint64) {
	start = min(start, uint64(len(sub.t.entries)))
	sub.readPos = start
	sub.markDelete = int64(start) - 1
	clear(sub.acked)
	clear(sub.replay)
	clear(sub.pending)
	clear(sub.redeliver)
	clear(sub.keyHolds)
}

func (sub *subscription) sharedType() bool {
	return sub.typ == wire.CommandSubscribe_Shared || sub.typ == wire.CommandSubscribe_Key_Shared
}

func (sub *subscription) isAcked(id uint64) bool {
	return int64(id) <= sub.markDelete || sub.acked[id]
}

func (sub *subscription) addConsumer(c *consumer) {
	sub.consumers = append(sub.consumers, c)
	sub.electActive()
}

// removeConsumer detaches c; what it held goes back for redelivery without
// counting as a redelivery, as on a real broker.
func (sub *subscription) removeConsumer(c *consumer) {
	i := slices.Index(sub.consumers, c)
	if i < 0 {
		return
	}
	sub.consumers = slices.Delete(sub.consumers, i, i+1)
	for id, p := range sub.pending {
		if p.c == c {
			sub.release(id)
			sub.replay[id] = struct{}{}
		}
	}
	if len(sub.consumers) == 0 && !sub.durable {
		sub.drop()
		return
	}
	sub.electActive()
	sub.dispatch()
}

// drop deletes the subscription from its topic.
func (sub *subscription) drop() {
	sub.stopTimer()
	if sub.t.subs[sub.name] == sub {
		delete(sub.t.subs, sub.name)
	}
}

// electActive picks the consumer that receives on an Exclusive or Failover
// subscription: for Failover the first by priority then name, or for a
// partition the (partition mod n)-th, spreading partitions over consumers.
// A change of active consumer rewinds what the previous one held.
func (sub *subscription) electActive() {
	var next *consumer
	switch {
	case len(sub.consumers) == 0:
	case sub.typ == wire.CommandSubscribe_Failover:
		sorted := slices.Clone(sub.consumers)
		slices.SortStableFunc(sorted, func(a, b *consumer) int {
			if a.priority != b.priority {
				return int(a.priority - b.priority)
			}
			switch {
			case a.name < b.name:
				return -1
			case a.name > b.name:
				return 1
			}
			return 0
		})
		idx := 0
		if p := sub.t.partition; p > 0 {
			idx = int(p) % len(sorted)
		}
		next = sorted[idx]
	case sub.typ == wire.CommandSubscribe_Exclusive:
		next = sub.consumers[0]
	}
	if next == sub.active {
		return
	}
	sub.active = next
	if sub.typ != wire.CommandSubscribe_Failover {
		return
	}
	sub.rewind(nil)
	for _, c := range sub.consumers {
		c.c.send(&wire.BaseCommand{
			Type: wire.BaseCommand_ACTIVE_CONSUMER_CHANGE.Enum(),
			ActiveConsumerChange: &wire.CommandActiveConsumerChange{
				ConsumerId: proto.Uint64(c.id),
				IsActive:   proto.Bool(c == next),
			},
		}, nil)
	}
}

// rewind puts everything held (by c, or by anyone when c is nil) back for
// redelivery without counting it: what a single-active-consumer broker does.
func (sub *subscription) rewind(c *consumer) {
	for id, p := range sub.pending {
		if c == nil || p.c == c {
			sub.release(id)
			sub.replay[id] = struct{}{}
		}
	}
}

// release forgets that entry id is held by a consumer.
func (sub *subscription) release(id uint64) {
	p, ok := sub.pending[id]
	if !ok {
		return
	}
	delete(sub.pending, id)
	if p.keyed {
		if h := sub.keyHolds[p.hash]; h != nil {
			if h.n--; h.n <= 0 {
				delete(sub.keyHolds, p.hash)
			}
		}
	}
}

func (sub *subscription) ackIndividual(id uint64) {
	if sub.isAcked(id) || id >= uint64(len(sub.t.entries)) {
		return
	}
	sub.release(id)
	delete(sub.replay, id)
	delete(sub.redeliver, id)
	sub.acked[id] = true
	for sub.acked[uint64(sub.markDelete+1)] {
		delete(sub.acked, uint64(sub.markDelete+1))
		sub.markDelete++
	}
}

// ackCumulative acknowledges every entry up to and including id.
func (sub *subscription) ackCumulative(id int64) {
	id = min(id, int64(len(sub.t.entries))-1)
	for e := sub.markDelete + 1; e <= id; e++ {
		sub.release(uint64(e))
		delete(sub.replay, uint64(e))
		delete(sub.redeliver, uint64(e))
		delete(sub.acked, uint64(e))
	}
	if id > sub.markDelete {
		sub.markDelete = id
	}
	for sub.acked[uint64(sub.markDelete+1)] {
		delete(sub.acked, uint64(sub.markDelete+1))
		sub.markDelete++
	}
}

// redeliverFor handles a client's request to redeliver what c holds: the
// listed entries on Shared and Key_Shared subscriptions, counting each as a
// redelivery; a rewind of everything c holds, uncounted, otherwise, because
// a single active consumer must see its messages in order.
func (sub *subscription) redeliverFor(c *consumer, ids []uint64) {
	if !sub.sharedType() {
		sub.rewind(c)
		sub.dispatch()
		return
	}
	if len(ids) == 0 {
		for id, p := range sub.pending {
			if p.c == c {
				ids = append(ids, id)
			}
		}
	}
	for _, id := range ids {
		if p, ok := sub.pending[id]; ok && p.c == c {
			sub.release(id)
			sub.redeliver[id]++
			sub.replay[id] = struct{}{}
		}
	}
	sub.dispatch()
}

type tryResult int

const (
	sent tryResult = iota
	skipped
	stopped
)

// dispatch sends what it can to consumers with permits: first entries due
// for redelivery, in entry order, then new entries.
func (sub *subscription) dispatch() {
	if len(sub.consumers) == 0 || sub.t.s.closed {
		return
	}
	now := time.Now()
	var wake time.Time
	blocked := map[uint32]bool{}
	ids := make([]uint64, 0, len(sub.replay))
	for id := range sub.replay {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if sub.isAcked(id) {
			delete(sub.replay, id)
			continue
		}
		if _, held := sub.pending[id]; held {
			delete(sub.replay, id)
			continue
		}
		switch sub.try(sub.t.entries[id], now, blocked, &wake) {
		case sent:
			delete(sub.replay, id)
		case stopped:
			sub.schedule(wake)
			return
		}
	}
	skips := 0
	for sub.readPos < uint64(len(sub.t.entries)) && skips < maxKeySharedSkips {
		id := sub.readPos
		if !sub.isAcked(id) {
			r := sub.try(sub.t.entries[id], now, blocked, &wake)
			if r == stopped {
				break
			}
			if r == skipped {
				sub.replay[id] = struct{}{}
				skips++
			}
		}
		sub.readPos++
	}
	sub.schedule(wake)
}

// try sends entry e to the consumer that should have it, if it can.
func (sub *subscription) try(e *entry, now time.Time, blocked map[uint32]bool, wake *time.Time) tryResult {
	// Like a real broker, only Shared and Key_Shared honour deliver-at times.
	if sub.sharedType() && !e.deliverAt.IsZero() && e.deliverAt.After(now) {
		if wake.IsZero() || e.deliverAt.Before(*wake) {
			*wake = e.deliverAt
		}
		return skipped
	}
	var (
		target *consumer
		hash   uint32
		keyed  bool
	)
	switch sub.typ {
	case wire.CommandSubscribe_Shared:
		for range sub.consumers {
			c := sub.consumers[sub.rr%len(sub.consumers)]
			sub.rr++
			if c.permits > 0 {
				target = c
				break
			}
		}
		if target == nil {
			return stopped
		}
	case wire.CommandSubscribe_Key_Shared:
		if !sub.anyPermits() {
			return stopped
		}
		hash, keyed = keyHash(e.key), true
		if blocked[hash] {
			return skipped
		}
		target = sub.rangeOwner(hash)
		// A key whose hash moved to another consumer waits until the old
		// one has acknowledged what it holds (a real broker's "draining
		// hashes"): the key is never at two consumers at once.
		if h := sub.keyHolds[hash]; h != nil && h.c != target {
			blocked[hash] = true
			return skipped
		}
		if target == nil || target.permits <= 0 {
			blocked[hash] = true
			return skipped
		}
	default:
		target = sub.active
		if target == nil || target.permits <= 0 {
			return stopped
		}
	}
	sub.deliver(target, e, hash, keyed)
	return sent
}

func (sub *subscription) anyPermits() bool {
	for _, c := range sub.consumers {
		if c.permits > 0 {
			return true
		}
	}
	return false
}

func (sub *subscription) deliver(c *consumer, e *entry, hash uint32, keyed bool) {
	// Permits count messages, so a batch uses one per message inside; the
	// balance may go negative, as on a real broker.
	c.permits -= int64(e.count)
	sub.pending[e.id] = pendingEntry{c: c, hash: hash, keyed: keyed}
	if keyed {
		h := sub.keyHolds[hash]
		if h == nil {
			h = &keyHold{c: c}
			sub.keyHolds[hash] = h
		}
		h.n++
	}
	c.c.send(&wire.BaseCommand{
		Type: wire.BaseCommand_MESSAGE.Enum(),
		Message: &wire.CommandMessage{
			ConsumerId:      proto.Uint64(c.id),
			MessageId:       sub.t.messageID(e.id),
			RedeliveryCount: proto.Uint32(sub.redeliver[e.id]),
		},
	}, e.stored)
}

// schedule arranges a dispatch at wake, when a delayed message falls due.
func (sub *subscription) schedule(wake time.Time) {
	if wake.IsZero() {
		return
	}
	if sub.timer != nil && !sub.timerAt.After(wake) {
		return
	}
	sub.stopTimer()
	s := sub.t.s
	sub.timerAt = wake
	// The callback takes s.mu, which is held here, so it sees t assigned.
	var t *time.Timer
	t = time.AfterFunc(time.Until(wake), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || sub.timer != t {
			return
		}
		sub.timer = nil
		sub.dispatch()
	})
	sub.timer = t
}

func (sub *subscription) stopTimer() {
	if sub.timer != nil {
		sub.timer.Stop()
		sub.timer = nil
	}
}
