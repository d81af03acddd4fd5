package batch

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

// BenchmarkSend compares Send through a batching Producer with Send straight to the memory
// producer, from 64 concurrent senders per CPU (batching only pays with concurrent senders).
// The same comparison on real Redis is in package integration.
func BenchmarkSend(b *testing.B) {
	value := make([]byte, 100)
	run := func(b *testing.B, p courier.Producer) {
		b.SetParallelism(64)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := p.Send(context.Background(), courier.Message{Topic: "bench", Value: value}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	}
	inner := func(b *testing.B) courier.Producer {
		br, err := memory.New(memory.Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = br.Close() })
		p, err := br.NewProducer(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	b.Run("unbatched", func(b *testing.B) {
		p := inner(b)
		defer p.Close()
		run(b, p)
	})
	b.Run("batched", func(b *testing.B) {
		p, err := New(inner(b), Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		run(b, p)
	})
}
