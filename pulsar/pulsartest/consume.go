package pulsartest

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/courier-go/courier/pulsar/pulsartest/internal/wire"
)

// startEntry turns a client's start message id into the first entry to read.
// The position is inclusive: the client itself drops what it does not want.
func startEntry(t *topic, id *wire.MessageIdData) uint64 {
	ledger, entry := int64(id.GetLedgerId()), int64(id.GetEntryId())
	switch {
	case ledger < 0 || ledger < int64(t.ledger): // earliest, or an older ledger
		return 0
	case ledger == math.MaxInt64 || ledger > int64(t.ledger): // latest, or a newer ledger
		return uint64(len(t.entries))
	case entry < 0:
		return 0
	}
	return uint64(entry)
}

func (c *conn) handleSubscribe(m *wire.CommandSubscribe) {
	s := c.s
	reqID := m.GetRequestId()
	name, err := canonicalTopic(m.GetTopic())
	if err != nil {
		c.sendError(reqID, wire.ServerError_InvalidTopicName, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.partitioned[name]; ok {
		c.sendError(reqID, wire.ServerError_NotAllowedError,
			fmt.Sprintf("topic %s is partitioned: subscribe to its partitions", name))
		return
	}
	if cons := c.consumers[m.GetConsumerId()]; cons != nil {
		// A retried subscribe for a consumer already here: the same answer again.
		c.sendSuccess(reqID)
		return
	}
	t := s.topic(name)
	typ := m.GetSubType()
	start := func() uint64 {
		if !m.GetDurable() && m.StartMessageId != nil {
			return startEntry(t, m.GetStartMessageId())
		}
		if m.GetInitialPosition() == wire.CommandSubscribe_Earliest {
			return 0
		}
		return uint64(len(t.entries)) // a new subscription starts at the latest message
	}
	sub := t.subs[m.GetSubscription()]
	switch {
	case sub == nil:
		sub = newSubscription(t, m.GetSubscription(), typ, m.GetDurable(), start())
		t.subs[sub.name] = sub
	case len(sub.consumers) == 0:
		sub.typ = typ
		sub.active = nil
		if !sub.durable {
			sub.reset(start())
		}
	case sub.typ != typ:
		c.sendError(reqID, wire.ServerError_ConsumerBusy,
			fmt.Sprintf("subscription %s on %s is %s, not %s", sub.name, name, sub.typ, typ))
		return
	case typ == wire.CommandSubscribe_Exclusive:
		c.sendError(reqID, wire.ServerError_ConsumerBusy,
			fmt.Sprintf("exclusive consumer is already connected to subscription %s on %s", sub.name, name))
		return
	}
	cons := &consumer{
		id:       m.GetConsumerId(),
		c:        c,
		sub:      sub,
		name:     m.GetConsumerName(),
		priority: m.GetPriorityLevel(),
	}
	if ks := m.GetKeySharedMeta(); ks != nil && ks.GetKeySharedMode() == wire.KeySharedMode_STICKY {
		cons.ranges = ks.GetHashRanges()
	}
	c.consumers[cons.id] = cons
	c.sendSuccess(reqID)
	sub.addConsumer(cons)
}

// consumer looks up one of the connection's consumers. Called with s.mu held.
func (c *conn) consumer(id uint64) *consumer {
	return c.consumers[id]
}

func (c *conn) handleFlow(m *wire.CommandFlow) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if cons := c.consumer(m.GetConsumerId()); cons != nil {
		cons.permits += int64(m.GetMessagePermits())
		cons.sub.dispatch()
	}
}

// partialAck reports whether an ack set still marks messages of a batch as
// unacknowledged, which leaves the entry itself unacknowledged.
func partialAck(id *wire.MessageIdData) bool {
	return slices.ContainsFunc(id.GetAckSet(), func(w int64) bool { return w != 0 })
}

func (c *conn) handleAck(m *wire.CommandAck) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	cons := c.consumer(m.GetConsumerId())
	if cons != nil {
		sub := cons.sub
		for _, id := range m.GetMessageId() {
			if id.GetLedgerId() != sub.t.ledger {
				continue
			}
			entry := int64(id.GetEntryId())
			switch {
			case m.GetAckType() == wire.CommandAck_Cumulative && partialAck(id):
				sub.ackCumulative(entry - 1)
			case m.GetAckType() == wire.CommandAck_Cumulative:
				sub.ackCumulative(entry)
			case !partialAck(id):
				sub.ackIndividual(uint64(entry))
			}
		}
		sub.dispatch()
	}
	if m.RequestId == nil {
		return
	}
	resp := &wire.CommandAckResponse{
		ConsumerId: proto.Uint64(m.GetConsumerId()),
		RequestId:  proto.Uint64(m.GetRequestId()),
	}
	if cons == nil {
		resp.Error = wire.ServerError_ConsumerNotFound.Enum()
		resp.Message = proto.String(fmt.Sprintf("consumer %d not found", m.GetConsumerId()))
	}
	c.send(&wire.BaseCommand{Type: wire.BaseCommand_ACK_RESPONSE.Enum(), AckResponse: resp}, nil)
}

func (c *conn) handleRedeliver(m *wire.CommandRedeliverUnacknowledgedMessages) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	cons := c.consumer(m.GetConsumerId())
	if cons == nil {
		return
	}
	var ids []uint64
	for _, id := range m.GetMessageIds() {
		if id.GetLedgerId() == cons.sub.t.ledger {
			ids = append(ids, id.GetEntryId())
		}
	}
	if len(m.GetMessageIds()) > 0 && len(ids) == 0 {
		return // only ids of other ledgers: nothing of ours to redeliver
	}
	cons.sub.redeliverFor(cons, ids)
}

func (c *conn) handleCloseConsumer(m *wire.CommandCloseConsumer) {
	c.s.mu.Lock()
	if cons := c.consumer(m.GetConsumerId()); cons != nil {
		delete(c.consumers, cons.id)
		cons.sub.removeConsumer(cons)
	}
	c.s.mu.Unlock()
	c.sendSuccess(m.GetRequestId())
}

func (c *conn) handleUnsubscribe(m *wire.CommandUnsubscribe) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	cons := c.consumer(m.GetConsumerId())
	if cons == nil {
		c.sendError(m.GetRequestId(), wire.ServerError_ConsumerNotFound,
			fmt.Sprintf("consumer %d not found", m.GetConsumerId()))
		return
	}
	sub := cons.sub
	if len(sub.consumers) > 1 && !m.GetForce() {
		c.sendError(m.GetRequestId(), wire.ServerError_ConsumerBusy,
			fmt.Sprintf("subscription %s has other connected consumers", sub.name))
		return
	}
	for _, other := range slices.Clone(sub.consumers) {
		delete(other.c.consumers, other.id)
		if other != cons {
			other.c.sendCloseConsumer(other.id)
		}
	}
	sub.consumers = nil
	sub.drop()
	c.sendSuccess(m.GetRequestId())
}

// sendCloseConsumer tells the client the broker closed its consumer; the
// client then subscribes again.
func (c *conn) sendCloseConsumer(id uint64) {
	c.send(&wire.BaseCommand{
		Type: wire.BaseCommand_CLOSE_CONSUMER.Enum(),
		CloseConsumer: &wire.CommandCloseConsumer{
			ConsumerId: proto.Uint64(id),
			RequestId:  proto.Uint64(0),
		},
	}, nil)
}

// handleSeek moves the subscription's cursor. Like a real broker it first
// disconnects the subscription's consumers, which then subscribe again and
// read from the new position.
func (c *conn) handleSeek(m *wire.CommandSeek) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	cons := c.consumer(m.GetConsumerId())
	if cons == nil {
		c.sendError(m.GetRequestId(), wire.ServerError_ConsumerNotFound,
			fmt.Sprintf("consumer %d not found", m.GetConsumerId()))
		return
	}
	sub := cons.sub
	t := sub.t
	var pos uint64
	switch {
	case m.MessageId != nil:
		pos = startEntry(t, m.GetMessageId())
	case m.MessagePublishTime != nil:
		ms := int64(m.GetMessagePublishTime())
		pos = uint64(len(t.entries))
		for _, e := range t.entries {
			if e.published.UnixMilli() >= ms {
				pos = e.id
				break
			}
		}
	default:
		c.sendError(m.GetRequestId(), wire.ServerError_UnknownError, "seek needs a message id or a publish time")
		return
	}
	for _, other := range slices.Clone(sub.consumers) {
		delete(other.c.consumers, other.id)
		other.c.sendCloseConsumer(other.id)
	}
	sub.consumers = nil
	sub.active = nil
	sub.reset(pos)
	c.sendSuccess(m.GetRequestId())
}

func (c *conn) handleGetLastMessageID(m *wire.CommandGetLastMessageId) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	cons := c.consumer(m.GetConsumerId())
	if cons == nil {
		c.sendError(m.GetRequestId(), wire.ServerError_ConsumerNotFound,
			fmt.Sprintf("consumer %d not found", m.GetConsumerId()))
		return
	}
	t := cons.sub.t
	c.send(&wire.BaseCommand{
		Type: wire.BaseCommand_GET_LAST_MESSAGE_ID_RESPONSE.Enum(),
		GetLastMessageIdResponse: &wire.CommandGetLastMessageIdResponse{
			LastMessageId:              t.lastMessageID(),
			RequestId:                  proto.Uint64(m.GetRequestId()),
			ConsumerMarkDeletePosition: t.messageID(uint64(cons.sub.markDelete)),
		},
	}, nil)
}
