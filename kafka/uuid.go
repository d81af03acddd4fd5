package kafka

import (
	"time"

	"github.com/courier-go/courier/internal/recordid"
	"github.com/google/uuid"
)

// A message ID in the canonical lowercase UUID form (what courier.NewID makes) travels as its
// 16 bytes in HeaderUUID instead of its 36 characters in HeaderID: the hex text is random
// and does not compress, and on small or compressible values it is a large part of the
// record. Any other ID travels as it is, so every ID comes back exactly as it was sent.

// packUUID writes the 16 bytes of id into dst and reports whether id is a UUID in canonical
// lowercase form, the only form strArena.uuid gives back unchanged.
func packUUID(id string, dst *[16]byte) bool {
	if len(id) != 36 { // uuid.Parse also takes the urn: and braced forms
		return false
	}
	for i := range len(id) {
		if 'A' <= id[i] && id[i] <= 'F' { // and upper case
			return false
		}
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return false
	}
	*dst = u
	return true
}

// recordUUID returns the ID of a record that carries none (see recordid): every consumer,
// in every group and on every delivery, derives the same ID for the same record, and two
// records of one partition never share one.
func recordUUID(topic string, partition int32, offset int64, ts time.Time) [16]byte {
	return recordid.PartitionMix(topic, partition).UUID(uint64(offset), ts)
}
