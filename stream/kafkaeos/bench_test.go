package kafkaeos_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/courier-go/courier/stream"
	"github.com/courier-go/courier/stream/kafkaeos"
)

// BenchmarkCountKeys counts b.N records over 10,000 keys on an in-process kfake cluster (4
// partitions), exactly once: each record's new count goes to a changelog topic in the
// transaction that commits the record's offset, as goka's counter processor writes its group
// table. Records are produced before the timer starts; the figure is records handled per
// second (the commit of each partition's last batch is not waited for).
//
//	go test -run '^$' -bench CountKeys -benchtime 20000x -count 3 ./   (in stream/kafkaeos)
func BenchmarkCountKeys(b *testing.B) {
	const keys = 10_000
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "clicks", "counts"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	batch := make([]*sarama.ProducerMessage, 0, 1000)
	for i := range b.N {
		batch = append(batch, &sarama.ProducerMessage{Topic: "clicks", Key: sarama.StringEncoder("user-" + strconv.Itoa(i%keys)),
			Value: sarama.StringEncoder("click")})
		if len(batch) == cap(batch) || i == b.N-1 {
			if err := prod.SendMessages(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proc, err := kafkaeos.New(ctx, kafkaeos.Config{Brokers: brokers, Group: "counter", Topics: []string{"clicks"},
		TransactionalID: "counter", Sarama: saramaConfig()})
	if err != nil {
		b.Fatal(err)
	}
	defer proc.Close()
	store, err := stream.NewMemoryStore(0)
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	all := make(chan struct{})
	p := stream.New(stream.Config{Name: "counter"})
	counts := stream.Count(stream.From(p, stream.Bytes), store, "clicks")
	stream.To(counts, proc.Producer(), "counts", stream.Int64Codec.Encode)
	stream.Foreach(counts, func(context.Context, stream.Record[int64]) error {
		if handled.Add(1) == int64(b.N) {
			close(all)
		}
		return nil
	})
	if err := p.Validate(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	ran := make(chan error, 1)
	go func() { ran <- proc.Run(ctx, p) }()
	select {
	case <-all:
	case err := <-ran:
		b.Fatalf("Run ended early: %v", err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}
