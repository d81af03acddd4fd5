package kafka

import (
	"encoding/binary"
	"time"

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

// recordUUID returns the ID of a record that carries none: a UUIDv7 whose time is the
// record's timestamp and whose 74 other bits are made of its topic, partition and offset.
// Every consumer, in every group and on every delivery, derives the same ID for the same
// record; two records of one partition never share one (the offset is in the ID as it is,
// only masked by a value fixed for the partition); records of different partitions
// written in the same millisecond collide as rarely as random UUIDv7s do.
//
// This is why Send does not write the UUIDv7 it fills into an empty ID: the consumer can
// make as good a one from where the record landed, and 16 random bytes saved per record
// are, on small or compressible values, a large part of what goes over the wire.
func recordUUID(topic string, partition int32, offset int64, ts time.Time) [16]byte {
	return partitionMix(topic, partition).uuid(offset, ts)
}

// mix is the part of recordUUID fixed for a partition: FNV-1a of the topic, then splitmix64's
// finaliser, in two words.
type mix struct{ m1, m2 uint64 }

func partitionMix(topic string, partition int32) mix {
	h := uint64(14695981039346656037)
	for i := range len(topic) {
		h = (h ^ uint64(topic[i])) * 1099511628211
	}
	m1 := mix64(h ^ uint64(uint32(partition))*0x9e3779b97f4a7c15)
	return mix{m1, mix64(m1 + 0x632be59bd9b4e019)}
}

// uuid returns the ID of the record at offset, written at ts, of the partition of m.
func (m mix) uuid(offset int64, ts time.Time) [16]byte {
	var u [16]byte
	ms := max(ts.UnixMilli(), 0)
	binary.BigEndian.PutUint64(u[0:8], uint64(ms)<<16|0x7000|m.m1>>52)         // 48-bit time, version 7, 12 bits of the partition
	binary.BigEndian.PutUint64(u[8:16], (uint64(offset)^m.m2)&(1<<62-1)|1<<63) // variant 10, 62 bits of the offset
	return u
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
