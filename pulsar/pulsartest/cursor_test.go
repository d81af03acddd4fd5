package pulsartest_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
)

func TestSeekToMessageID(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub"})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	all := values("v", 6)
	ids := send(t, p, all...)
	equalStrings(t, "first pass", receiveValues(t, cons, 6), all)

	// A consumer's seek is exclusive: it resumes after the given message.
	if err := cons.Seek(ids[2]); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	equalStrings(t, "after seek", receiveValues(t, cons, 3), all[3:])

	// Backwards to an older message.
	if err := cons.Seek(ids[0]); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	equalStrings(t, "after seek back", receiveValues(t, cons, 5), all[1:])
}

func TestSeekByTime(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub"})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, "old")
	// Publish times have millisecond resolution: make sure the next message
	// is stamped later than "old".
	before := time.Now()
	waitFor(t, "the clock to pass a millisecond", func() bool { return time.Since(before) > 2*time.Millisecond })
	mark := time.Now()
	send(t, p, "new")
	equalStrings(t, "first pass", receiveValues(t, cons, 2), []string{"old", "new"})
	if err := cons.SeekByTime(mark); err != nil {
		t.Fatalf("SeekByTime: %v", err)
	}
	equalStrings(t, "after seek by time", receiveValues(t, cons, 1), []string{"new"})
}

func TestCumulativeAck(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	opts := pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Exclusive}
	cons, err := c.Subscribe(opts)
	if err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	all := values("v", 6)
	send(t, p, all...)
	var third pulsar.Message
	for i := range 3 {
		third = receive(t, cons)
		if string(third.Payload()) != all[i] {
			t.Fatalf("got %q, want %q", third.Payload(), all[i])
		}
	}
	if err := cons.AckCumulative(third); err != nil {
		t.Fatalf("AckCumulative: %v", err)
	}
	cons.Close() // flushes the ack

	again := subscribe(t, c, opts)
	equalStrings(t, "after cumulative ack", receiveValues(t, again, 3), all[3:])
}

func TestUnackedMessagesSurviveConsumerClose(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	opts := pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Shared}
	cons, err := c.Subscribe(opts)
	if err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, "a", "b")
	equalStrings(t, "acked", receiveValues(t, cons, 1), []string{"a"})
	_ = receive(t, cons) // "b", never acknowledged
	cons.Close()

	again := subscribe(t, c, opts)
	m := receive(t, again)
	if string(m.Payload()) != "b" {
		t.Fatalf("got %q, want the unacknowledged %q", m.Payload(), "b")
	}
	// Giving a message back on close is not a negative ack: no count.
	if m.RedeliveryCount() != 0 {
		t.Errorf("redelivery count %d, want 0", m.RedeliveryCount())
	}
}

func TestUnsubscribeDeletesSubscription(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	opts := pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub"}
	cons, err := c.Subscribe(opts)
	if err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, "before")
	if err := cons.Unsubscribe(); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	cons.Close()

	// The subscription is gone, so a new one starts at the latest message
	// and never sees "before".
	again := subscribe(t, c, opts)
	send(t, p, "after")
	equalStrings(t, "new subscription", receiveValues(t, again, 1), []string{"after"})
}

func TestReaderHasNextAndLastMessageID(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, BatchingMaxMessages: 3})
	all := values("v", 7)
	msgs := make([]*pulsar.ProducerMessage, len(all))
	for i, v := range all {
		msgs[i] = &pulsar.ProducerMessage{Payload: []byte(v)}
	}
	sendAsync(t, p, msgs)

	r, err := c.CreateReader(pulsar.ReaderOptions{Topic: topic, StartMessageID: pulsar.EarliestMessageID()})
	if err != nil {
		t.Fatalf("CreateReader: %v", err)
	}
	defer r.Close()
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for r.HasNext() {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, string(m.Payload()))
	}
	equalStrings(t, "read with HasNext", got, all)

	// A consumer's view of the same topic.
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub"})
	last, err := cons.GetLastMessageIDs()
	if err != nil {
		t.Fatalf("GetLastMessageIDs: %v", err)
	}
	if len(last) != 1 || last[0].EntryID() < 0 || last[0].BatchIdx() != 0 {
		// 7 messages in batches of 3: the last entry is a batch of one.
		t.Fatalf("last message ids %v", last)
	}
}

func TestReaderOnEmptyTopicHasNoNext(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	r, err := c.CreateReader(pulsar.ReaderOptions{Topic: topicName(t), StartMessageID: pulsar.EarliestMessageID()})
	if err != nil {
		t.Fatalf("CreateReader: %v", err)
	}
	defer r.Close()
	if r.HasNext() {
		t.Fatal("HasNext on an empty topic")
	}
}

func TestReaderFromMessageID(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	all := values("v", 5)
	ids := send(t, p, all...)
	for _, inclusive := range []bool{false, true} {
		r, err := c.CreateReader(pulsar.ReaderOptions{
			Topic: topic, StartMessageID: ids[2], StartMessageIDInclusive: inclusive,
		})
		if err != nil {
			t.Fatalf("CreateReader: %v", err)
		}
		want := all[3:]
		if inclusive {
			want = all[2:]
		}
		var got []string
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		for range want {
			m, err := r.Next(ctx)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			got = append(got, string(m.Payload()))
		}
		cancel()
		r.Close()
		equalStrings(t, "reader", got, want)
	}
}
