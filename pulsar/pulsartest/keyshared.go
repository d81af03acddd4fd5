package pulsartest

import "hash/fnv"

// keyHashRange is the size of Key_Shared's hash space, as on a real broker.
const keyHashRange = 65536

// keyHash maps a message key onto the Key_Shared hash space. Messages without
// a key share one hash, so they keep their order too.
func keyHash(key string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	// FNV alone puts similar keys ("key-1", "key-2") close together; the
	// murmur3 finaliser spreads them over the whole range.
	x := h.Sum32()
	x ^= x >> 16
	x *= 0x85ebca6b
	x ^= x >> 13
	x *= 0xc2b2ae35
	x ^= x >> 16
	return x % keyHashRange
}

// rangeOwner returns the consumer whose hash range covers hash: a consumer's
// own STICKY ranges first, else an even split of the hash space over the
// auto-split consumers in order of subscription. nil means nobody covers it.
func (sub *subscription) rangeOwner(hash uint32) *consumer {
	var auto []*consumer
	for _, c := range sub.consumers {
		if len(c.ranges) == 0 {
			auto = append(auto, c)
			continue
		}
		for _, r := range c.ranges {
			if int32(hash) >= r.GetStart() && int32(hash) <= r.GetEnd() {
				return c
			}
		}
	}
	if len(auto) == 0 {
		return nil
	}
	return auto[int(hash)*len(auto)/keyHashRange]
}
