package pulsartest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
)

func TestDeliverAt(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	shared := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "shared", Type: pulsar.Shared})
	exclusive := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "excl", Type: pulsar.Exclusive})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	const delay = 400 * time.Millisecond
	sentAt := time.Now()
	if _, err := p.Send(context.Background(), &pulsar.ProducerMessage{Payload: []byte("late"), DeliverAfter: delay}); err != nil {
		t.Fatal(err)
	}
	send(t, p, "early")

	equalStrings(t, "shared order", receiveValues(t, shared, 2), []string{"early", "late"})
	// The client sends the deliver-at time in whole milliseconds, cut down from its clock:
	// it can be up to a millisecond before sentAt+delay, and not more.
	if waited := time.Since(sentAt); waited < delay-time.Millisecond {
		t.Errorf("delayed message arrived after %v, before its %v delay", waited, delay)
	}
	// Like a real broker, only Shared and Key_Shared honour the delay.
	equalStrings(t, "exclusive order", receiveValues(t, exclusive, 2), []string{"late", "early"})
}

func TestAckWithResponse(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	opts := pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Shared, AckWithResponse: true}
	cons, err := c.Subscribe(opts)
	if err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, "a", "b", "c")
	var ids []pulsar.MessageID
	for range 3 {
		ids = append(ids, receive(t, cons).ID())
	}
	if err := cons.AckID(ids[0]); err != nil {
		t.Fatalf("AckID with response: %v", err)
	}
	if err := cons.AckIDList(ids[1:]); err != nil {
		t.Fatalf("AckIDList with response: %v", err)
	}
	cons.Close()
	// Acknowledged means gone: nothing comes back to the subscription.
	again := subscribe(t, c, opts)
	expectNothing(t, again, 300*time.Millisecond)
}

func TestPartitionedTopic(t *testing.T) {
	srv := newServer(t)
	topic := topicName(t)
	if err := srv.CreatePartitionedTopic(topic, 3); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	parts, err := c.TopicPartitions(topic)
	if err != nil || len(parts) != 3 {
		t.Fatalf("TopicPartitions = %v, %v; want 3 partitions", parts, err)
	}
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Shared})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	const n = 30
	want := values("v", n)
	for i, v := range want {
		if _, err := p.Send(context.Background(), &pulsar.ProducerMessage{Key: fmt.Sprint("k", i), Payload: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.MessageCount(topic); got != n {
		t.Errorf("MessageCount = %d, want %d", got, n)
	}
	partitions := map[int32]bool{}
	var got []string
	for range n {
		m := receive(t, cons)
		partitions[m.ID().PartitionIdx()] = true
		got = append(got, string(m.Payload()))
		if err := cons.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(got)
	equalStrings(t, "payloads", got, want)
	if len(partitions) < 2 {
		t.Errorf("messages came from partitions %v only", partitions)
	}
}

// Permits count messages, not entries: a batch uses one per message.
func TestFlowControlCountsBatchedMessages(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	const queue = 100
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", ReceiverQueueSize: queue})
	waitFor(t, "the consumer's first permits", func() bool {
		return slices.Equal(srv.ConsumerPermits(topic, "sub"), []int64{queue})
	})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, BatchingMaxMessages: 10, BatchingMaxPublishDelay: time.Hour})
	msgs := make([]*pulsar.ProducerMessage, 10)
	for i := range msgs {
		msgs[i] = &pulsar.ProducerMessage{Payload: []byte(fmt.Sprint(i))}
	}
	sendAsync(t, p, msgs)
	if n := srv.MessageCount(topic); n != 1 {
		t.Fatalf("%d entries stored, want one batch", n)
	}
	waitFor(t, "permits to drop by the batch size", func() bool {
		return slices.Equal(srv.ConsumerPermits(topic, "sub"), []int64{queue - 10})
	})

	// A small receiver queue with batches larger than it still drains.
	small := subscribe(t, c, pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "small", ReceiverQueueSize: 3,
		SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	for range 5 {
		sendAsync(t, p, msgs)
	}
	if got := receiveValues(t, small, 60); len(got) != 60 {
		t.Fatalf("received %d", len(got))
	}
	_ = cons
}

// No acknowledged message is lost, and none is missing, when the broker drops
// every connection in the middle of a run.
func TestReconnectAfterDroppedConnections(t *testing.T) {
	for _, typ := range []pulsar.SubscriptionType{pulsar.Exclusive, pulsar.Shared} {
		t.Run(fmt.Sprint(typ), func(t *testing.T) {
			srv := newServer(t)
			c := newClient(t, srv)
			topic := topicName(t)
			cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: typ})
			p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, BatchingMaxMessages: 7})
			const n = 200
			all := values("v", n)
			first := make([]*pulsar.ProducerMessage, n/2)
			for i := range first {
				first[i] = &pulsar.ProducerMessage{Payload: []byte(all[i])}
			}
			sendAsync(t, p, first)

			seen := map[string]bool{}
			for len(seen) < n/4 {
				m := receive(t, cons)
				seen[string(m.Payload())] = true
				if err := cons.Ack(m); err != nil {
					t.Fatal(err)
				}
			}
			if dropped := srv.DropConnections(); dropped == 0 {
				t.Fatal("DropConnections closed nothing")
			}
			// The producer reconnects too.
			second := make([]*pulsar.ProducerMessage, n/2)
			for i := range second {
				second[i] = &pulsar.ProducerMessage{Payload: []byte(all[n/2+i])}
			}
			sendAsync(t, p, second)
			for len(seen) < n {
				m := receive(t, cons)
				seen[string(m.Payload())] = true
				if err := cons.Ack(m); err != nil {
					t.Fatal(err)
				}
			}
			for _, v := range all {
				if !seen[v] {
					t.Fatalf("message %s lost", v)
				}
			}
		})
	}
}

func TestResponseDelay(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	const delay = 300 * time.Millisecond
	srv.SetResponseDelay(delay)
	start := time.Now()
	send(t, p, "slow")
	if took := time.Since(start); took < delay {
		t.Fatalf("send took %v with a %v response delay", took, delay)
	}
	srv.SetResponseDelay(0)

	// A delay beyond the client's operation timeout fails its requests.
	quick := newClientWith(t, srv, pulsar.ClientOptions{OperationTimeout: 200 * time.Millisecond})
	srv.SetResponseDelay(time.Second)
	if _, err := quick.TopicPartitions(topic + "-other"); err == nil {
		t.Fatal("lookup succeeded despite a response delay beyond the operation timeout")
	}
	srv.SetResponseDelay(0)
}

// ReconsumeLater goes through the client's retry topic with a deliver-at
// time, so it needs delayed delivery on Shared subscriptions.
func TestReconsumeLater(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	cons := subscribe(t, c, pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "sub", Type: pulsar.Shared,
		RetryEnable: true,
		DLQ:         &pulsar.DLQPolicy{MaxDeliveries: 5},
	})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, "retry-me")
	first := receive(t, cons)
	const delay = 200 * time.Millisecond
	start := time.Now()
	cons.ReconsumeLater(first, delay)
	again := receive(t, cons)
	if string(again.Payload()) != "retry-me" {
		t.Fatalf("got %q", again.Payload())
	}
	if took := time.Since(start); took < delay {
		t.Errorf("retried after %v, before the %v delay", took, delay)
	}
	if again.Properties()["RECONSUMETIMES"] != "1" {
		t.Errorf("retry properties %v", again.Properties())
	}
	if err := cons.Ack(again); err != nil {
		t.Fatal(err)
	}
}

// A pattern consumer finds its topics through the namespace's topic list.
func TestTopicsPatternConsumer(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	base := topicName(t)
	for _, suffix := range []string{"-a", "-b", "x"} {
		p := newProducer(t, c, pulsar.ProducerOptions{Topic: base + suffix, DisableBatching: true})
		send(t, p, "before-"+suffix) // creates the topic
	}
	cons := subscribe(t, c, pulsar.ConsumerOptions{
		TopicsPattern: base + "-.*", SubscriptionName: "sub",
		SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	got := receiveValues(t, cons, 2)
	slices.Sort(got)
	equalStrings(t, "pattern consumer", got, []string{"before--a", "before--b"})
	expectNothing(t, cons, 200*time.Millisecond)
}
