package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/courier-go/courier"
	"github.com/courier-go/courier/kafka"
	"github.com/google/uuid"
)

// BenchmarkSideBySide measures the adapter and raw sarama in alternating rounds on one
// in-process cluster, so that the other load of a shared machine falls on both alike:
//
//	go test -run XXX -bench SideBySide -benchtime 8x ./kafka/
//
// Each iteration is one round of sideBySideMsgs 1 KiB messages per side, the side that goes
// first alternating. produce: a raw AsyncProducer fed every record then awaiting every ack,
// against the adapter's SendBatch of the same records; produce-with-ids: the same with IDs
// set by the caller, which the adapter sends in a header, and raw records carrying that
// header. consume: a raw consumer group marking every message, against an adapter Consumer
// (Concurrency 1, then 4), each a new group reading the same freshly written topic (deleted
// after the round), timed from its first message to its last. Reported: msgs/s of each side
// over all rounds, adapter/raw, and the median of the rounds' adapter/raw.
func BenchmarkSideBySide(b *testing.B) {
	b.Run("produce", func(b *testing.B) { benchSideBySideProduce(b, false) })
	// Messages with IDs set by the caller, which the adapter sends in a 16-byte header, against
	// raw records carrying the same header.
	b.Run("produce-with-ids", func(b *testing.B) { benchSideBySideProduce(b, true) })
	b.Run("consume-concurrency-1", func(b *testing.B) { benchSideBySideConsume(b, 1) })
	// As many handlers as partitions, as raw sarama runs one handler loop per partition.
	b.Run(fmt.Sprint("consume-concurrency-", benchPartitions), func(b *testing.B) { benchSideBySideConsume(b, benchPartitions) })
}

// sideBySideMsgs is large enough that a round measures the steady flow: with 50,000 a round
// lasted ~50 ms and the first milliseconds of a consumer (partitions starting one by one)
// weighed on its figure as much as the flow did.
const sideBySideMsgs = 250000

// rounds holds the time each side took in each round.
type rounds struct{ raw, adapter []time.Duration }

// run runs one round, the side that goes first alternating.
func (r *rounds) run(i int, raw, adapter func() time.Duration) {
	var rt, at time.Duration
	if i%2 == 0 {
		rt, at = raw(), adapter()
	} else {
		at, rt = adapter(), raw()
	}
	r.raw, r.adapter = append(r.raw, rt), append(r.adapter, at)
}

// report reports msgs/s of each side over all rounds and adapter/raw, and the median of the
// rounds' adapter/raw: a round that a burst of other load on the machine slowed down moves
// the first, not the second.
func (r *rounds) report(b *testing.B) {
	var rawTotal, adapterTotal time.Duration
	ratios := make([]float64, len(r.raw))
	for i := range r.raw {
		rawTotal += r.raw[i]
		adapterTotal += r.adapter[i]
		ratios[i] = r.raw[i].Seconds() / r.adapter[i].Seconds()
	}
	n := float64(len(r.raw) * sideBySideMsgs)
	rawRate, adapterRate := n/rawTotal.Seconds(), n/adapterTotal.Seconds()
	b.ReportMetric(rawRate, "raw-msgs/s")
	b.ReportMetric(adapterRate, "adapter-msgs/s")
	b.ReportMetric(adapterRate/rawRate, "adapter/raw")
	slices.Sort(ratios)
	median := ratios[len(ratios)/2]
	if len(ratios)%2 == 0 {
		median = (ratios[len(ratios)/2-1] + median) / 2
	}
	b.ReportMetric(median, "median-round-adapter/raw")
}

var headerUUIDKey = []byte(kafka.HeaderUUID)

func benchSideBySideProduce(b *testing.B, withIDs bool) {
	br, brokers, topic := benchCluster(b)
	p, err := br.NewProducer(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ap, err := sarama.NewAsyncProducer(brokers, rawProducerConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer ap.Close()
	batch := make([]courier.Message, sideBySideMsgs)
	var ids []string
	var rawIDs [][16]byte
	if withIDs {
		for range sideBySideMsgs {
			id := uuid.Must(uuid.NewV7())
			ids, rawIDs = append(ids, id.String()), append(rawIDs, id)
		}
	}

	raw := func() time.Duration {
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range sideBySideMsgs {
				select {
				case <-ap.Successes():
				case pe := <-ap.Errors():
					b.Error(pe.Err)
				}
			}
		}()
		for i := range sideBySideMsgs {
			pm := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(benchValue)}
			if withIDs {
				pm.Headers = []sarama.RecordHeader{{Key: headerUUIDKey, Value: rawIDs[i][:]}}
			}
			ap.Input() <- pm
		}
		<-done
		return time.Since(start)
	}
	adapter := func() time.Duration {
		for i := range batch {
			batch[i] = courier.Message{Topic: topic, Value: benchValue}
			if withIDs {
				batch[i].ID = ids[i]
			}
		}
		start := time.Now()
		if err := p.SendBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var rs rounds
	b.ResetTimer()
	for i := range b.N {
		rs.run(i, raw, adapter)
	}
	rs.report(b)
}

func benchSideBySideConsume(b *testing.B, concurrency int) {
	br, brokers, _ := benchCluster(b)
	ctx := context.Background()
	var rs rounds
	for i := range b.N {
		b.StopTimer()
		topic := fmt.Sprint("consume-", i)
		if err := br.CreateTopic(ctx, topic, benchPartitions, 0); err != nil {
			b.Fatal(err)
		}
		rawProduce(b, brokers, topic, sideBySideMsgs)
		b.StartTimer()
		rs.run(i,
			func() time.Duration { return rawConsume(b, brokers, topic, "raw", sideBySideMsgs).took() },
			func() time.Duration {
				return adapterConsume(b, br, topic, "adapter", concurrency, sideBySideMsgs).took()
			})
		b.StopTimer()
		deleteTopic(b, brokers, topic)
		b.StartTimer()
	}
	rs.report(b)
}

// deleteTopic deletes a round's topic, so that the records the cluster keeps (and the
// collector scans) do not grow from round to round.
func deleteTopic(b *testing.B, brokers []string, topic string) {
	adm, err := sarama.NewClusterAdmin(brokers, sarama.NewConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer adm.Close()
	if err := adm.DeleteTopic(topic); err != nil {
		b.Fatal(err)
	}
}

// rawConsume reads n records of topic with a new raw sarama group marking every message,
// and returns its span.
func rawConsume(b *testing.B, brokers []string, topic, group string, n int) *span {
	sc := sarama.NewConfig()
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	cg, err := sarama.NewConsumerGroup(brokers, group, sc)
	if err != nil {
		b.Fatal(err)
	}
	defer cg.Close()
	s := newSpan(n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, rawHandler{s}); err != nil && ctx.Err() == nil {
				b.Error(err)
				return
			}
		}
	}()
	s.await(b)
	cancel()
	wg.Wait()
	return s
}

// adapterConsume reads n records of topic with a new adapter group, and returns its span.
func adapterConsume(b *testing.B, br *kafka.Broker, topic, group string, concurrency, n int) *span {
	ctx := context.Background()
	c, err := br.NewConsumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: concurrency, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	s := newSpan(n)
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, courier.HandlerFunc(func(context.Context, courier.Message) error { s.hit(); return nil }))
	}()
	s.await(b)
	_ = c.Close()
	if err := <-done; err != nil {
		b.Error(err)
	}
	return s
}
