// Package uuidv7 writes new UUIDv7 message IDs into a caller's buffer, so that an adapter can
// keep an ID and a message's bytes in one allocation; courier.NewID is the same as a string.
package uuidv7

import (
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// Len is the length of an ID in its canonical text form.
const Len = 36

// Append appends a new ID for time t to dst: a UUIDv7 (RFC 9562) of t's Unix milliseconds
// and 74 random bits, in its canonical lowercase text form.
//
// The random bits come from math/rand/v2's generator (ChaCha8, seeded by the runtime from the
// operating system): unpredictable enough for unique IDs, and much cheaper than a system call
// per message. IDs are not secrets and must not be used as such.
func Append(dst []byte, t time.Time) []byte {
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(t.UnixMilli())<<16|rand.Uint64()&0x0fff|0x7000)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64()&0x3fffffffffffffff|0x8000000000000000)
	const hexdigits = "0123456789abcdef"
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexdigits[b>>4], hexdigits[b&0x0f])
	}
	return dst
}
