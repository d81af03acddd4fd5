package pulsartest

import (
	"errors"
	"fmt"
	"google.golang.org/protobuf/encoding/protowire"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/courier-go/courier/pulsar/pulsartest/internal/wire"
)

const (
	serverVersion   = "pulsartest"
	maxProtocolVers = 20
)

// handle runs one command; false closes the connection, as a real broker does
// on a protocol violation.
func (c *conn) handle(cmd *wire.BaseCommand, payload []byte) bool {
	switch cmd.GetType() {
	case wire.BaseCommand_CONNECT:
		c.handleConnect(cmd.GetConnect())
	case wire.BaseCommand_PING:
		c.send(&wire.BaseCommand{Type: wire.BaseCommand_PONG.Enum(), Pong: &wire.CommandPong{}}, nil)
	case wire.BaseCommand_PONG:
	case wire.BaseCommand_PARTITIONED_METADATA:
		c.handlePartitionedMetadata(cmd.GetPartitionMetadata())
	case wire.BaseCommand_LOOKUP:
		c.handleLookup(cmd.GetLookupTopic())
	case wire.BaseCommand_PRODUCER:
		c.handleProducer(cmd.GetProducer())
	case wire.BaseCommand_SEND:
		c.handleSend(cmd.GetSend(), payload)
	case wire.BaseCommand_CLOSE_PRODUCER:
		c.handleCloseProducer(cmd.GetCloseProducer())
	case wire.BaseCommand_SUBSCRIBE:
		c.handleSubscribe(cmd.GetSubscribe())
	case wire.BaseCommand_FLOW:
		c.handleFlow(cmd.GetFlow())
	case wire.BaseCommand_ACK:
		c.handleAck(cmd.GetAck())
	case wire.BaseCommand_REDELIVER_UNACKNOWLEDGED_MESSAGES:
		c.handleRedeliver(cmd.GetRedeliverUnacknowledgedMessages())
	case wire.BaseCommand_CLOSE_CONSUMER:
		c.handleCloseConsumer(cmd.GetCloseConsumer())
	case wire.BaseCommand_UNSUBSCRIBE:
		c.handleUnsubscribe(cmd.GetUnsubscribe())
	case wire.BaseCommand_SEEK:
		c.handleSeek(cmd.GetSeek())
	case wire.BaseCommand_GET_LAST_MESSAGE_ID:
		c.handleGetLastMessageID(cmd.GetGetLastMessageId())
	case wire.BaseCommand_GET_TOPICS_OF_NAMESPACE:
		c.handleTopicsOfNamespace(cmd.GetGetTopicsOfNamespace())
	case wire.BaseCommand_GET_SCHEMA:
		// Raw bytes carry no schema: say so, as a broker does for a topic without one.
		c.send(&wire.BaseCommand{
			Type: wire.BaseCommand_GET_SCHEMA_RESPONSE.Enum(),
			GetSchemaResponse: &wire.CommandGetSchemaResponse{
				RequestId:    proto.Uint64(cmd.GetGetSchema().GetRequestId()),
				ErrorCode:    wire.ServerError_TopicNotFound.Enum(),
				ErrorMessage: proto.String("pulsartest keeps no schemas"),
			},
		}, nil)
	case wire.BaseCommand_GET_OR_CREATE_SCHEMA:
		c.send(&wire.BaseCommand{
			Type: wire.BaseCommand_GET_OR_CREATE_SCHEMA_RESPONSE.Enum(),
			GetOrCreateSchemaResponse: &wire.CommandGetOrCreateSchemaResponse{
				RequestId:     proto.Uint64(cmd.GetGetOrCreateSchema().GetRequestId()),
				SchemaVersion: []byte{},
			},
		}, nil)
	default:
		c.s.log.Warn("pulsartest: unsupported command, closing connection", "type", cmd.GetType().String())
		return false
	}
	return true
}

func (c *conn) handleConnect(m *wire.CommandConnect) {
	if method, data := connectAuth(m); c.s.token != "" && (method != "token" || data != c.s.token) {
		c.s.log.Info("pulsartest: authentication failed", "method", method)
		c.sendError(0, wire.ServerError_AuthenticationError, "Unable to authenticate")
		return
	}
	v := min(m.GetProtocolVersion(), maxProtocolVers)
	c.send(&wire.BaseCommand{
		Type: wire.BaseCommand_CONNECTED.Enum(),
		Connected: &wire.CommandConnected{
			ServerVersion:   proto.String(serverVersion),
			ProtocolVersion: proto.Int32(v),
			MaxMessageSize:  proto.Int32(int32(c.s.maxMsg)),
		},
	}, nil)
}

func (c *conn) sendError(requestID uint64, code wire.ServerError, msg string) {
	c.send(&wire.BaseCommand{
		Type: wire.BaseCommand_ERROR.Enum(),
		Error: &wire.CommandError{
			RequestId: proto.Uint64(requestID),
			Error:     code.Enum(),
			Message:   proto.String(msg),
		},
	}, nil)
}

func (c *conn) sendSuccess(requestID uint64) {
	c.send(&wire.BaseCommand{
		Type:    wire.BaseCommand_SUCCESS.Enum(),
		Success: &wire.CommandSuccess{RequestId: proto.Uint64(requestID)},
	}, nil)
}

func (c *conn) handlePartitionedMetadata(m *wire.CommandPartitionedTopicMetadata) {
	resp := &wire.CommandPartitionedTopicMetadataResponse{
		RequestId: proto.Uint64(m.GetRequestId()),
		Response:  wire.CommandPartitionedTopicMetadataResponse_Success.Enum(),
	}
	if name, err := canonicalTopic(m.GetTopic()); err != nil {
		resp.Response = wire.CommandPartitionedTopicMetadataResponse_Failed.Enum()
		resp.Error = wire.ServerError_InvalidTopicName.Enum()
		resp.Message = proto.String(err.Error())
	} else {
		c.s.mu.Lock()
		resp.Partitions = proto.Uint32(uint32(c.s.partitioned[name]))
		c.s.mu.Unlock()
	}
	c.send(&wire.BaseCommand{
		Type:                      wire.BaseCommand_PARTITIONED_METADATA_RESPONSE.Enum(),
		PartitionMetadataResponse: resp,
	}, nil)
}

func (c *conn) handleLookup(m *wire.CommandLookupTopic) {
	resp := &wire.CommandLookupTopicResponse{
		RequestId: proto.Uint64(m.GetRequestId()),
	}
	if _, err := canonicalTopic(m.GetTopic()); err != nil {
		resp.Response = wire.CommandLookupTopicResponse_Failed.Enum()
		resp.Error = wire.ServerError_InvalidTopicName.Enum()
		resp.Message = proto.String(err.Error())
	} else {
		// This server owns every topic.
		resp.Response = wire.CommandLookupTopicResponse_Connect.Enum()
		resp.BrokerServiceUrl = proto.String(c.s.url)
		resp.Authoritative = proto.Bool(true)
	}
	c.send(&wire.BaseCommand{Type: wire.BaseCommand_LOOKUP_RESPONSE.Enum(), LookupTopicResponse: resp}, nil)
}

// producer is a client producer attached to one topic (partition).
type producer struct {
	id    uint64
	name  string
	topic *topic
}

func (c *conn) handleProducer(m *wire.CommandProducer) {
	s := c.s
	name, err := canonicalTopic(m.GetTopic())
	if err != nil {
		c.sendError(m.GetRequestId(), wire.ServerError_InvalidTopicName, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.partitioned[name]; ok {
		c.sendError(m.GetRequestId(), wire.ServerError_NotAllowedError,
			fmt.Sprintf("topic %s is partitioned: produce to its partitions", name))
		return
	}
	t := s.topic(name)
	pname := m.GetProducerName()
	if pname == "" {
		s.nextName++
		pname = "pulsartest-producer-" + strconv.FormatUint(s.nextName, 10)
	}
	c.producers[m.GetProducerId()] = &producer{id: m.GetProducerId(), name: pname, topic: t}
	// The client's dead-letter producer asks for a subscription to exist
	// before its first message, so nothing sent to the DLQ is missed.
	if sub := m.GetInitialSubscriptionName(); sub != "" {
		if _, ok := t.subs[sub]; !ok {
			t.subs[sub] = newSubscription(t, sub, wire.CommandSubscribe_Shared, true, uint64(len(t.entries)))
		}
	}
	c.send(&wire.BaseCommand{
		Type: wire.BaseCommand_PRODUCER_SUCCESS.Enum(),
		ProducerSuccess: &wire.CommandProducerSuccess{
			RequestId:      proto.Uint64(m.GetRequestId()),
			ProducerName:   proto.String(pname),
			LastSequenceId: proto.Int64(-1),
			ProducerReady:  proto.Bool(true),
		},
	}, nil)
}

func (c *conn) handleCloseProducer(m *wire.CommandCloseProducer) {
	c.s.mu.Lock()
	delete(c.producers, m.GetProducerId())
	c.s.mu.Unlock()
	c.sendSuccess(m.GetRequestId())
}

func (c *conn) handleSend(m *wire.CommandSend, payload []byte) {
	s := c.s
	sendErr := func(code wire.ServerError, msg string) {
		c.send(&wire.BaseCommand{
			Type: wire.BaseCommand_SEND_ERROR.Enum(),
			SendError: &wire.CommandSendError{
				ProducerId: proto.Uint64(m.GetProducerId()),
				SequenceId: proto.Uint64(m.GetSequenceId()),
				Error:      code.Enum(),
				Message:    proto.String(msg),
			},
		}, nil)
	}
	p, err := parsePayload(payload)
	if err != nil {
		code := wire.ServerError_UnknownError
		if errors.Is(err, errChecksum) {
			code = wire.ServerError_ChecksumError
		}
		sendErr(code, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prod := c.producers[m.GetProducerId()]
	if prod == nil {
		sendErr(wire.ServerError_UnknownError, fmt.Sprintf("producer %d not found", m.GetProducerId()))
		return
	}
	e := prod.topic.append(p, time.Now())
	c.send(&wire.BaseCommand{
		Type: wire.BaseCommand_SEND_RECEIPT.Enum(),
		SendReceipt: &wire.CommandSendReceipt{
			ProducerId:        proto.Uint64(m.GetProducerId()),
			SequenceId:        proto.Uint64(m.GetSequenceId()),
			MessageId:         prod.topic.messageID(e.id),
			HighestSequenceId: proto.Uint64(m.GetHighestSequenceId()),
		},
	}, nil)
	prod.topic.dispatchAll()
}

// topic returns the named topic, creating it. Called with s.mu held.
func (s *Server) topic(name string) *topic {
	if t := s.topics[name]; t != nil {
		return t
	}
	s.nextLedger++
	t := &topic{s: s, name: name, ledger: s.nextLedger, partition: -1, subs: map[string]*subscription{}}
	if i := strings.LastIndex(name, "-partition-"); i >= 0 {
		if n, err := strconv.Atoi(name[i+len("-partition-"):]); err == nil {
			t.partition = int32(n)
		}
	}
	s.topics[name] = t
	return t
}

// handleTopicsOfNamespace lists a namespace's topics, each partition of a
// partitioned topic by its own name, as a broker does for pattern consumers.
// The client filters by its pattern itself.
func (c *conn) handleTopicsOfNamespace(m *wire.CommandGetTopicsOfNamespace) {
	var prefixes []string
	switch m.GetMode() {
	case wire.CommandGetTopicsOfNamespace_PERSISTENT:
		prefixes = []string{"persistent://"}
	case wire.CommandGetTopicsOfNamespace_NON_PERSISTENT:
		prefixes = []string{"non-persistent://"}
	default:
		prefixes = []string{"persistent://", "non-persistent://"}
	}
	inNamespace := func(name string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(name, p+m.GetNamespace()+"/") {
				return true
			}
		}
		return false
	}
	set := map[string]bool{}
	c.s.mu.Lock()
	for name := range c.s.topics {
		if inNamespace(name) {
			set[name] = true
		}
	}
	for name, n := range c.s.partitioned {
		if inNamespace(name) {
			for i := range n {
				set[partitionName(name, i)] = true
			}
		}
	}
	c.s.mu.Unlock()
	topics := slices.Sorted(maps.Keys(set))
	c.send(&wire.BaseCommand{
		Type: wire.BaseCommand_GET_TOPICS_OF_NAMESPACE_RESPONSE.Enum(),
		GetTopicsOfNamespaceResponse: &wire.CommandGetTopicsOfNamespaceResponse{
			RequestId: proto.Uint64(m.GetRequestId()),
			Topics:    topics,
		},
	}, nil)
}

// connectAuth returns the auth_method_name (field 5) and auth_data (field 3) of a CONNECT,
// which the trimmed wire.proto leaves among its unknown fields.
func connectAuth(m *wire.CommandConnect) (method, data string) {
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return method, data
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 3 || num == 5) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return method, data
			}
			if num == 3 {
				data = string(v)
			} else {
				method = string(v)
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return method, data
		}
		b = b[n:]
	}
	return method, data
}
