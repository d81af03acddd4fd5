package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/google/uuid"
)

func TestPackUUID(t *testing.T) {
	var a strArena
	for range 100 {
		for _, id := range []string{courier.NewID(time.Now()), uuid.NewString()} {
			var b [16]byte
			if !packUUID(id, &b) {
				t.Fatalf("canonical UUID %q not packed", id)
			}
			if got := a.uuid(&b); got != id {
				t.Fatalf("unpack(pack(%q)) = %q", id, got)
			}
		}
	}
	for _, id := range []string{
		"", "plain", "01234567-89AB-cdef-0123-456789abcdef", // uppercase would not come back as it was
		"0123456789abcdef0123456789abcdef0123", "01234567-89ab-cdef-0123-456789abcdeg",
		"01234567-89ab-cdef-0123_456789abcdef", "{1234567-89ab-cdef-0123-456789abcdef",
	} {
		var b [16]byte
		if packUUID(id, &b) {
			t.Errorf("%q packed as a UUID; it must travel as text", id)
		}
	}
}

// TestRecordUUID: the ID derived for a record without one is a UUIDv7 of the record's
// millisecond, the same for the same record, and different for every other record: all
// offsets of a partition, and the same offsets of other partitions and topics, written in
// the same millisecond.
func TestRecordUUID(t *testing.T) {
	ts := time.UnixMilli(1700000000123)
	seen := map[[16]byte]string{}
	for _, topic := range []string{"orders", "orders2", "payments", ""} {
		for p := range int32(8) {
			for off := range int64(20000) {
				u := recordUUID(topic, p, off, ts)
				where := fmt.Sprintf("%s/%d/%d", topic, p, off)
				if prev, dup := seen[u]; dup {
					t.Fatalf("%s and %s have the same ID %s", prev, where, uuid.UUID(u))
				}
				seen[u] = where
				if off%997 != 0 {
					continue
				}
				id := uuid.UUID(u)
				if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
					t.Fatalf("%s: ID %s is version %d variant %v, want a UUIDv7", where, id, id.Version(), id.Variant())
				}
				if sec, nsec := id.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != ts.UnixMilli() {
					t.Fatalf("%s: ID %s holds time %v, want %v", where, id, time.Unix(sec, nsec), ts)
				}
				if again := recordUUID(topic, p, off, ts); again != u {
					t.Fatalf("%s: derived %s, then %s", where, id, uuid.UUID(again))
				}
			}
		}
	}
	// A record without a timestamp (an old message format) still gets a valid UUIDv7.
	if id := uuid.UUID(recordUUID("t", 0, 1, time.Time{})); id.Version() != 7 {
		t.Errorf("ID of a record without timestamp %s is not a UUIDv7", id)
	}
}
