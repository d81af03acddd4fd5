package brokertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// BenchOptions shapes the benchmarks.
type BenchOptions struct {
	ValueSize   int // bytes per message value; default 100
	BatchSize   int // messages per SendBatch; default 100
	Concurrency int // consumer Concurrency in EndToEnd; default 1
}

// Bench runs the send and consume benchmarks against the harness:
//
//   - Send: one Send at a time, each waiting for the broker.
//   - SendParallel: Sends from GOMAXPROCS goroutines at once.
//   - SendBatch: SendBatch of BatchSize messages.
//   - EndToEnd: b.N messages sent and all of them handled by one consumer.
//
// Each reports msgs/s beside ns/op.
func Bench(b *testing.B, h Harness, opts BenchOptions) {
	if opts.ValueSize <= 0 {
		opts.ValueSize = 100
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	value := make([]byte, opts.ValueSize)
	for i := range value {
		value[i] = byte(i)
	}
	setupBench := func(b *testing.B) (courier.Broker, string) {
		br := h.NewBroker(b)
		b.Cleanup(func() { _ = br.Close() })
		topic := "courier-bench-" + randomName()
		if h.NewTopic != nil {
			topic = h.NewTopic(b, br)
		}
		return br, topic
	}
	producer := func(b *testing.B, br courier.Broker) courier.Producer {
		p, err := br.NewProducer(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = p.Close() })
		return p
	}
	perSecond := func(b *testing.B, msgs int) {
		b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	}

	b.Run("Send", func(b *testing.B) {
		br, topic := setupBench(b)
		p := producer(b, br)
		ctx := context.Background()
		b.SetBytes(int64(opts.ValueSize))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := p.Send(ctx, courier.Message{Topic: topic, Value: value}); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b, b.N)
	})
	b.Run("SendParallel", func(b *testing.B) {
		br, topic := setupBench(b)
		p := producer(b, br)
		ctx := context.Background()
		b.SetBytes(int64(opts.ValueSize))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := p.Send(ctx, courier.Message{Topic: topic, Value: value}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		perSecond(b, b.N)
	})
	b.Run(fmt.Sprintf("SendBatch%d", opts.BatchSize), func(b *testing.B) {
		br, topic := setupBench(b)
		p := producer(b, br)
		ctx := context.Background()
		batch := make([]courier.Message, opts.BatchSize)
		b.SetBytes(int64(opts.ValueSize * opts.BatchSize))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			for i := range batch {
				batch[i] = courier.Message{Topic: topic, Value: value}
			}
			if err := p.SendBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b, b.N*opts.BatchSize)
	})
	b.Run("EndToEnd", func(b *testing.B) {
		br, topic := setupBench(b)
		p := producer(b, br)
		cfg := courier.ConsumerConfig{Group: "bench-" + randomName(), Topics: []string{topic}, Concurrency: opts.Concurrency}
		if h.Configure != nil {
			h.Configure(&cfg)
		}
		c, err := br.NewConsumer(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		var handled atomic.Int64
		all := make(chan struct{})
		target := int64(b.N)
		h := courier.HandlerFunc(func(context.Context, courier.Message) error {
			if handled.Add(1) == target {
				close(all)
			}
			return nil
		})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Consume(context.Background(), h); err != nil {
				b.Error(err)
			}
		}()
		ctx := context.Background()
		b.SetBytes(int64(opts.ValueSize))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := p.Send(ctx, courier.Message{Topic: topic, Value: value}); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-all:
		case <-time.After(5 * time.Minute):
			b.Fatalf("handled %d of %d messages", handled.Load(), b.N)
		}
		b.StopTimer()
		perSecond(b, b.N)
		_ = c.Close()
		wg.Wait()
	})
}
