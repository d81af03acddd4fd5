package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/kafka"
)

// The benchmarks compare the adapter with the raw sarama client doing the same work on the
// same in-process cluster, 1 KiB values, side by side:
//
//	go test -run XXX -bench 'Produce|Consume' -benchtime 20000x ./kafka/
//
// Produce: raw is an AsyncProducer fed as fast as it takes records, reading its
// acknowledgements; the adapter sends all records with one SendBatch (the same work: hand
// everything over, wait for every ack), then, as services do, with SendBatch of benchBatch
// from 4 goroutines and with Send from 256 goroutines (whose depth, not the adapter, bounds
// them: each waits for its ack before sending again).
// Consume: b.N records are written first; raw is a consumer group whose handler marks every
// message; the adapter is a Consumer whose handler returns nil. Consume's msgs/s counts from
// the first message to the last, so that joining the group is left out on both sides.
// Beside msgs/s each reports cpu-ns/msg, the process's CPU time per message (the in-process
// cluster included), which other load on a shared machine disturbs far less.

const (
	benchValueSize  = 1024
	benchPartitions = 4
)

var benchBatch = 1000

var benchValue = func() []byte {
	v := make([]byte, benchValueSize)
	for i := range v {
		v[i] = byte(i * 31)
	}
	return v
}()

// benchCluster starts a cluster and a topic for one benchmark.
func benchCluster(b *testing.B) (*kafka.Broker, []string, string) {
	brokers := kfakeBrokers(b)
	// The adapter's defaults (heartbeats, commit interval, fetch wait), which are sarama's,
	// as the raw side uses them.
	br := openBroker(b, kafka.Config{Brokers: brokers, Logger: quiet})
	b.Cleanup(func() { _ = br.Close() })
	topic := "bench"
	if err := br.CreateTopic(context.Background(), topic, benchPartitions, 0); err != nil {
		b.Fatal(err)
	}
	return br, brokers, topic
}

// benchProducer returns an adapter producer on a cluster of its own, and its topic.
func benchProducer(b *testing.B) (courier.Producer, string) {
	br, _, topic := benchCluster(b)
	p, err := br.NewProducer(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	return p, topic
}

// rawProducerConfig is the sarama configuration the adapter's producer uses.
func rawProducerConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = 10
	sc.Producer.Return.Successes = true
	sc.Producer.Compression = sarama.CompressionSnappy
	sc.Producer.Partitioner = sarama.NewMurmur2Partitioner
	return sc
}

// rawProduce writes n records with a sarama AsyncProducer and waits for every ack.
func rawProduce(b *testing.B, brokers []string, topic string, n int) {
	ap, err := sarama.NewAsyncProducer(brokers, rawProducerConfig())
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var failed atomic.Int64
	go func() {
		defer wg.Done()
		for range n {
			select {
			case <-ap.Successes():
			case pe := <-ap.Errors():
				b.Error(pe.Err)
				failed.Add(1)
			}
		}
	}()
	for range n {
		ap.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(benchValue)}
	}
	wg.Wait()
	if err := ap.Close(); err != nil {
		b.Fatal(err)
	}
}

// cpuMeter reports the CPU time per message of a timed section, a figure that the other
// work on a shared machine disturbs far less than msgs/s.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{cpuTime()} }

func (m cpuMeter) report(b *testing.B, msgs int) {
	b.ReportMetric(float64(cpuTime()-m.start)/float64(msgs), "cpu-ns/msg")
}

func BenchmarkProduce(b *testing.B) {
	var cpu cpuMeter
	perSecond := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		cpu.report(b, b.N)
	}
	b.Run("raw-sarama-async", func(b *testing.B) {
		_, brokers, topic := benchCluster(b)
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		cpu = startCPU()
		rawProduce(b, brokers, topic, b.N)
		perSecond(b)
	})
	// Like for like with raw: every record handed over at once, then every ack awaited.
	b.Run("adapter-SendBatch-all", func(b *testing.B) {
		p, topic := benchProducer(b)
		batch := make([]courier.Message, b.N)
		for i := range batch {
			batch[i] = courier.Message{Topic: topic, Value: benchValue}
		}
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		cpu = startCPU()
		if err := p.SendBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		perSecond(b)
	})
	b.Run("adapter-SendBatch-4-goroutines", func(b *testing.B) {
		p, topic := benchProducer(b)
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		cpu = startCPU()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				batch := make([]courier.Message, 0, benchBatch)
				for {
					start := next.Add(int64(benchBatch)) - int64(benchBatch)
					if start >= int64(b.N) {
						return
					}
					batch = batch[:0]
					for i := start; i < min(start+int64(benchBatch), int64(b.N)); i++ {
						batch = append(batch, courier.Message{Topic: topic, Value: benchValue})
					}
					if err := p.SendBatch(context.Background(), batch); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		perSecond(b)
	})
	b.Run("adapter-Send-256-goroutines", func(b *testing.B) {
		p, topic := benchProducer(b)
		b.SetBytes(benchValueSize)
		b.SetParallelism(128) // 128 x GOMAXPROCS senders, each waiting for its ack
		b.ResetTimer()
		cpu = startCPU()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := p.Send(context.Background(), courier.Message{Topic: topic, Value: benchValue}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		perSecond(b)
	})
}

// span measures the time from the first message to the n-th.
type span struct {
	n, target int64
	first     atomic.Int64 // unix nanos
	last      atomic.Int64
	cpuFirst  atomic.Int64 // process CPU time at the first message
	cpuLast   atomic.Int64
	done      chan struct{}
}

func newSpan(target int) *span { return &span{target: int64(target), done: make(chan struct{})} }

func (s *span) hit() {
	now := time.Now().UnixNano()
	if s.first.CompareAndSwap(0, now) {
		s.cpuFirst.Store(int64(cpuTime()))
	}
	if atomic.AddInt64(&s.n, 1) == s.target {
		s.last.Store(now)
		s.cpuLast.Store(int64(cpuTime()))
		close(s.done)
	}
}

// took is the time from the first message to the last.
func (s *span) took() time.Duration { return time.Duration(s.last.Load() - s.first.Load()) }

// await waits for the n-th message, failing b if it does not come within minutes.
func (s *span) await(b *testing.B) {
	select {
	case <-s.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("consumed %d of %d", atomic.LoadInt64(&s.n), s.target)
	}
}

// report stops b's timer and reports msgs/s and the CPU time per message of the span.
func (s *span) report(b *testing.B) {
	b.StopTimer()
	if d := s.took(); d > 0 {
		b.ReportMetric(float64(s.target-1)/d.Seconds(), "msgs/s")
		b.ReportMetric(float64(s.cpuLast.Load()-s.cpuFirst.Load())/float64(s.target-1), "cpu-ns/msg")
	}
}

// rawHandler marks every message of its claims, as a sarama application does.
type rawHandler struct{ s *span }

func (rawHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (rawHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h rawHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.s.hit()
			sess.MarkMessage(m, "")
		case <-sess.Context().Done():
			return nil
		}
	}
}

func BenchmarkConsume(b *testing.B) {
	b.Run("raw-sarama-group", func(b *testing.B) {
		_, brokers, topic := benchCluster(b)
		rawProduce(b, brokers, topic, b.N)
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		rawConsume(b, brokers, topic, "raw", b.N).report(b)
	})
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("adapter-concurrency-%d", conc), func(b *testing.B) {
			br, brokers, topic := benchCluster(b)
			rawProduce(b, brokers, topic, b.N)
			b.SetBytes(benchValueSize)
			b.ResetTimer()
			adapterConsume(b, br, topic, "adapter", conc, b.N).report(b)
		})
	}
}

// BenchmarkConformance runs brokertest's benchmarks (100-byte values) on kfake.
func BenchmarkConformance(b *testing.B) {
	brokertest.Bench(b, harness(kfakeBrokers, 0), brokertest.BenchOptions{ValueSize: benchValueSize})
}
