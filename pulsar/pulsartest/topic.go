package pulsartest

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/courier-go/courier/pulsar/pulsartest/internal/wire"
)

// topic is one non-partitioned topic or one partition: an append-only log of
// entries in a single ledger, and its subscriptions. Guarded by Server.mu.
type topic struct {
	s         *Server
	name      string
	ledger    uint64
	partition int32 // -1 when not a partition
	entries   []*entry
	subs      map[string]*subscription
}

// entry is one stored SEND: a single message or a whole batch.
type entry struct {
	id        uint64
	stored    []byte    // payload from the checksum magic on, resent verbatim
	count     int       // messages inside (batch size, 1 when not batched)
	batched   bool      // metadata says it is a batch, even of one
	key       string    // ordering key, else partition key: what Key_Shared routes on
	deliverAt time.Time // zero unless the producer asked for delayed delivery
	published time.Time
}

func (t *topic) append(p parsedPayload, now time.Time) *entry {
	m := p.meta
	e := &entry{
		id:        uint64(len(t.entries)),
		stored:    p.stored,
		count:     1,
		batched:   m.NumMessagesInBatch != nil,
		key:       m.GetPartitionKey(),
		published: now,
	}
	if e.batched && m.GetNumMessagesInBatch() > 0 {
		e.count = int(m.GetNumMessagesInBatch())
	}
	if k := m.GetOrderingKey(); len(k) > 0 {
		e.key = string(k)
	}
	if m.PublishTime != nil {
		e.published = time.UnixMilli(int64(m.GetPublishTime()))
	}
	if m.DeliverAtTime != nil {
		e.deliverAt = time.UnixMilli(m.GetDeliverAtTime())
	}
	t.entries = append(t.entries, e)
	return e
}

func (t *topic) messageID(entryID uint64) *wire.MessageIdData {
	return &wire.MessageIdData{
		LedgerId:  proto.Uint64(t.ledger),
		EntryId:   proto.Uint64(entryID),
		Partition: proto.Int32(t.partition),
	}
}

// lastMessageID is the id of the newest message; on an empty topic its entry
// id is -1, which the client reads as "no message".
func (t *topic) lastMessageID() *wire.MessageIdData {
	if len(t.entries) == 0 {
		return &wire.MessageIdData{
			LedgerId:  proto.Uint64(t.ledger),
			EntryId:   proto.Uint64(^uint64(0)),
			Partition: proto.Int32(t.partition),
		}
	}
	e := t.entries[len(t.entries)-1]
	id := t.messageID(e.id)
	if e.batched {
		id.BatchIndex = proto.Int32(int32(e.count - 1))
	}
	return id
}

func (t *topic) dispatchAll() {
	for _, sub := range t.subs {
		sub.dispatch()
	}
}
