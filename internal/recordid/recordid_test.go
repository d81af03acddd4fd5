package recordid_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/recordid"
	"github.com/google/uuid"
)

// TestPrepare: an empty ID stays empty and a zero timestamp is filled at millisecond
// precision, once for every message of a call; a caller's ID goes through courier.Prepare;
// invalid messages are refused either way.
func TestPrepare(t *testing.T) {
	var now time.Time
	a, callerA, err := recordid.Prepare(courier.Message{Topic: "t", Attempt: 3}, &now)
	if err != nil || callerA || a.ID != "" || a.Attempt != 0 {
		t.Fatalf("Prepare without ID: %+v, caller %v, %v", a, callerA, err)
	}
	if a.Timestamp.IsZero() || recordid.SubMilli(a.Timestamp) != 0 {
		t.Errorf("filled timestamp %v, want the current millisecond", a.Timestamp)
	}
	b, _, _ := recordid.Prepare(courier.Message{Topic: "t"}, &now)
	if !b.Timestamp.Equal(a.Timestamp) {
		t.Errorf("second message of one call stamped %v, the first %v: the clock is read once", b.Timestamp, a.Timestamp)
	}
	c, callerC, err := recordid.Prepare(courier.Message{Topic: "t", ID: "mine"}, &now)
	if err != nil || !callerC || c.ID != "mine" {
		t.Errorf("Prepare with the caller's ID: %+v, caller %v, %v", c, callerC, err)
	}
	if _, _, err := recordid.Prepare(courier.Message{}, &now); err == nil {
		t.Error("a message without topic was accepted")
	}
	if ns := recordid.SubMilli(time.Unix(1, 1_234_567)); ns != 234_567 {
		t.Errorf("SubMilli = %d, want 234567", ns)
	}
}

// TestUUIDsOfAPartitionNeverCollide: positions of one partition map to distinct IDs (the
// mask is a bijection), all UUIDv7 of the given millisecond.
func TestUUIDsOfAPartitionNeverCollide(t *testing.T) {
	ts := time.UnixMilli(1700000000123)
	m := recordid.PartitionMix("orders", 3)
	seen := map[[16]byte]uint64{}
	for pos := range uint64(100000) {
		u := m.UUID(pos, ts)
		if prev, dup := seen[u]; dup {
			t.Fatalf("positions %d and %d share ID %s", prev, pos, uuid.UUID(u))
		}
		seen[u] = pos
	}
	id := uuid.UUID(m.UUID(42, ts))
	sec, nsec := id.Time().UnixTime()
	if id.Version() != 7 || id.Variant() != uuid.RFC4122 || time.Unix(sec, nsec).UnixMilli() != ts.UnixMilli() {
		t.Errorf("ID %s: version %d, variant %v, time %v; want a UUIDv7 of %v", id, id.Version(), id.Variant(), time.Unix(sec, nsec), ts)
	}
}

func Example() {
	ts := time.UnixMilli(1700000000123)
	mix := recordid.PartitionMix("orders", 0) // once per partition
	a, b := mix.UUID(41, ts), mix.UUID(41, ts)
	fmt.Println(a == b, uuid.UUID(a).Version())
	// Output: true VERSION_7
}
