package rabbitmq

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The side-by-side benchmarks compare the adapter with amqp091-go used directly, doing the
// same work: persistent 1 KiB messages into a quorum queue with publisher confirms, and
// consuming them with manual acks at the same prefetch. Run them with a fixed count, e.g.
//
//	go test -run XXX -bench 'Publish|Consume' -benchtime 20000x ./rabbitmq/

const (
	benchValueSize = 1024
	benchBatch     = 100
	benchPrefetch  = 128
	benchChannels  = DefaultPublisherChannels
)

// benchSetup declares a topic exchange with a quorum queue bound to it, deleted at the end.
func benchSetup(b *testing.B) (raw *amqp.Connection, topic, queue string) {
	u := amqpURL(b)
	tp := newTopology(b, u)
	topic, queue = tp.exchange(randomName("courier-bench-")), tp.queue(randomName("bench-"))
	raw, err := amqp.Dial(u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = raw.Close() })
	ch, err := raw.Channel()
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(topic, "topic", true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		b.Fatal(err)
	}
	if err := ch.QueueBind(queue, "#", topic, false, nil); err != nil {
		b.Fatal(err)
	}
	return raw, topic, queue
}

func benchValue() []byte {
	v := make([]byte, benchValueSize)
	for i := range v {
		v[i] = byte(i)
	}
	return v
}

// rawPublishing is what a careful raw client sends: persistent, with an ID and a timestamp.
func rawPublishing(v []byte) amqp.Publishing {
	return amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: courier.NewID(time.Now()), Timestamp: time.Now(), Body: v}
}

func rawConfirmChannel(b *testing.B, raw *amqp.Connection) *amqp.Channel {
	ch, err := raw.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	return ch
}

func benchProducer(b *testing.B) *Producer {
	br, _ := newTestBroker(b, Config{})
	p, err := br.Producer(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	return p
}

func perSecond(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkPublish(b *testing.B) {
	v := benchValue()
	ctx := context.Background()
	b.Run("Sequential/raw", func(b *testing.B) {
		raw, topic, _ := benchSetup(b)
		ch := rawConfirmChannel(b, raw)
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		for range b.N {
			dc, err := ch.PublishWithDeferredConfirm(topic, "k", true, false, rawPublishing(v))
			if err != nil || !dc.Wait() {
				b.Fatal("publish failed", err)
			}
		}
		perSecond(b, b.N)
	})
	b.Run("Sequential/adapter", func(b *testing.B) {
		_, topic, _ := benchSetup(b)
		p := benchProducer(b)
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		for range b.N {
			if err := p.Send(ctx, courier.Message{Topic: topic, Key: "k", Value: v}); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b, b.N)
	})
	b.Run("Batch100/raw", func(b *testing.B) {
		raw, topic, _ := benchSetup(b)
		ch := rawConfirmChannel(b, raw)
		dcs := make([]*amqp.DeferredConfirmation, benchBatch)
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		for sent := 0; sent < b.N; sent += benchBatch {
			n := min(benchBatch, b.N-sent)
			for i := range n {
				dc, err := ch.PublishWithDeferredConfirm(topic, "k", true, false, rawPublishing(v))
				if err != nil {
					b.Fatal(err)
				}
				dcs[i] = dc
			}
			for _, dc := range dcs[:n] {
				if !dc.Wait() {
					b.Fatal("nack")
				}
			}
		}
		perSecond(b, b.N)
	})
	b.Run("Batch100/adapter", func(b *testing.B) {
		_, topic, _ := benchSetup(b)
		p := benchProducer(b)
		batch := make([]courier.Message, benchBatch)
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		for sent := 0; sent < b.N; sent += benchBatch {
			n := min(benchBatch, b.N-sent)
			for i := range n {
				batch[i] = courier.Message{Topic: topic, Key: "k", Value: v}
			}
			if err := p.SendBatch(ctx, batch[:n]); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b, b.N)
	})
	// Parallel: 4*GOMAXPROCS goroutines each Send and wait; raw spreads them over as many
	// confirm channels as the adapter's pool has.
	b.Run("Parallel/raw", func(b *testing.B) {
		raw, topic, _ := benchSetup(b)
		chs := make([]*amqp.Channel, benchChannels)
		for i := range chs {
			chs[i] = rawConfirmChannel(b, raw)
		}
		var rr atomic.Uint32
		b.SetBytes(benchValueSize)
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ch := chs[int(rr.Add(1))%len(chs)]
				dc, err := ch.PublishWithDeferredConfirm(topic, "k", true, false, rawPublishing(v))
				if err != nil || !dc.Wait() {
					b.Error("publish failed", err)
					return
				}
			}
		})
		perSecond(b, b.N)
	})
	b.Run("Parallel/adapter", func(b *testing.B) {
		_, topic, _ := benchSetup(b)
		p := benchProducer(b)
		b.SetBytes(benchValueSize)
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := p.Send(ctx, courier.Message{Topic: topic, Key: "k", Value: v}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		perSecond(b, b.N)
	})
}

// preload puts n messages in the queue (untimed), as courier messages so both consumers
// decode the same thing.
func preload(b *testing.B, topic string, n int) {
	b.Helper()
	p := benchProducer(b)
	v := benchValue()
	batch := make([]courier.Message, 0, 500)
	for sent := 0; sent < n; sent += cap(batch) {
		batch = batch[:0]
		for range min(cap(batch), n-sent) {
			batch = append(batch, courier.Message{Topic: topic, Key: "k", Value: v})
		}
		if err := p.SendBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsume(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		raw, topic, queue := benchSetup(b)
		preload(b, topic, b.N)
		ch, err := raw.Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Qos(benchPrefetch, 0, false); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range b.N {
			d := <-deliveries
			if err := d.Ack(false); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		perSecond(b, b.N)
		_ = ch.Close()
	})
	for _, conc := range []int{1, 4} {
		b.Run("adapter/concurrency"+string(rune('0'+conc)), func(b *testing.B) {
			_, topic, queue := benchSetup(b)
			preload(b, topic, b.N)
			br, _ := newTestBroker(b, Config{Prefetch: benchPrefetch})
			c, err := br.NewConsumer(context.Background(), courier.ConsumerConfig{Group: queue, Topics: []string{topic}, Concurrency: conc})
			if err != nil {
				b.Fatal(err)
			}
			var handled atomic.Int64
			all := make(chan struct{})
			target := int64(b.N)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			b.SetBytes(benchValueSize)
			b.ResetTimer()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.Consume(ctx, courier.HandlerFunc(func(context.Context, courier.Message) error {
					if handled.Add(1) == target {
						close(all)
					}
					return nil
				}))
			}()
			select {
			case <-all:
			case <-time.After(5 * time.Minute):
				b.Fatalf("handled %d of %d", handled.Load(), b.N)
			}
			b.StopTimer()
			perSecond(b, b.N)
			cancel()
			wg.Wait()
		})
	}
}

// BenchmarkSuite runs the shared brokertest benchmarks (1 KiB values).
func BenchmarkSuite(b *testing.B) {
	h := harness()
	brokertest.Bench(b, h, brokertest.BenchOptions{ValueSize: benchValueSize})
}
