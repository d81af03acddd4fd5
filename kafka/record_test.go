package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/courier-go/courier"
	"github.com/courier-go/courier/kafka"
	"github.com/google/uuid"
)

// javaMurmur2 are the golden vectors of Kafka's own UtilsTest.testMurmur2: the hash the Java
// client's default partitioner computes for these keys.
var javaMurmur2 = map[string]int32{
	"21":                         -973932308,
	"foobar":                     -790332482,
	"a-little-bit-long-string":   -985981536,
	"a-little-bit-longer-string": -1486304829,
	"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
	"abc": 479470107,
}

// TestKeyPartitionMatchesJava checks that a keyed message lands on the partition the Java
// client would choose: toPositive(murmur2(key)) % partitions.
func TestKeyPartitionMatchesJava(t *testing.T) {
	const partitions = 7
	brokers := kfakeBrokers(t)
	b := openBroker(t, testConfig(brokers, 0))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.CreateTopic(ctx, "keys", partitions, 0); err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []courier.Message
	for k := range javaMurmur2 {
		msgs = append(msgs, courier.Message{ID: k, Topic: "keys", Key: k, Value: []byte(k)})
	}
	if err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, brokers, "keys", partitions, len(msgs))
	for _, r := range got {
		key := string(r.Key)
		want := int32(uint32(javaMurmur2[key])&0x7fffffff) % partitions
		if r.Partition != want {
			t.Errorf("key %q on partition %d, the Java client puts it on %d", key, r.Partition, want)
		}
	}
}

// readAll reads n records of topic with a plain sarama consumer.
func readAll(t *testing.T, brokers []string, topic string, partitions int32, n int) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := make(chan *sarama.ConsumerMessage)
	done := make(chan struct{})
	defer close(done) // forwarders holding a record nobody reads any more drop it and end
	for p := range partitions {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.AsyncClose()
		go func() {
			for m := range pc.Messages() {
				select {
				case out <- m:
				case <-done:
				}
			}
		}()
	}
	var got []*sarama.ConsumerMessage
	timeout := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case m := <-out:
			got = append(got, m)
		case <-timeout:
			t.Fatalf("read %d of %d records", len(got), n)
		}
	}
	return got
}

// TestWireFormat checks what the adapter writes, as any Kafka client sees it: the key, a
// null value for nil, the record timestamp in milliseconds, the user headers, and the ID and
// sub-millisecond nanoseconds in reserved headers.
func TestWireFormat(t *testing.T) {
	brokers := kfakeBrokers(t)
	b := openBroker(t, testConfig(brokers, 0))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.CreateTopic(ctx, "wire", 1, 0); err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	if err := p.Send(ctx, courier.Message{ID: "id-1", Topic: "wire", Key: "k", Timestamp: ts, Headers: map[string]string{"h": "v"}}); err != nil {
		t.Fatal(err)
	}
	r := readAll(t, brokers, "wire", 1, 1)[0]
	if string(r.Key) != "k" || r.Value != nil {
		t.Errorf("key %q value %v, want \"k\" and a null value", r.Key, r.Value)
	}
	if !r.Timestamp.Equal(ts.Truncate(time.Millisecond)) {
		t.Errorf("record timestamp %v, want %v", r.Timestamp, ts.Truncate(time.Millisecond))
	}
	headers := map[string]string{}
	for _, h := range r.Headers {
		headers[string(h.Key)] = string(h.Value)
	}
	want := map[string]string{"h": "v", kafka.HeaderID: "id-1", kafka.HeaderNanos: "456789"}
	if fmt.Sprint(headers) != fmt.Sprint(want) {
		t.Errorf("record headers %v, want %v", headers, want)
	}

	// A canonical UUID travels as its 16 bytes.
	id := "0192d5a3-7c4e-7b2a-9f10-3e4d5c6b7a89"
	if err := p.Send(ctx, courier.Message{ID: id, Topic: "wire", Timestamp: ts.Truncate(time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	r = readAll(t, brokers, "wire", 1, 2)[1]
	if len(r.Headers) != 1 || string(r.Headers[0].Key) != kafka.HeaderUUID ||
		fmt.Sprintf("%x", r.Headers[0].Value) != "0192d5a37c4e7b2a9f103e4d5c6b7a89" {
		t.Errorf("headers of a message with ID %s: %v, want only %s with its 16 bytes", id, r.Headers, kafka.HeaderUUID)
	}

	// An ID that Send fills in is not sent: consumers derive one from the record's place.
	if err := p.Send(ctx, courier.Message{Topic: "wire", Timestamp: ts.Truncate(time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if r = readAll(t, brokers, "wire", 1, 3)[2]; len(r.Headers) != 0 {
		t.Errorf("headers of a message sent without ID: %v, want none", r.Headers)
	}
}

// TestForeignRecord: a record from another producer, without courier's headers, is
// delivered with its headers and timestamp, and with a UUIDv7 of its timestamp as ID that is
// the same for every group.
func TestForeignRecord(t *testing.T) {
	brokers := kfakeBrokers(t)
	b := openBroker(t, testConfig(brokers, 0))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.CreateTopic(ctx, "foreign", 1, 0); err != nil {
		t.Fatal(err)
	}
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	sp, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMilli(1700000000123)
	_, off, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "foreign", Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder("v"),
		Timestamp: ts, Headers: []sarama.RecordHeader{{Key: []byte("trace"), Value: []byte("abc")}}})
	_ = sp.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, group := range []string{"g1", "g2"} {
		m := consumeOne(t, b, group, "foreign")
		if m.Key != "k" || string(m.Value) != "v" || m.Headers["trace"] != "abc" || len(m.Headers) != 1 || !m.Timestamp.Equal(ts) || m.Offset != off {
			t.Errorf("group %s: delivered %+v", group, m)
		}
		id, err := uuid.Parse(m.ID)
		if err != nil || id.Version() != 7 {
			t.Fatalf("group %s: ID %q is not a UUIDv7 (%v)", group, m.ID, err)
		}
		if sec, nsec := id.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != ts.UnixMilli() {
			t.Errorf("group %s: ID %s holds time %v, want the record's %v", group, id, time.Unix(sec, nsec), ts)
		}
		ids = append(ids, m.ID)
	}
	if ids[0] != ids[1] {
		t.Errorf("two groups got IDs %s and %s for one record", ids[0], ids[1])
	}
}

// consumeOne returns the first message a new consumer of group receives from topic.
func consumeOne(t *testing.T, b *kafka.Broker, group, topic string) courier.Message {
	t.Helper()
	c, err := b.NewConsumer(context.Background(), courier.ConsumerConfig{Group: group, Topics: []string{topic}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan courier.Message, 1)
	consumeInBackground(t, c, func(_ context.Context, m courier.Message) error {
		select {
		case got <- m:
		default:
		}
		return nil
	})
	select {
	case m := <-got:
		return m
	case <-time.After(30 * time.Second):
		t.Fatalf("group %s: nothing delivered from %q", group, topic)
		return courier.Message{}
	}
}
