package memstore

import "hash/maphash"

// idIndex maps event IDs to log indexes. It keys its main map by a 64-bit hash of the ID,
// which is faster and smaller than keying by the string (a map of millions of IDs is
// mostly cache misses); the rare ID whose hash another ID already has goes to a second map
// keyed by the string. Lookups confirm a hash hit against the stored event's ID.
type idIndex struct {
	hash    func(string) uint64
	byHash  map[uint64]int
	collide map[string]int
}

// idSlot is what a lookup found out, for the put that may follow it.
type idSlot struct {
	hash  uint64
	taken bool // another ID (or this one) has the hash
}

func newIDIndex() idIndex {
	seed := maphash.MakeSeed()
	return idIndex{hash: func(id string) uint64 { return maphash.String(seed, id) }, byHash: map[uint64]int{}, collide: map[string]int{}}
}

// get returns the log index of id, if it is there; idAt returns the ID at a log index.
func (x idIndex) get(id string, idAt func(int) string) (int, bool, idSlot) {
	slot := idSlot{hash: x.hash(id)}
	i, ok := x.byHash[slot.hash]
	slot.taken = ok
	if ok && idAt(i) == id {
		return i, true, slot
	}
	if ok {
		i, ok = x.collide[id]
		return i, ok, slot
	}
	return 0, false, slot
}

// put records that id, which get did not find, is at log index i. recheck says that other
// IDs were put since the get (the events before it in the same append), which may have
// taken the hash.
func (x idIndex) put(id string, slot idSlot, i int, recheck bool) {
	if recheck && !slot.taken {
		_, slot.taken = x.byHash[slot.hash]
	}
	if slot.taken {
		x.collide[id] = i
		return
	}
	x.byHash[slot.hash] = i
}
