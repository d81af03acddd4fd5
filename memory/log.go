package memory

import "github.com/courier-go/courier"

// segmentSize is how many messages one segment of a topic's log holds. Segments keep appends
// from ever copying the whole log, and let trimming free memory a segment at a time.
const segmentSize = 4096

// segmentedLog is an append-only sequence of messages numbered by offset.
type segmentedLog struct {
	segs    [][]courier.Message // segs[0][0] has offset segBase
	segBase int64
	first   int64 // oldest offset kept (trimming may leave the start of segs[0] unused)
	next    int64 // offset of the next append
}

func (l *segmentedLog) end() int64 { return l.next }

func (l *segmentedLog) len() int { return int(l.next - l.first) }

// append stores msg at the next offset, which it records in msg.Offset.
func (l *segmentedLog) append(msg courier.Message) {
	msg.Offset = l.next
	i := int(l.next - l.segBase)
	if i/segmentSize == len(l.segs) {
		l.segs = append(l.segs, make([]courier.Message, 0, segmentSize))
	}
	seg := &l.segs[i/segmentSize]
	*seg = append(*seg, msg)
	l.next++
}

// at returns the message at offset off, which must be in [first, next).
func (l *segmentedLog) at(off int64) *courier.Message {
	i := int(off - l.segBase)
	return &l.segs[i/segmentSize][i%segmentSize]
}

// trim forgets the n oldest messages.
func (l *segmentedLog) trim(n int) {
	for off := l.first; off < l.first+int64(n); off++ {
		*l.at(off) = courier.Message{} // let the GC have the payload now
	}
	l.first += int64(n)
	for len(l.segs) > 0 && l.first-l.segBase >= segmentSize {
		l.segs[0] = nil
		l.segs = l.segs[1:]
		l.segBase += segmentSize
	}
}
