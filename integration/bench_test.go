package integration

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/batch"
)

// BenchmarkSend compares Send straight to each broker's producer with Send through a
// batch.Producer, from 64 senders per CPU at once: batching serves concurrent senders (a
// server's requests); a single sender in a loop waits out the linger on every message.
//
//	go test -run XXX -bench Send ./integration/
func BenchmarkSend(b *testing.B) {
	value := make([]byte, 100)
	for _, tg := range targets {
		br := tg.open(b)
		topic := name("bench")
		send := func(b *testing.B, p courier.Producer) {
			b.SetParallelism(64)
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.Send(context.Background(), courier.Message{Topic: topic, Value: value}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		}
		b.Run(tg.name+"/unbatched", func(b *testing.B) {
			send(b, newProducer(b, br))
		})
		b.Run(tg.name+"/batched", func(b *testing.B) {
			p, err := batch.New(newProducer(b, br), batch.Config{}) // the defaults
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			send(b, p)
		})
	}
}
