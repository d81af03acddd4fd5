package pulsartest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/pulsar-client-go/pulsar"
)

func TestProduceConsume(t *testing.T) {
	cases := []struct {
		name        string
		batching    bool
		compression pulsar.CompressionType
	}{
		{"unbatched", false, pulsar.NoCompression},
		{"batched", true, pulsar.NoCompression},
		{"batched-lz4", true, pulsar.LZ4},
		{"batched-zstd", true, pulsar.ZSTD},
		{"unbatched-zstd", false, pulsar.ZSTD},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			c := newClient(t, srv)
			topic := topicName(t)
			cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub"})
			p := newProducer(t, c, pulsar.ProducerOptions{
				Topic:                   topic,
				DisableBatching:         !tc.batching,
				CompressionType:         tc.compression,
				BatchingMaxMessages:     10,
				BatchingMaxPublishDelay: 1e9, // flushed by count or Flush, not by time
			})
			const n = 25
			msgs := make([]*pulsar.ProducerMessage, n)
			want := values("v", n)
			for i := range msgs {
				msgs[i] = &pulsar.ProducerMessage{
					Payload:    []byte(want[i]),
					Key:        fmt.Sprintf("k%d", i%3),
					Properties: map[string]string{"i": fmt.Sprint(i)},
				}
			}
			sendAsync(t, p, msgs)
			entries := srv.MessageCount(topic)
			if tc.batching && entries >= n {
				t.Errorf("batching stored %d entries for %d messages, want fewer", entries, n)
			}
			if !tc.batching && entries != n {
				t.Errorf("stored %d entries, want %d", entries, n)
			}
			var got []string
			for i := range n {
				m := receive(t, cons)
				if m.Key() != fmt.Sprintf("k%d", i%3) || m.Properties()["i"] != fmt.Sprint(i) {
					t.Errorf("message %d: key %q properties %v", i, m.Key(), m.Properties())
				}
				if err := cons.Ack(m); err != nil {
					t.Fatalf("Ack: %v", err)
				}
				got = append(got, string(m.Payload()))
			}
			equalStrings(t, "payloads", got, want)
		})
	}
}

// An unbatched empty payload reaches the application only when the message
// has properties: pulsar-client-go v0.19.0 drops it as corrupt otherwise
// (MessageReader.ReadMessage), whatever the broker does.
func TestEmptyAndBinaryPayloads(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub"})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	bin := string([]byte{0, 0xff, 0xfe, 0x80, 0})
	for _, v := range []string{"", bin} {
		msg := &pulsar.ProducerMessage{Payload: []byte(v), Properties: map[string]string{"p": "1"}}
		if _, err := p.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got := receiveValues(t, cons, 2)
	equalStrings(t, "payloads", got, []string{"", bin})
}
