package rabbitmq

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
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

// sides times the raw client and the adapter doing the same work in alternating rounds, so
// that both see the same broker and machine load (this machine is shared with other work),
// and reports both rates and their ratio: over all rounds, and the median of the rounds'
// ratios, which a stall that hits one side's round (a noisy neighbour) does not sway.
type sides struct {
	raw, adapter time.Duration
	n            int       // messages each side handled
	ratios       []float64 // per round: adapter rate / raw rate
}

func (s *sides) round(n int, raw, adapter func()) {
	timed := func(f func()) time.Duration { t := time.Now(); f(); return time.Since(t) }
	var r, a time.Duration
	if len(s.ratios)%2 == 0 { // alternate who goes first
		r, a = timed(raw), timed(adapter)
	} else {
		a, r = timed(adapter), timed(raw)
	}
	s.raw += r
	s.adapter += a
	s.n += n
	s.ratios = append(s.ratios, r.Seconds()/a.Seconds())
}

func (s *sides) report(b *testing.B) {
	r, a := float64(s.n)/s.raw.Seconds(), float64(s.n)/s.adapter.Seconds()
	slices.Sort(s.ratios)
	b.ReportMetric(r, "raw-msgs/s")
	b.ReportMetric(a, "adapter-msgs/s")
	b.ReportMetric(a/r, "adapter/raw")
	b.ReportMetric(s.ratios[len(s.ratios)/2], "median-adapter/raw")
	b.ReportMetric(0, "ns/op") // the time of both sides together says nothing
}

// BenchmarkPublish compares publishing with confirms, b.N messages per side:
//
//   - Sequential: one message at a time, waiting for its confirm (Send).
//   - Batch100: 100 messages pipelined, then all their confirms (SendBatch).
//   - Parallel16: 16 goroutines each publishing and waiting; raw spreads them over as many
//     confirm channels as the adapter's pool has.
func BenchmarkPublish(b *testing.B) {
	v := benchValue()
	ctx := context.Background()
	setup := func(b *testing.B) (*amqp.Connection, *Producer, string) {
		raw, topic, _ := benchSetup(b)
		return raw, benchProducer(b), topic
	}
	b.Run("Sequential", func(b *testing.B) {
		raw, p, topic := setup(b)
		ch := rawConfirmChannel(b, raw)
		var s sides
		for range b.N {
			s.round(1, func() {
				dc, err := ch.PublishWithDeferredConfirm(topic, "k", true, false, rawPublishing(v))
				if err != nil || !dc.Wait() {
					b.Fatal("publish failed", err)
				}
			}, func() {
				if err := p.Send(ctx, courier.Message{Topic: topic, Key: "k", Value: v}); err != nil {
					b.Fatal(err)
				}
			})
		}
		s.report(b)
	})
	b.Run("Batch100", func(b *testing.B) {
		raw, p, topic := setup(b)
		ch := rawConfirmChannel(b, raw)
		dcs := make([]*amqp.DeferredConfirmation, benchBatch)
		batch := make([]courier.Message, benchBatch)
		var s sides
		for s.n < b.N {
			n := min(benchBatch, b.N-s.n)
			s.round(n, func() {
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
			}, func() {
				for i := range n {
					batch[i] = courier.Message{Topic: topic, Key: "k", Value: v}
				}
				if err := p.SendBatch(ctx, batch[:n]); err != nil {
					b.Fatal(err)
				}
			})
		}
		s.report(b)
	})
	b.Run("Parallel16", func(b *testing.B) {
		raw, p, topic := setup(b)
		chs := make([]*amqp.Channel, benchChannels)
		for i := range chs {
			chs[i] = rawConfirmChannel(b, raw)
		}
		const workers, chunk = 16, 800
		// parallel runs one with workers goroutines until n messages are done.
		parallel := func(n int, one func(i int)) {
			var next atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(n) {
						one(w)
					}
				}()
			}
			wg.Wait()
		}
		var s sides
		for s.n < b.N {
			n := min(chunk, b.N-s.n)
			s.round(n, func() {
				parallel(n, func(w int) {
					dc, err := chs[w%len(chs)].PublishWithDeferredConfirm(topic, "k", true, false, rawPublishing(v))
					if err != nil || !dc.Wait() {
						b.Error("publish failed", err)
					}
				})
			}, func() {
				parallel(n, func(int) {
					if err := p.Send(ctx, courier.Message{Topic: topic, Key: "k", Value: v}); err != nil {
						b.Error(err)
					}
				})
			})
		}
		s.report(b)
	})
}

// preload puts n messages in the topic's queues (untimed), as courier messages so both
// consumers decode the same thing.
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

// BenchmarkConsume compares consuming b.N preloaded messages per side with manual acks at the
// same prefetch (128): raw reads deliveries and acks each; the adapter runs a handler that
// returns nil, with Concurrency 1 and 4. Each side consumes a chunk in turn, its consumer
// idle (its handler or loop not reading) while the other works.
func BenchmarkConsume(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("Concurrency%d", conc), func(b *testing.B) {
			raw, topic, rawQueue := benchSetup(b)
			_, adapterTopic, _ := benchSetup(b)
			preload(b, topic, b.N)
			br, tp := newTestBroker(b, Config{Prefetch: benchPrefetch})
			group := tp.queue(randomName("bench-"))
			c, err := br.NewConsumer(context.Background(), courier.ConsumerConfig{Group: group, Topics: []string{adapterTopic}, Concurrency: conc})
			if err != nil {
				b.Fatal(err)
			}
			preload(b, adapterTopic, b.N)

			ch, err := raw.Channel()
			if err != nil {
				b.Fatal(err)
			}
			if err := ch.Qos(benchPrefetch, 0, false); err != nil {
				b.Fatal(err)
			}
			deliveries, err := ch.Consume(rawQueue, "", false, false, false, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			permits := make(chan struct{}, 4096)
			handled := make(chan struct{}, 4096)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.Consume(ctx, courier.HandlerFunc(func(hctx context.Context, _ courier.Message) error {
					select {
					case <-permits:
					case <-hctx.Done():
						return hctx.Err()
					}
					handled <- struct{}{}
					return nil
				}))
			}()
			const chunk = 2000
			var s sides
			for s.n < b.N {
				n := min(chunk, b.N-s.n)
				s.round(n, func() {
					for range n {
						d := <-deliveries
						if err := d.Ack(false); err != nil {
							b.Fatal(err)
						}
					}
				}, func() {
					for range n {
						permits <- struct{}{}
					}
					for range n {
						<-handled
					}
				})
			}
			s.report(b)
			cancel()
			wg.Wait()
			_ = ch.Close()
		})
	}
}

// BenchmarkSuite runs the shared brokertest benchmarks (1 KiB values).
func BenchmarkSuite(b *testing.B) {
	h := harness()
	brokertest.Bench(b, h, brokertest.BenchOptions{ValueSize: benchValueSize})
}
