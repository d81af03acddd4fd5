package kafka

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/courier-go/courier/driver"
)

// tracker follows the records of one partition claim from their hand-over to the engine to
// their settlement, and marks for commit only the offset below which every record was
// handled: with Concurrency > 1 records finish out of order, and committing the offset of a
// later one would skip an earlier one still running (or released) if the partition moved
// to another consumer.
//
// Marking is sarama's per-partition lock and map lookup; the tracker marks at most once per
// markEvery handled records while records keep coming, and at once when none is
// outstanding, so that a partition that goes quiet always has its last offset marked.
type tracker struct {
	// mark is called, with mu held and in increasing order, with the next offset to
	// consume: every record below it was handled.
	mark func(next int64)
	// bytes gets back the bytes of each record once it is settled; nil for none.
	bytes *budget
	// revoked is set when the claim ends: deliveries not yet started are released.
	revoked atomic.Bool

	mu          sync.Mutex
	pending     []entry // records not yet below the handled offset, in offset order
	head        int     // pending[:head] are spent
	outstanding int     // handed over and neither acked nor released
	next        int64   // every record below it was handled; -1 before the first
	marked      int64   // the last offset given to mark; -1 before the first
	unmarked    int     // handled records since the last mark
	idle        chan struct{}
	closed      bool
}

// markEvery bounds how many handled records a tracker leaves unmarked while more are
// outstanding: a crash redelivers at most that many more than the commit interval does.
const markEvery = 64

type entry struct {
	off  int64
	size int64 // bytes counted against the budget
	done bool
}

func newTracker(mark func(next int64), bytes *budget) *tracker {
	return &tracker{mark: mark, bytes: bytes, next: -1, marked: -1}
}

// add records that the records of ds are being handed over. Offsets must increase.
func (t *tracker) add(ds []driver.Delivery) {
	t.mu.Lock()
	for i := range ds {
		t.pending = append(t.pending, entry{off: ds[i].Msg.Offset, size: recordBytes(&ds[i].Msg)})
	}
	t.outstanding += len(ds)
	t.mu.Unlock()
}

// unadd takes back the last n adds, when their hand-over failed.
func (t *tracker) unadd(n int) {
	t.mu.Lock()
	var size int64
	for _, e := range t.pending[len(t.pending)-n:] {
		size += e.size
	}
	t.pending = t.pending[:len(t.pending)-n]
	t.outstanding -= n
	t.give(size)
	t.settled()
	t.mu.Unlock()
}

// give returns size bytes to the budget; t.mu is held.
func (t *tracker) give(size int64) {
	if t.bytes != nil {
		t.bytes.give(size)
	}
}

// ack records that the record at off was handled, and advances the handled offset past the
// longest run of handled records from the oldest pending one.
func (t *tracker) ack(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.give(t.done(off))
	t.settled()
}

// ackAll is ack for the records of ds, which belong to this tracker, under one lock.
func (t *tracker) ackAll(ds []*driver.Delivery) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var size int64
	for _, d := range ds {
		size += t.done(d.Msg.Offset)
	}
	t.give(size)
	t.settled()
}

// done marks the record at off handled and returns its size; t.mu is held. A record settled
// already (or never added) changes nothing.
func (t *tracker) done(off int64) (size int64) {
	i, ok := t.find(off)
	if !ok {
		return 0
	}
	size = t.pending[t.head+i].size
	t.pending[t.head+i].done = true
	t.outstanding--
	t.unmarked++
	if i == 0 { // otherwise an earlier record is still pending: the offset cannot move
		for t.head < len(t.pending) && t.pending[t.head].done {
			t.next = t.pending[t.head].off + 1
			t.head++
		}
		t.compact()
	}
	return size
}

// release records that the record at off was not handled: it is never marked, nor is any
// offset after it, so it is consumed again after the partition's next assignment.
func (t *tracker) release(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.find(off); ok {
		// Not done, so the offset never moves past it; its bytes go back.
		t.give(t.pending[t.head+i].size)
		t.pending[t.head+i].size = 0
		t.outstanding--
		t.settled()
	}
}

// find returns the place of the unsettled record at off among the pending ones after head;
// t.mu is held. A record settled already (or never added) is not found, so that a second
// settlement changes nothing.
func (t *tracker) find(off int64) (int, bool) {
	live := t.pending[t.head:]
	if len(live) == 0 {
		return 0, false
	}
	// Offsets are usually consecutive: then off is at its distance from the first.
	i := int(off - live[0].off)
	if i < 0 || i >= len(live) || live[i].off != off {
		i, _ = slices.BinarySearchFunc(live, off, func(e entry, off int64) int { return cmp.Compare(e.off, off) })
	}
	return i, i < len(live) && live[i].off == off && !live[i].done
}

// compact drops the spent entries once they are half the slice, so it stops growing.
func (t *tracker) compact() {
	switch {
	case t.head == len(t.pending):
		t.pending, t.head = t.pending[:0], 0
	case t.head >= 256 && 2*t.head >= len(t.pending):
		n := copy(t.pending, t.pending[t.head:])
		t.pending, t.head = t.pending[:n], 0
	}
}

// settled marks the handled offset when it is due, and wakes idleCh's waiters when nothing
// is outstanding; t.mu is held.
func (t *tracker) settled() {
	if t.outstanding == 0 || t.unmarked >= markEvery {
		t.flush()
	}
	if t.outstanding == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// flush marks the handled offset if it moved since the last mark; t.mu is held.
func (t *tracker) flush() {
	if t.next > t.marked && !t.closed {
		t.mark(t.next)
		t.marked = t.next
	}
	t.unmarked = 0
}

// idleCh returns a channel closed once no handed-over record is outstanding.
func (t *tracker) idleCh() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.outstanding == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}

// close marks what was handled and stops marking: the claim is over, and a late ack must not
// mark an offset on a session that no longer owns the partition.
func (t *tracker) close() {
	t.mu.Lock()
	t.flush()
	t.closed = true
	t.mu.Unlock()
}
