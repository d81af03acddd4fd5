package kafkaeos_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/courier-go/courier/stream"
	"github.com/courier-go/courier/stream/kafkaeos"
)

// A Kafka-to-Kafka pipeline whose outputs and consumed offsets commit together.
func Example() {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "words", "shouts"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Some input.
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	in, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	for _, w := range []string{"hello", "exactly", "once"} {
		if _, _, err := in.SendMessage(&sarama.ProducerMessage{Topic: "words", Value: sarama.StringEncoder(w)}); err != nil {
			log.Fatal(err)
		}
	}

	// The processor and its pipeline.
	proc, err := kafkaeos.New(ctx, kafkaeos.Config{Brokers: brokers, Group: "shouter", Topics: []string{"words"},
		TransactionalID: "shouter"})
	if err != nil {
		log.Fatal(err)
	}
	p := stream.New(stream.Config{Name: "shouter"})
	shouts := stream.Map(stream.From(p, stream.String), func(s string) (string, error) { return strings.ToUpper(s) + "!", nil })
	stream.To(shouts, proc.Producer(), "shouts", func(s string) ([]byte, error) { return []byte(s), nil })
	if err := p.Validate(); err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- proc.Run(runCtx, p) }()

	// A read_committed reader sees the outputs once their transaction committed.
	rc := sarama.NewConfig()
	rc.Consumer.IsolationLevel = sarama.ReadCommitted
	out, err := sarama.NewConsumer(brokers, rc)
	if err != nil {
		log.Fatal(err)
	}
	defer out.Close()
	pc, err := out.ConsumePartition("shouts", 0, sarama.OffsetOldest)
	if err != nil {
		log.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		got = append(got, string((<-pc.Messages()).Value))
	}
	_ = pc.Close()
	stop()
	if err := <-ran; err != nil {
		log.Fatal(err)
	}
	_ = proc.Close()
	slices.Sort(got)
	fmt.Println(got)
	// Output: [EXACTLY! HELLO! ONCE!]
}
