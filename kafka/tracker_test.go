package kafka

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// deliveries returns deliveries at offs, with values of a few bytes, some keyed.
func deliveries(offs ...int64) []driver.Delivery {
	ds := make([]driver.Delivery, len(offs))
	for i, o := range offs {
		ds[i] = driver.Delivery{Msg: courier.Message{Offset: o, Value: make([]byte, 1+o%7)}}
		if o%3 == 0 {
			ds[i].Msg.Key = "k"
		}
	}
	return ds
}

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
		bytes := newBudget(1 << 30)
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
		}, bytes)
		ds := deliveries(offs...)
		for i := range ds {
			if err := bytes.take(context.Background(), recordBytes(&ds[i].Msg)); err != nil {
				t.Fatal(err)
			}
		}
		tr.add(ds)
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
		if held := bytes.held(); held != 0 {
			t.Errorf("seed %d: %d bytes not given back after every record was settled", seed, held)
		}
	}
}

func TestTrackerInOrderMarksEachAndCompacts(t *testing.T) {
	var marks []int64
	tr := newTracker(func(next int64) { marks = append(marks, next) }, nil)
	for o := range int64(1000) {
		tr.add(deliveries(o))
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
	tr := newTracker(func(int64) { marked = true }, nil)
	bytes := newBudget(1 << 20)
	ds := deliveries(5, 6)
	_ = bytes.take(context.Background(), recordBytes(&ds[0].Msg)+recordBytes(&ds[1].Msg))
	tr.bytes = bytes
	tr.add(ds)
	idle := tr.idleCh()
	tr.close()
	tr.ack(5)
	tr.unadd(1) // 6 was not handed over after all
	if held := bytes.held(); held != 0 {
		t.Errorf("%d bytes held after one record was acked and the other taken back", held)
	}
	if marked {
		t.Error("a closed tracker marked an offset")
	}
	select {
	case <-idle:
	default:
		t.Error("idle channel not closed once nothing is outstanding")
	}
}

// TestTrackerMarksInStepsWhileBusy: while records are outstanding the tracker marks once per
// markEvery handled ones, then at once when none is left, and close marks what is handled.
func TestTrackerMarksInStepsWhileBusy(t *testing.T) {
	var marks []int64
	tr := newTracker(func(next int64) { marks = append(marks, next) }, nil)
	offs := make([]int64, 3*markEvery+10)
	for i := range offs {
		offs[i] = int64(i)
	}
	tr.add(deliveries(offs...))
	for _, o := range offs[:len(offs)-1] {
		tr.ack(o)
	}
	want := []int64{markEvery, 2 * markEvery, 3 * markEvery}
	if !slices.Equal(marks, want) {
		t.Fatalf("marks while busy %v, want %v", marks, want)
	}
	tr.ack(offs[len(offs)-1])
	if last := marks[len(marks)-1]; last != int64(len(offs)) {
		t.Fatalf("nothing outstanding: last mark %d, want %d", last, len(offs))
	}

	marks = nil
	tr = newTracker(func(next int64) { marks = append(marks, next) }, nil)
	tr.add(deliveries(10, 11, 12))
	tr.ack(10)
	tr.ack(12)
	if len(marks) != 0 {
		t.Fatalf("marked %v with 11 outstanding and fewer than markEvery handled", marks)
	}
	tr.close()
	if !slices.Equal(marks, []int64{11}) {
		t.Fatalf("close marked %v, want [11]: 10 is handled, 11 is not", marks)
	}
}

// TestTrackerAckAllIsAckOfEach: acknowledging records in batches, in any order and with
// repeats, marks what acknowledging them one by one marks.
func TestTrackerAckAllIsAckOfEach(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	offs := make([]int64, 500)
	for i := range offs {
		offs[i] = int64(3 * i)
	}
	order := slices.Clone(offs)
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var one, all []int64
	single := newTracker(func(next int64) { one = append(one, next) }, nil)
	batched := newTracker(func(next int64) { all = append(all, next) }, nil)
	single.add(deliveries(offs...))
	batched.add(deliveries(offs...))
	for len(order) > 0 {
		n := min(len(order), 1+r.IntN(20))
		var ds []*driver.Delivery
		for _, d := range deliveries(order[:n]...) {
			ds = append(ds, &d)
		}
		ds = append(ds, ds[0]) // a repeat changes nothing
		batched.ackAll(ds)
		for _, o := range order[:n] {
			single.ack(o)
		}
		order = order[n:]
		if gotOne, gotAll := single.next, batched.next; gotOne != gotAll {
			t.Fatalf("handled offset %d one by one, %d in batches", gotOne, gotAll)
		}
	}
	if one[len(one)-1] != offs[len(offs)-1]+1 || all[len(all)-1] != one[len(one)-1] {
		t.Errorf("last marks %d one by one and %d in batches, want %d", one[len(one)-1], all[len(all)-1], offs[len(offs)-1]+1)
	}
	select {
	case <-batched.idleCh():
	default:
		t.Error("batched tracker not idle after every record was acknowledged")
	}
}
