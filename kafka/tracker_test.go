package kafka

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTrackerNeverMarksAGap acks records in random order, leaves some released, and checks
// after every step that each marked offset has every record below it acked.
func TestTrackerNeverMarksAGap(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		// Offsets with gaps, as compaction and transaction markers leave them.
		var offs []int64
		for o := int64(r.IntN(10)); len(offs) < 300; o += int64(1 + r.IntN(3)) {
			offs = append(offs, o)
		}
		acked := map[int64]bool{}
		var marks []int64
		tr := newTracker(func(next int64) {
			for _, o := range offs {
				if o < next && !acked[o] {
					t.Fatalf("seed %d: marked %d while %d below it is not handled", seed, next, o)
				}
			}
			if n := len(marks); n > 0 && next <= marks[n-1] {
				t.Fatalf("seed %d: marked %d after %d: marks must increase", seed, next, marks[n-1])
			}
			marks = append(marks, next)
		})
		for _, o := range offs {
			tr.add(o)
		}
		ri := 100 + r.IntN(100)
		released := offs[ri]
		order := slices.Clone(offs)
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, o := range order {
			if o == released {
				tr.release(o)
				continue
			}
			acked[o] = true
			tr.ack(o)
			tr.ack(o) // a second ack of the same record changes nothing
		}
		if len(marks) == 0 {
			t.Fatalf("seed %d: nothing marked", seed)
		}
		// Everything before the released record is handled, and it is not: the mark stops
		// just after the record before it.
		if last, want := marks[len(marks)-1], offs[ri-1]+1; last != want {
			t.Errorf("seed %d: last mark %d, want %d (released %d)", seed, last, want, released)
		}
		select {
		case <-tr.idleCh():
		default:
			t.Errorf("seed %d: tracker not idle after every record was settled", seed)
		}
	}
}

func TestTrackerInOrderMarksEachAndCompacts(t *testing.T) {
	var marks []int64
	tr := newTracker(func(next int64) { marks = append(marks, next) })
	for o := range int64(1000) {
		tr.add(o)
		tr.ack(o)
	}
	if len(marks) != 1000 || marks[999] != 1000 {
		t.Fatalf("in-order acks: %d marks, last %v; want 1000 marks ending at 1000", len(marks), marks[len(marks)-1:])
	}
	if len(tr.pending) != 0 {
		t.Errorf("%d spent entries kept", len(tr.pending))
	}
}

func TestTrackerClosedMarksNothing(t *testing.T) {
	marked := false
	tr := newTracker(func(int64) { marked = true })
	tr.add(5)
	tr.add(6)
	idle := tr.idleCh()
	tr.close()
	tr.ack(5)
	tr.unadd() // 6 was not handed over after all
	if marked {
		t.Error("a closed tracker marked an offset")
	}
	select {
	case <-idle:
	default:
		t.Error("idle channel not closed once nothing is outstanding")
	}
}
