package pulsar_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/pulsar"
)

const (
	benchValueSize = 1024
	wait           = 10 * time.Second // bounds each wait in the tests
)

// BenchmarkPulsar measures the adapter on pulsartest (or COURIER_PULSAR_URL);
// compare with BenchmarkRawClient, the same work on the bare client.
func BenchmarkPulsar(b *testing.B) {
	brokertest.Bench(b, harness(), brokertest.BenchOptions{ValueSize: benchValueSize})
}

// BenchmarkRawClient does what BenchmarkPulsar does with pulsar-client-go
// alone: default producer settings but the adapter's batching delay, and bare
// messages (a payload, nothing else).
func BenchmarkRawClient(b *testing.B) {
	value := make([]byte, benchValueSize)
	rawBench(b, func() *pulsarclient.ProducerMessage {
		return &pulsarclient.ProducerMessage{Payload: value}
	})
}

// BenchmarkRawClientSameWork is BenchmarkRawClient with messages that carry
// what the adapter's must to keep courier's contract, as a user of the bare
// client would add them: a unique ID and a nanosecond timestamp (one
// property, plus the millisecond event time), and a key rotated every 64
// messages over 16 keys so that a Key_Shared group shares the load.
func BenchmarkRawClientSameWork(b *testing.B) {
	rawBench(b, sameWorkMessages(make([]byte, benchValueSize)))
}

// sameWorkMessages makes BenchmarkRawClientSameWork's messages.
func sameWorkMessages(value []byte) func() *pulsarclient.ProducerMessage {
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = "spread-" + strconv.Itoa(i)
	}
	var n atomic.Uint32
	return func() *pulsarclient.ProducerMessage {
		now := time.Now()
		return &pulsarclient.ProducerMessage{
			Payload:    value,
			Key:        keys[(n.Add(1)/64)%16],
			EventTime:  now,
			Properties: map[string]string{"meta": strconv.FormatInt(now.UnixNano(), 10) + ";" + courier.NewID(now)},
		}
	}
}

// rawBench runs the benchmarks of brokertest.Bench on the bare client,
// sending the messages newMsg makes.
func rawBench(b *testing.B, newMsg func() *pulsarclient.ProducerMessage) {
	setup := rawSetup
	ctx := context.Background()
	perSecond := func(b *testing.B, n int) { b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s") }

	b.Run("Send", func(b *testing.B) {
		_, p, _ := setup(b)
		b.SetBytes(benchValueSize)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := p.Send(ctx, newMsg()); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b, b.N)
	})
	b.Run("SendParallel", func(b *testing.B) {
		_, p, _ := setup(b)
		b.SetBytes(benchValueSize)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Send(ctx, newMsg()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		perSecond(b, b.N)
	})
	b.Run("SendBatch100", func(b *testing.B) {
		_, p, _ := setup(b)
		const batch = 100
		b.SetBytes(benchValueSize * batch)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			var wg sync.WaitGroup
			wg.Add(batch)
			for range batch {
				p.SendAsync(ctx, newMsg(), func(_ pulsarclient.MessageID, _ *pulsarclient.ProducerMessage, err error) {
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				})
			}
			if err := p.FlushWithCtx(ctx); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
		}
		perSecond(b, b.N*batch)
	})
	b.Run("EndToEnd", func(b *testing.B) {
		client, p, topic := setup(b)
		cons, err := client.Subscribe(pulsarclient.ConsumerOptions{Topic: topic, SubscriptionName: "bench", Type: pulsarclient.KeyShared})
		if err != nil {
			b.Fatal(err)
		}
		defer cons.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range b.N {
				m, err := cons.Receive(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				_ = cons.Ack(m)
			}
		}()
		b.SetBytes(benchValueSize)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := p.Send(ctx, newMsg()); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		b.StopTimer()
		perSecond(b, b.N)
	})
}

// rawSetup gives a bare client on its own server, a producer with the
// adapter's batching delay and default settings otherwise, and its topic.
func rawSetup(b *testing.B) (pulsarclient.Client, pulsarclient.Producer, string) {
	client, err := pulsarclient.NewClient(pulsarclient.ClientOptions{
		URL: serviceURL(b), OperationTimeout: 10 * time.Second, Logger: plog.DefaultNopLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.Close)
	topic := fmt.Sprintf("raw-bench-%d", time.Now().UnixNano())
	p, err := client.CreateProducer(pulsarclient.ProducerOptions{
		Topic:                   topic,
		SendTimeout:             10 * time.Second,
		BatchingMaxPublishDelay: pulsar.DefaultBatchingDelay,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return client, p, topic
}
