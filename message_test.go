package courier_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/courier-go/courier"
)

func TestNewIDIsUUIDv7(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for range 10000 {
		s := courier.NewID(now)
		u, err := uuid.Parse(s)
		if err != nil {
			t.Fatalf("NewID %q does not parse: %v", s, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("NewID %q: version %d variant %v, want 7 RFC4122", s, u.Version(), u.Variant())
		}
		if sec, nsec := u.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != now.UnixMilli() {
			t.Fatalf("NewID %q carries time %v, want %v", s, time.Unix(sec, nsec), now)
		}
		if seen[s] {
			t.Fatalf("NewID repeated %q", s)
		}
		seen[s] = true
	}
	if a, b := courier.NewID(now), courier.NewID(now.Add(time.Millisecond)); a >= b {
		t.Errorf("IDs do not sort by time: %s >= %s", a, b)
	}
}
