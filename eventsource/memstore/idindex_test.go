package memstore

import (
	"fmt"
	"testing"
)

// TestIDIndexCollisions: with a hash that makes every ID collide, the index still finds each
// ID and only it.
func TestIDIndexCollisions(t *testing.T) {
	for _, hash := range []func(string) uint64{
		func(string) uint64 { return 42 },                     // every ID collides
		func(id string) uint64 { return uint64(len(id) % 3) }, // some do
	} {
		x := newIDIndex()
		x.hash = hash
		var ids []string
		idAt := func(i int) string { return ids[i] }
		for i := range 50 {
			id := fmt.Sprint("id-", i)
			if _, ok, _ := x.get(id, idAt); ok {
				t.Fatalf("%s found before it was put", id)
			}
			_, _, slot := x.get(id, idAt)
			ids = append(ids, id)
			x.put(id, slot, i, false)
		}
		// Several puts after one round of gets (one append of many events) recheck the hash.
		batch := []string{"b-1", "b-22", "b-333"}
		var slots []idSlot
		for _, id := range batch {
			_, _, slot := x.get(id, idAt)
			slots = append(slots, slot)
		}
		for k, id := range batch {
			ids = append(ids, id)
			x.put(id, slots[k], len(ids)-1, true)
		}
		for i, id := range ids {
			if got, ok, _ := x.get(id, idAt); !ok || got != i {
				t.Errorf("get(%s) = %d, %v; want %d", id, got, ok, i)
			}
		}
		if _, ok, _ := x.get("absent", idAt); ok {
			t.Error("an ID never put was found")
		}
	}
}
