package kafka

import (
	"sort"
	"sync"
)

// tracker follows the records of one partition claim from their hand-over to the engine to
// their settlement, and marks for commit only the offset below which every record was
// handled: with Concurrency > 1 records finish out of order, and committing the offset of a
// later one would skip an earlier one still running (or released) if the partition moved
// to another consumer.
type tracker struct {
	// mark is called, with mu held and in increasing order, with the next offset to
	// consume: every record below it was handled.
	mark func(next int64)

	mu          sync.Mutex
	pending     []entry // records not yet below the marked offset, in offset order
	head        int     // pending[:head] are spent
	outstanding int     // handed over and neither acked nor released
	idle        chan struct{}
	closed      bool
}

type entry struct {
	off  int64
	done bool
}

func newTracker(mark func(next int64)) *tracker { return &tracker{mark: mark} }

// add records that the record at off is being handed over. Offsets must increase.
func (t *tracker) add(off int64) {
	t.mu.Lock()
	t.pending = append(t.pending, entry{off: off})
	t.outstanding++
	t.mu.Unlock()
}

// unadd takes back the last add, when the hand-over failed.
func (t *tracker) unadd() {
	t.mu.Lock()
	t.pending = t.pending[:len(t.pending)-1]
	t.outstanding--
	t.signalIdle()
	t.mu.Unlock()
}

// ack records that the record at off was handled, and marks the offset after the longest
// run of handled records from the oldest pending one.
func (t *tracker) ack(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.find(off)
	if !ok {
		return
	}
	t.pending[t.head+i].done = true
	t.outstanding--
	t.signalIdle()
	if i != 0 {
		return // an earlier record is still pending: nothing can be committed yet
	}
	next := int64(-1)
	for t.head < len(t.pending) && t.pending[t.head].done {
		next = t.pending[t.head].off + 1
		t.head++
	}
	t.compact()
	if !t.closed {
		t.mark(next)
	}
}

// release records that the record at off was not handled: it is never marked, nor is any
// offset after it, so it is consumed again after the partition's next assignment.
func (t *tracker) release(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.find(off); ok {
		t.outstanding--
		t.signalIdle()
	}
}

// find returns the place of the unsettled record at off among the pending ones after head;
// t.mu is held. A record settled already (or never added) is not found, so that a second
// settlement changes nothing.
func (t *tracker) find(off int64) (int, bool) {
	live := t.pending[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].off >= off })
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

// signalIdle wakes waitIdle when nothing is outstanding; t.mu is held.
func (t *tracker) signalIdle() {
	if t.outstanding == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
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

// close stops marking: the claim is over, and a late ack must not mark an offset on a
// session that no longer owns the partition.
func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}
