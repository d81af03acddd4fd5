package pulsar_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
)

// BenchmarkSideBySide times the adapter and the bare client in the same
// loop, one round each in turn (the order swapped every round), each on its
// own pulsartest server: load from elsewhere on the machine then falls on
// both alike, which separate benchmark runs on a busy machine cannot
// promise. A round is one Send, 16 Sends from 2 goroutines (Parallel), one
// SendBatch of 100 (the raw side: 100 SendAsync and a Flush), or 50 Sends
// all handled by a Key_Shared consumer (EndToEnd). It reports each side's
// ns per message and ratio = raw/adapter (1 or more: the adapter is as fast).
func BenchmarkSideBySide(b *testing.B) {
	value := make([]byte, benchValueSize)
	ctx := context.Background()
	type side struct {
		round func(b *testing.B)
		spent time.Duration
	}
	run := func(b *testing.B, perRound int, adapter, raw *side) {
		b.ResetTimer()
		for i := range b.N {
			first, second := adapter, raw
			if i%2 == 1 {
				first, second = raw, adapter
			}
			for _, s := range []*side{first, second} {
				start := time.Now()
				s.round(b)
				s.spent += time.Since(start)
			}
		}
		b.StopTimer()
		n := float64(b.N * perRound)
		a, r := float64(adapter.spent.Nanoseconds())/n, float64(raw.spent.Nanoseconds())/n
		b.ReportMetric(a, "adapter-ns/msg")
		b.ReportMetric(r, "raw-ns/msg")
		b.ReportMetric(r/a, "ratio")
	}
	adapterProducer := func(b *testing.B) (courier.Broker, courier.Producer, string) {
		br := newBroker(b)
		b.Cleanup(func() { _ = br.Close() })
		p, err := br.NewProducer(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = p.Close() })
		topic := fmt.Sprintf("sbs-%d", time.Now().UnixNano())
		if err := p.Send(ctx, courier.Message{Topic: topic, Value: value}); err != nil { // creates the Pulsar producer
			b.Fatal(err)
		}
		return br, p, topic
	}
	parallel := func(b *testing.B, send func() error) {
		const goroutines, each = 2, 8
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range each {
					if err := send(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}

	b.Run("Send", func(b *testing.B) {
		_, ap, topic := adapterProducer(b)
		_, rp, _ := rawSetup(b)
		run(b, 1, &side{round: func(b *testing.B) {
			if err := ap.Send(ctx, courier.Message{Topic: topic, Value: value}); err != nil {
				b.Fatal(err)
			}
		}}, &side{round: func(b *testing.B) {
			if _, err := rp.Send(ctx, &pulsarclient.ProducerMessage{Payload: value}); err != nil {
				b.Fatal(err)
			}
		}})
	})
	b.Run("Parallel", func(b *testing.B) {
		_, ap, topic := adapterProducer(b)
		_, rp, _ := rawSetup(b)
		run(b, 16, &side{round: func(b *testing.B) {
			parallel(b, func() error { return ap.Send(ctx, courier.Message{Topic: topic, Value: value}) })
		}}, &side{round: func(b *testing.B) {
			parallel(b, func() error { _, err := rp.Send(ctx, &pulsarclient.ProducerMessage{Payload: value}); return err })
		}})
	})
	b.Run("SendBatch100", func(b *testing.B) {
		const size = 100
		_, ap, topic := adapterProducer(b)
		_, rp, _ := rawSetup(b)
		batch := make([]courier.Message, size)
		run(b, size, &side{round: func(b *testing.B) {
			for i := range batch {
				batch[i] = courier.Message{Topic: topic, Value: value}
			}
			if err := ap.SendBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}}, &side{round: func(b *testing.B) {
			var wg sync.WaitGroup
			wg.Add(size)
			for range size {
				rp.SendAsync(ctx, &pulsarclient.ProducerMessage{Payload: value}, func(_ pulsarclient.MessageID, _ *pulsarclient.ProducerMessage, err error) {
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				})
			}
			if err := rp.FlushWithCtx(ctx); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
		}})
	})
	b.Run("EndToEnd", func(b *testing.B) {
		const size = 50
		br, ap, topic := adapterProducer(b)
		client, rp, rtopic := rawSetup(b)
		handled := make(chan struct{}, size)
		c, err := br.NewConsumer(ctx, courier.ConsumerConfig{Group: "sbs", Topics: []string{topic}})
		if err != nil {
			b.Fatal(err)
		}
		consumed := make(chan error, 1)
		go func() {
			consumed <- c.Consume(ctx, courier.HandlerFunc(func(context.Context, courier.Message) error {
				handled <- struct{}{}
				return nil
			}))
		}()
		defer func() {
			_ = c.Close()
			if err := <-consumed; err != nil {
				b.Error(err)
			}
		}()
		rc, err := client.Subscribe(pulsarclient.ConsumerOptions{Topic: rtopic, SubscriptionName: "sbs", Type: pulsarclient.KeyShared})
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		rawHandled := make(chan struct{}, size)
		rctx, stop := context.WithCancel(ctx)
		var rwg sync.WaitGroup
		rwg.Go(func() {
			for {
				m, err := rc.Receive(rctx)
				if err != nil {
					return // stopped
				}
				_ = rc.Ack(m)
				rawHandled <- struct{}{}
			}
		})
		defer func() { stop(); rwg.Wait() }()
		waitAll := func(b *testing.B, ch chan struct{}) {
			timeout := time.After(wait)
			for range size {
				select {
				case <-ch:
				case <-timeout:
					b.Fatal("messages not handled in time")
				}
			}
		}
		run(b, size, &side{round: func(b *testing.B) {
			for range size {
				if err := ap.Send(ctx, courier.Message{Topic: topic, Value: value}); err != nil {
					b.Fatal(err)
				}
			}
			waitAll(b, handled)
		}}, &side{round: func(b *testing.B) {
			for range size {
				if _, err := rp.Send(ctx, &pulsarclient.ProducerMessage{Payload: value}); err != nil {
					b.Fatal(err)
				}
			}
			waitAll(b, rawHandled)
		}})
	})
}
