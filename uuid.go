package courier

import (
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// NewID returns a new message ID: a UUIDv7 (RFC 9562) in its canonical text form, made from
// t's Unix milliseconds and 74 random bits. IDs sort by creation time to the millisecond,
// which keeps broker indexes and logs readable.
//
// The random bits come from math/rand/v2's generator (ChaCha8, seeded by the runtime from the
// operating system): unpredictable enough for unique IDs, and much cheaper than a system call
// per message. IDs are not secrets and must not be used as such.
func NewID(t time.Time) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(t.UnixMilli())<<16|rand.Uint64()&0x0fff|0x7000)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64()&0x3fffffffffffffff|0x8000000000000000)
	const hexdigits = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexdigits[b>>4], hexdigits[b&0x0f]
		j += 2
	}
	return string(s[:])
}
