package kafka_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/courier-go/courier"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConcurrentSendsShareBatches: Sends from many goroutines travel in far fewer produce
// requests than there are messages.
func TestConcurrentSendsShareBatches(t *testing.T) {
	cluster := newCluster(t)
	var requests atomic.Int64
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		requests.Add(1)
		return nil, nil, false // only counted; the cluster handles it
	})
	b := openBroker(t, testConfig(cluster.ListenAddrs(), 0))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.CreateTopic(ctx, "shared", 1, 0); err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const senders = 200
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	start := make(chan struct{})
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- p.Send(ctx, courier.Message{Topic: "shared", Value: []byte(fmt.Sprint(i))})
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := requests.Load()
	if n == 0 || n > senders/4 {
		t.Errorf("%d concurrent Sends took %d produce requests, want them batched (at most %d)", senders, n, senders/4)
	}
	t.Logf("%d concurrent Sends in %d produce requests", senders, n)
}

// TestSendBatchReportsBrokerFailures: a record the broker refuses (its topic does not exist)
// is reported by index in the BatchError, and the others are sent.
func TestSendBatchReportsBrokerFailures(t *testing.T) {
	brokers := kfakeBrokers(t)
	b := openBroker(t, testConfig(brokers, 0))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.CreateTopic(ctx, "exists", 2, 0); err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = p.SendBatch(ctx, []courier.Message{
		{Topic: "exists", Value: []byte("a")},
		{Topic: "missing", Value: []byte("b")},
		{Topic: "exists", Value: []byte("c")},
	})
	var be *courier.BatchError
	if !errors.As(err, &be) || fmt.Sprint(be.Failed()) != "[1]" {
		t.Fatalf("SendBatch = %v, want a BatchError for message 1 only", err)
	}
	t.Log(err)
	if got := highWater(t, brokers, "exists", 0) + highWater(t, brokers, "exists", 1); got != 2 {
		t.Errorf("topic holds %d records, want the 2 valid ones", got)
	}
}

// TestBrokerRefusesTooLarge: a record within the producer's limit but over the topic's is
// refused by the broker, and that also reads as courier.ErrMessageTooLarge.
func TestBrokerRefusesTooLarge(t *testing.T) {
	cluster := newCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "10000"}))
	b := openBroker(t, testConfig(cluster.ListenAddrs(), 0))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.CreateTopic(ctx, "small", 1, 0); err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 50000) // random, so compression cannot bring it under the limit
	_, _ = rand.Read(v)
	err = p.Send(ctx, courier.Message{Topic: "small", Value: v})
	if !errors.Is(err, courier.ErrMessageTooLarge) {
		t.Fatalf("Send over the topic's limit = %v, want ErrMessageTooLarge", err)
	}
	t.Log(err)
}
