package rabbitmq

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// wire records what an acker sends, and checks it as the broker would: a tag settled twice,
// or a multiple ack over a tag not meant to be acked, is an error.
type wire struct {
	t        *testing.T
	frames   []string
	settled  map[uint64]opKind
	intended map[uint64]opKind
}

func (w *wire) Ack(tag uint64, multiple bool) error {
	w.frames = append(w.frames, fmt.Sprintf("ack %d multiple=%v", tag, multiple))
	from := tag
	if multiple {
		from = 1
	}
	for x := from; x <= tag; x++ {
		if _, done := w.settled[x]; done {
			if !multiple || x == tag {
				w.t.Errorf("tag %d settled twice", x)
			}
			continue // multiple skips settled tags, as the broker does
		}
		if w.intended[x] != opAck {
			w.t.Errorf("ack %d (multiple=%v) acks tag %d, which was to be %v", tag, multiple, x, w.intended[x])
		}
		w.settled[x] = opAck
	}
	return nil
}

func (w *wire) Nack(tag uint64, multiple, requeue bool) error {
	w.frames = append(w.frames, fmt.Sprintf("nack %d requeue=%v", tag, requeue))
	if multiple {
		w.t.Errorf("acker sent a multiple nack")
	}
	if _, done := w.settled[tag]; done {
		w.t.Errorf("tag %d settled twice", tag)
	}
	want := opReject
	if requeue {
		want = opRequeue
	}
	if w.intended[tag] != want {
		w.t.Errorf("nack %d requeue=%v, but it was to be %v", tag, requeue, w.intended[tag])
	}
	w.settled[tag] = want
	return nil
}

func newWire(t *testing.T) *wire {
	return &wire{t: t, settled: map[uint64]opKind{}, intended: map[uint64]opKind{}}
}

func TestAckerFoldsConsecutiveAcks(t *testing.T) {
	w := newWire(t)
	a := newAcker(w, 64)
	for tag := uint64(1); tag <= 10; tag++ {
		w.intended[tag] = opAck
		a.decided[tag] = opAck
	}
	if held := a.flush(false); held {
		t.Error("held acks with no gap")
	}
	if want := []string{"ack 10 multiple=true"}; !slices.Equal(w.frames, want) {
		t.Errorf("frames %q, want %q", w.frames, want)
	}
}

func TestAckerNeverAcksOverAGapOrANack(t *testing.T) {
	w := newWire(t)
	a := newAcker(w, 64)
	// 1, 2 acked; 3 requeued; 4 acked; 5 in flight; 6, 7 acked.
	for _, tag := range []uint64{1, 2, 4, 6, 7} {
		w.intended[tag], a.decided[tag] = opAck, opAck
	}
	w.intended[3], a.decided[3] = opRequeue, opRequeue
	w.intended[5] = opAck
	if held := a.flush(false); !held {
		t.Error("acks above the gap at 5 not held")
	}
	want := []string{"ack 2 multiple=true", "nack 3 requeue=true", "ack 4 multiple=false"}
	if !slices.Equal(w.frames, want) {
		t.Errorf("frames %q, want %q", w.frames, want)
	}
	a.decided[5] = opAck
	a.flush(false)
	want = append(want, "ack 7 multiple=true")
	if !slices.Equal(w.frames, want) {
		t.Errorf("frames %q, want %q", w.frames, want)
	}
}

func TestAckerForcedFlushSendsHeldAcksAlone(t *testing.T) {
	w := newWire(t)
	a := newAcker(w, 64)
	w.intended[1] = opAck // in flight
	for _, tag := range []uint64{2, 3} {
		w.intended[tag], a.decided[tag] = opAck, opAck
	}
	a.flush(true)
	if len(w.frames) != 2 || w.settled[2] != opAck || w.settled[3] != opAck {
		t.Fatalf("forced flush sent %q", w.frames)
	}
	// 1 is acked later: it must not be folded over 2 and 3 as if they were still due.
	a.decided[1] = opAck
	a.flush(false)
	if last := w.frames[len(w.frames)-1]; last != "ack 1 multiple=false" {
		t.Errorf("last frame %q, want a single ack of 1", last)
	}
	if a.low != 4 {
		t.Errorf("low %d after all of 1..3 settled, want 4", a.low)
	}
}

// TestAckerRandomOrder settles 1000 tags in random order with random outcomes and random
// flushes: each tag must be settled exactly once, as intended.
func TestAckerRandomOrder(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		w := newWire(t)
		a := newAcker(w, 32)
		const n = 1000
		tags := make([]uint64, n)
		for i := range tags {
			tag := uint64(i + 1)
			tags[i] = tag
			switch r.IntN(10) {
			case 0:
				w.intended[tag] = opRequeue
			case 1:
				w.intended[tag] = opReject
			default:
				w.intended[tag] = opAck
			}
		}
		// Mostly in order, with local shuffles as concurrent handlers produce.
		for i := range tags {
			j := min(n-1, i+r.IntN(8))
			tags[i], tags[j] = tags[j], tags[i]
		}
		for _, tag := range tags {
			a.decided[tag] = w.intended[tag]
			if r.IntN(4) == 0 {
				a.flush(r.IntN(5) == 0)
			}
		}
		a.flush(true)
		if len(w.settled) != n {
			t.Fatalf("seed %d: %d tags settled, want %d", seed, len(w.settled), n)
		}
	}
}
