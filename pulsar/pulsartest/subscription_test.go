package pulsartest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
)

func TestSecondExclusiveConsumerRefused(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Exclusive})
	second, err := c.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Exclusive})
	if err == nil {
		second.Close()
		t.Fatal("second Exclusive consumer was accepted")
	}
	if !strings.Contains(err.Error(), "ConsumerBusy") {
		t.Fatalf("error %q does not say ConsumerBusy", err)
	}
	// A different type on a subscription in use is refused too.
	other, err := c.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Shared})
	if err == nil {
		other.Close()
		t.Fatal("Shared consumer joined an Exclusive subscription")
	}
}

func TestInitialPosition(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, "old-1", "old-2")

	latest := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "latest"})
	earliest := subscribe(t, c, pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "earliest",
		SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	send(t, p, "new")

	equalStrings(t, "latest (the default)", receiveValues(t, latest, 1), []string{"new"})
	equalStrings(t, "earliest", receiveValues(t, earliest, 3), []string{"old-1", "old-2", "new"})
}

func TestSharedRedeliveryCountRises(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	for _, typ := range []pulsar.SubscriptionType{pulsar.Shared, pulsar.KeyShared} {
		sub := fmt.Sprint("sub-", typ)
		cons := subscribe(t, c, pulsar.ConsumerOptions{
			Topic: topic, SubscriptionName: sub, Type: typ,
			NackRedeliveryDelay: 50 * time.Millisecond,
		})
		p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
		send(t, p, "m-"+sub)
		for want := uint32(0); want < 3; want++ {
			m := receive(t, cons)
			if m.RedeliveryCount() != want {
				t.Fatalf("%s: delivery %d has redelivery count %d", sub, want+1, m.RedeliveryCount())
			}
			cons.Nack(m)
		}
		m := receive(t, cons)
		if err := cons.Ack(m); err != nil {
			t.Fatal(err)
		}
		cons.Close()
	}
}

// The broker counts redeliveries only on Shared and Key_Shared subscriptions.
func TestExclusiveAndFailoverRedeliveryCountStaysZero(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	for _, typ := range []pulsar.SubscriptionType{pulsar.Exclusive, pulsar.Failover} {
		sub := fmt.Sprint("sub-", typ)
		cons := subscribe(t, c, pulsar.ConsumerOptions{
			Topic: topic, SubscriptionName: sub, Type: typ,
			NackRedeliveryDelay: 50 * time.Millisecond,
		})
		p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
		send(t, p, "m-"+sub)
		for i := range 3 {
			m := receive(t, cons)
			if string(m.Payload()) != "m-"+sub {
				t.Fatalf("%s: got %q", sub, m.Payload())
			}
			if m.RedeliveryCount() != 0 {
				t.Fatalf("%s: delivery %d has redelivery count %d, want 0", sub, i+1, m.RedeliveryCount())
			}
			cons.Nack(m)
		}
		cons.Close()
	}
}

func TestDeadLetterPolicy(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	dlq := topic + "-dlq"
	cons := subscribe(t, c, pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "sub", Type: pulsar.Shared,
		NackRedeliveryDelay: 20 * time.Millisecond,
		DLQ:                 &pulsar.DLQPolicy{MaxDeliveries: 3, DeadLetterTopic: dlq, InitialSubscriptionName: "dlq-sub"},
	})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, "poison")
	for i := range 3 {
		m := receive(t, cons)
		if m.RedeliveryCount() != uint32(i) {
			t.Fatalf("delivery %d: redelivery count %d", i+1, m.RedeliveryCount())
		}
		cons.Nack(m)
	}
	// The client itself moves the message to the DLQ; the subscription the
	// DLQ producer created holds it.
	dead := subscribe(t, c, pulsar.ConsumerOptions{Topic: dlq, SubscriptionName: "dlq-sub", Type: pulsar.Shared})
	equalStrings(t, "dead letters", receiveValues(t, dead, 1), []string{"poison"})
	expectNothing(t, cons, 300*time.Millisecond)
}

func TestSharedSpreadsOverConsumers(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	opts := pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Shared, ReceiverQueueSize: 5}
	a := subscribe(t, c, opts)
	b := subscribe(t, c, opts)
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	const n = 40
	send(t, p, values("v", n)...)

	got := collect(t, map[string]pulsar.Consumer{"a": a, "b": b}, n)
	if len(got["a"]) == 0 || len(got["b"]) == 0 {
		t.Fatalf("one consumer got nothing: a=%d b=%d", len(got["a"]), len(got["b"]))
	}
}

// collect receives n messages in total from several consumers at once,
// acknowledging each, and returns each consumer's payloads in order.
func collect(t *testing.T, consumers map[string]pulsar.Consumer, n int) map[string][]string {
	t.Helper()
	var (
		mu    sync.Mutex
		got   = map[string][]string{}
		total int
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan struct{})
	for name, cons := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := cons.Receive(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				got[name] = append(got[name], string(m.Payload()))
				total++
				if total == n {
					close(done)
				}
				mu.Unlock()
				_ = cons.Ack(m)
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	if total != n {
		t.Fatalf("received %d messages, want %d", total, n)
	}
	return got
}

func TestKeySharedKeepsPerKeyOrder(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	opts := pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.KeyShared, ReceiverQueueSize: 10}
	a := subscribe(t, c, opts)
	b := subscribe(t, c, opts)
	p := newProducer(t, c, pulsar.ProducerOptions{
		Topic:              topic,
		BatcherBuilderType: pulsar.KeyBasedBatchBuilder,
	})
	const keys, perKey = 8, 25
	var msgs []*pulsar.ProducerMessage
	for i := range perKey {
		for k := range keys {
			msgs = append(msgs, &pulsar.ProducerMessage{
				Key:     fmt.Sprintf("key-%d", k),
				Payload: []byte(fmt.Sprintf("key-%d/%03d", k, i)),
			})
		}
	}
	sendAsync(t, p, msgs)

	got := collect(t, map[string]pulsar.Consumer{"a": a, "b": b}, keys*perKey)
	owner := map[string]string{}
	for name, payloads := range got {
		last := map[string]string{}
		for _, v := range payloads {
			key := strings.Split(v, "/")[0]
			if o, ok := owner[key]; ok && o != name {
				t.Errorf("key %s went to both %s and %s", key, o, name)
			}
			owner[key] = name
			if v <= last[key] {
				t.Errorf("consumer %s: %s after %s", name, v, last[key])
			}
			last[key] = v
		}
	}
	if len(got["a"]) == 0 || len(got["b"]) == 0 {
		t.Errorf("keys not spread: a=%d b=%d", len(got["a"]), len(got["b"]))
	}
}

func TestFailoverHasOneActiveConsumer(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	opts := pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Failover}
	opts.Name = "a"
	a := subscribe(t, c, opts)
	opts.Name = "b"
	b, err := c.Subscribe(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, values("first", 5)...)
	equalStrings(t, "active consumer a", receiveValues(t, a, 5), values("first", 5))
	expectNothing(t, b, 200*time.Millisecond)

	a.Close() // b takes over
	send(t, p, values("second", 5)...)
	equalStrings(t, "after fail-over, b", receiveValues(t, b, 5), values("second", 5))
}

// A consumer joining a Key_Shared subscription mid-stream takes over keys only
// once their earlier messages are acknowledged, so each key stays in order.
func TestKeySharedConsumerJoiningKeepsOrder(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	opts := pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.KeyShared, ReceiverQueueSize: 5}
	a := subscribe(t, c, opts)
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	const keys, perKey = 6, 20
	var msgs []*pulsar.ProducerMessage
	for i := range perKey {
		for k := range keys {
			msgs = append(msgs, &pulsar.ProducerMessage{
				Key:     fmt.Sprintf("key-%d", k),
				Payload: []byte(fmt.Sprintf("key-%d/%03d", k, i)),
			})
		}
	}
	sendAsync(t, p, msgs)

	// a holds some messages unacknowledged while b joins.
	var held []pulsar.Message
	for range 5 {
		held = append(held, receive(t, a))
	}
	b := subscribe(t, c, opts)

	for _, m := range held {
		if err := a.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, map[string]pulsar.Consumer{"a": a, "b": b}, keys*perKey-len(held))
	// Per consumer, each key's messages arrive in order, and a key moves from
	// a to b at most once, after a's share.
	firstAtB := map[string]string{}
	for _, v := range got["b"] {
		key := strings.Split(v, "/")[0]
		if _, ok := firstAtB[key]; !ok {
			firstAtB[key] = v
		}
	}
	lastAtA := map[string]string{}
	for _, m := range held {
		v := string(m.Payload())
		lastAtA[strings.Split(v, "/")[0]] = v
	}
	for name, payloads := range got {
		last := map[string]string{}
		for _, v := range payloads {
			key := strings.Split(v, "/")[0]
			if name == "a" {
				lastAtA[key] = max(lastAtA[key], v)
			}
			if v <= last[key] {
				t.Errorf("consumer %s: %s after %s", name, v, last[key])
			}
			last[key] = v
		}
	}
	for key, first := range firstAtB {
		if la, ok := lastAtA[key]; ok && la > first {
			t.Errorf("key %s: b got %s while a had %s", key, first, la)
		}
	}
	if len(got["b"]) == 0 {
		t.Error("the joining consumer got nothing")
	}
}

// STICKY Key_Shared consumers receive only the keys in their hash ranges.
func TestKeySharedStickyRanges(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	topic := topicName(t)
	sticky := func(start, end int) pulsar.ConsumerOptions {
		return pulsar.ConsumerOptions{
			Topic: topic, SubscriptionName: "sub", Type: pulsar.KeyShared,
			KeySharedPolicy: &pulsar.KeySharedPolicy{Mode: pulsar.KeySharedPolicyModeSticky, HashRanges: []int{start, end}},
		}
	}
	a := subscribe(t, c, sticky(0, 32767))
	b := subscribe(t, c, sticky(32768, 65535))
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	const n = 60
	var msgs []*pulsar.ProducerMessage
	for i := range n {
		k := fmt.Sprint("key-", i%12)
		msgs = append(msgs, &pulsar.ProducerMessage{Key: k, Payload: []byte(k)})
	}
	sendAsync(t, p, msgs)
	got := collect(t, map[string]pulsar.Consumer{"a": a, "b": b}, n)
	owner := map[string]string{}
	for name, keys := range got {
		for _, k := range keys {
			if o, ok := owner[k]; ok && o != name {
				t.Errorf("key %s went to %s and %s", k, o, name)
			}
			owner[k] = name
		}
	}
	if len(got["a"]) == 0 || len(got["b"]) == 0 {
		t.Errorf("ranges not both used: a=%d b=%d", len(got["a"]), len(got["b"]))
	}
}
