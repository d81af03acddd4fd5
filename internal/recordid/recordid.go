// Package recordid makes message IDs for brokers whose records have a place of their own
// (Kafka's topic, partition and offset; Pulsar's message ID), so that an ID Send fills in
// need not travel with the message: the consumer derives a UUIDv7 from the record instead,
// the same in every group and on every delivery. Sixteen random bytes per message are, on
// small or compressible values, a large part of what goes over the wire; and the caller of
// Send never sees the ID Send fills in (it takes the message by value), so nothing can tell
// the difference except that the ID is now fixed by the record.
package recordid

import (
	"encoding/binary"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// Prepare is courier.Prepare for such brokers: a zero Timestamp is filled at millisecond
// precision (which the broker's own timestamp keeps whole), read into *now the first time one
// is needed so that one call to Send or SendBatch reads the clock once; an empty ID stays
// empty. callerID reports whether the ID is the caller's, and must travel with the message.
func Prepare(msg courier.Message, now *time.Time) (_ courier.Message, callerID bool, err error) {
	if msg.Timestamp.IsZero() {
		if now.IsZero() {
			*now = time.Now().Truncate(time.Millisecond)
		}
		msg.Timestamp = *now
	}
	if msg.ID == "" {
		msg.Timestamp = msg.Timestamp.Round(0)
		msg.Attempt, msg.Partition, msg.Offset = 0, 0, 0
		return msg, false, driver.Validate(msg)
	}
	msg, err = driver.Prepare(msg)
	return msg, true, err
}

// SubMilli returns the nanoseconds of t beyond its whole milliseconds since the epoch: when
// they are not 0, a broker timestamp in milliseconds cannot hold t.
func SubMilli(t time.Time) int64 {
	return t.Sub(time.UnixMilli(t.UnixMilli())).Nanoseconds()
}

// Mix is the part of an ID fixed for one partition of a topic: FNV-1a of the topic, then
// splitmix64's finaliser, in two words.
type Mix struct{ m1, m2 uint64 }

// PartitionMix returns the Mix of a partition.
func PartitionMix(topic string, partition int32) Mix {
	h := uint64(14695981039346656037)
	for i := range len(topic) {
		h = (h ^ uint64(topic[i])) * 1099511628211
	}
	m1 := Hash(h ^ uint64(uint32(partition))*0x9e3779b97f4a7c15)
	return Mix{m1, Hash(m1 + 0x632be59bd9b4e019)}
}

// UUID returns the ID of the record at pos of the partition, written at ts: a UUIDv7 of ts's
// millisecond whose 74 other bits are 12 bits of the partition's mix and 62 bits of pos
// masked by it. Two records of one partition with positions below 2^62 never share an ID
// (the mask is a bijection); records of different partitions written in the same
// millisecond collide as rarely as random UUIDv7s do.
func (m Mix) UUID(pos uint64, ts time.Time) [16]byte {
	var u [16]byte
	ms := max(ts.UnixMilli(), 0)
	binary.BigEndian.PutUint64(u[0:8], uint64(ms)<<16|0x7000|m.m1>>52) // 48-bit time, version 7, 12 bits of the partition
	binary.BigEndian.PutUint64(u[8:16], (pos^m.m2)&(1<<62-1)|1<<63)    // variant 10, 62 bits of the position
	return u
}

// Hash is splitmix64's finaliser: a bijection of 64 bits that mixes every bit into every other.
func Hash(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
