package pulsar

import (
	"bytes"
	"strings"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"
)

// fuzzMessage is a delivered message whose fields the fuzzer chooses.
type fuzzMessage struct {
	pulsarclient.Message
	key, payload     []byte
	props            map[string]string
	event, published time.Time
	id               fuzzID
}

func (m fuzzMessage) Key() string                                           { return string(m.key) }
func (m fuzzMessage) Payload() []byte                                       { return m.payload }
func (m fuzzMessage) RedeliveryCount() uint32                               { return 0 }
func (m fuzzMessage) Properties() map[string]string                         { return m.props }
func (m fuzzMessage) EventTime() time.Time                                  { return m.event }
func (m fuzzMessage) PublishTime() time.Time                                { return m.published }
func (m fuzzMessage) ID() pulsarclient.MessageID                            { return m.id }
func (m fuzzMessage) Topic() string                                         { return "persistent://public/default/t" }
func (m fuzzMessage) ProducerName() string                                  { return "p" }
func (m fuzzMessage) OrderingKey() string                                   { return "" }
func (m fuzzMessage) GetReplicatedFrom() string                             { return "" }
func (m fuzzMessage) IsReplicated() bool                                    { return false }
func (m fuzzMessage) Index() *uint64                                        { return nil }
func (m fuzzMessage) BrokerPublishTime() *time.Time                         { return nil }
func (m fuzzMessage) GetSchemaValue(any) error                              { return nil }
func (m fuzzMessage) GetEncryptionContext() *pulsarclient.EncryptionContext { return nil }

type fuzzID struct {
	pulsarclient.MessageID
	ledger, entry int64
	batch         int32
}

func (i fuzzID) LedgerID() int64     { return i.ledger }
func (i fuzzID) EntryID() int64      { return i.entry }
func (i fuzzID) BatchIdx() int32     { return i.batch }
func (i fuzzID) PartitionIdx() int32 { return 0 }

// FuzzDecodeMessage decodes messages with arbitrary keys, payloads, properties (courier's
// meta property included) and times, as another producer may send them: never a panic; every
// message has an ID and a non-zero Timestamp; a property outside courier's prefix arrives as
// a header of the same name.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), []byte("trace\x00abc\x00"), int64(0), int64(1767225600123), int64(7), int64(3), int32(-1))
	f.Add([]byte(keylessKeys[3]), []byte(nil), []byte(propMeta+"\x00123;nokey;id-1\x00"), int64(1767225600000), int64(1), int64(0), int64(0), int32(0))
	f.Add([]byte{0xff}, []byte{}, []byte(propMeta+"\x00x;;\x00"), int64(-5), int64(0), int64(-1), int64(-1), int32(5))
	f.Fuzz(func(t *testing.T, key, payload, props []byte, eventMs, publishMs, ledger, entry int64, batch int32) {
		m := fuzzMessage{key: key, payload: payload, props: map[string]string{},
			event: time.UnixMilli(eventMs), published: time.UnixMilli(publishMs),
			id: fuzzID{ledger: ledger, entry: entry, batch: batch}}
		parts := bytes.Split(props, []byte{0})
		for i := 0; i+1 < len(parts); i += 2 {
			m.props[string(parts[i])] = string(parts[i+1])
		}
		got := decode(m, "t")
		if got.ID == "" || got.Attempt != 1 || !bytes.Equal(got.Value, payload) {
			t.Fatalf("decoded %+v", got)
		}
		if publishMs != 0 && got.Timestamp.IsZero() {
			t.Fatalf("a message published at %d ms has no Timestamp", publishMs)
		}
		for k, v := range m.props {
			if strings.HasPrefix(k, "courier-") {
				continue
			}
			if got.Headers[k] != v {
				t.Fatalf("property %q=%q arrived as %q", k, v, got.Headers[k])
			}
		}
	})
}
