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
// loop, one round each in turn (the order rotated every round), each on its
// own pulsartest server: load from elsewhere on the machine then falls on
// both alike, which separate benchmark runs on a busy machine cannot
// promise. Its raw sides are the bare client and the client carrying what
// the adapter's messages carry (see BenchmarkRawClientSameWork). A round is
// one Send, 16 Sends from 2 goroutines (Parallel), one
// SendBatch of 100 (the raw side: 100 SendAsync and a Flush), or 50 Sends
// all handled by a Key_Shared consumer (EndToEnd). It reports each side's
// ns per message, ratio = raw/adapter and ratio-same = same-work raw/adapter
// (1 or more: the adapter is as fast).
func BenchmarkSideBySide(b *testing.B) {
	value := make([]byte, benchValueSize)
	ctx := context.Background()
	type side struct {
		round func(b *testing.B)
		spent time.Duration
	}
	run := func(b *testing.B, perRound int, adapter, raw, same *side) {
		sides := []*side{adapter, raw, same}
		b.ResetTimer()
		for i := range b.N {
			for j := range sides {
				s := sides[(i+j)%len(sides)]
				start := time.Now()
				s.round(b)
				s.spent += time.Since(start)
			}
		}
		b.StopTimer()
		n := float64(b.N * perRound)
		perMsg := func(s *side) float64 { return float64(s.spent.Nanoseconds()) / n }
		b.ReportMetric(perMsg(adapter), "adapter-ns/msg")
		b.ReportMetric(perMsg(raw), "raw-ns/msg")
		b.ReportMetric(perMsg(same), "same-ns/msg")
		b.ReportMetric(perMsg(raw)/perMsg(adapter), "ratio")
		b.ReportMetric(perMsg(same)/perMsg(adapter), "ratio-same")
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

	bare := func() *pulsarclient.ProducerMessage { return &pulsarclient.ProducerMessage{Payload: value} }
	same := sameWorkMessages(value)
	waitAll := func(b *testing.B, ch chan struct{}, n int) {
		timeout := time.After(wait)
		for range n {
			select {
			case <-ch:
			case <-timeout:
				b.Fatal("messages not handled in time")
			}
		}
	}

	b.Run("Send", func(b *testing.B) {
		_, ap, topic := adapterProducer(b)
		raw := func(mk func() *pulsarclient.ProducerMessage) *side {
			_, rp, _ := rawSetup(b)
			return &side{round: func(b *testing.B) {
				if _, err := rp.Send(ctx, mk()); err != nil {
					b.Fatal(err)
				}
			}}
		}
		run(b, 1, &side{round: func(b *testing.B) {
			if err := ap.Send(ctx, courier.Message{Topic: topic, Value: value}); err != nil {
				b.Fatal(err)
			}
		}}, raw(bare), raw(same))
	})
	b.Run("Parallel", func(b *testing.B) {
		_, ap, topic := adapterProducer(b)
		raw := func(mk func() *pulsarclient.ProducerMessage) *side {
			_, rp, _ := rawSetup(b)
			return &side{round: func(b *testing.B) {
				parallel(b, func() error { _, err := rp.Send(ctx, mk()); return err })
			}}
		}
		run(b, 16, &side{round: func(b *testing.B) {
			parallel(b, func() error { return ap.Send(ctx, courier.Message{Topic: topic, Value: value}) })
		}}, raw(bare), raw(same))
	})
	b.Run("SendBatch100", func(b *testing.B) {
		const size = 100
		_, ap, topic := adapterProducer(b)
		raw := func(mk func() *pulsarclient.ProducerMessage) *side {
			_, rp, _ := rawSetup(b)
			return &side{round: func(b *testing.B) {
				var wg sync.WaitGroup
				wg.Add(size)
				for range size {
					rp.SendAsync(ctx, mk(), func(_ pulsarclient.MessageID, _ *pulsarclient.ProducerMessage, err error) {
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
			}}
		}
		batch := make([]courier.Message, size)
		run(b, size, &side{round: func(b *testing.B) {
			for i := range batch {
				batch[i] = courier.Message{Topic: topic, Value: value}
			}
			if err := ap.SendBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}}, raw(bare), raw(same))
	})
	b.Run("EndToEnd", func(b *testing.B) {
		const size = 50
		br, ap, topic := adapterProducer(b)
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
		b.Cleanup(func() {
			_ = c.Close()
			if err := <-consumed; err != nil {
				b.Error(err)
			}
		})
		raw := func(mk func() *pulsarclient.ProducerMessage) *side {
			client, rp, rtopic := rawSetup(b)
			rc, err := client.Subscribe(pulsarclient.ConsumerOptions{Topic: rtopic, SubscriptionName: "sbs", Type: pulsarclient.KeyShared})
			if err != nil {
				b.Fatal(err)
			}
			rawHandled := make(chan struct{}, size)
			rctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					m, err := rc.Receive(rctx)
					if err != nil {
						return // stopped
					}
					_ = rc.Ack(m)
					rawHandled <- struct{}{}
				}
			})
			b.Cleanup(func() { stop(); wg.Wait(); rc.Close() })
			return &side{round: func(b *testing.B) {
				for range size {
					if _, err := rp.Send(ctx, mk()); err != nil {
						b.Fatal(err)
					}
				}
				waitAll(b, rawHandled, size)
			}}
		}
		run(b, size, &side{round: func(b *testing.B) {
			for range size {
				if err := ap.Send(ctx, courier.Message{Topic: topic, Value: value}); err != nil {
					b.Fatal(err)
				}
			}
			waitAll(b, handled, size)
		}}, raw(bare), raw(same))
	})
}
