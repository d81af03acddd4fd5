package courier

import (
	"time"

	"github.com/courier-go/courier/internal/uuidv7"
)

// NewID returns a new message ID: a UUIDv7 (RFC 9562) in its canonical text form, made from
// t's Unix milliseconds and 74 random bits. IDs sort by creation time to the millisecond,
// which keeps broker indexes and logs readable.
//
// The random bits come from math/rand/v2's generator (ChaCha8, seeded by the runtime from the
// operating system): unpredictable enough for unique IDs, and much cheaper than a system call
// per message. IDs are not secrets and must not be used as such.
func NewID(t time.Time) string {
	var s [uuidv7.Len]byte
	return string(uuidv7.Append(s[:0], t))
}
