package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// fakeSession is the part of a sarama group session a claim uses.
type fakeSession struct {
	sarama.ConsumerGroupSession
	ctx    context.Context
	marked atomic.Int64
}

func (s *fakeSession) Context() context.Context                          { return s.ctx }
func (s *fakeSession) MarkOffset(_ string, _ int32, off int64, _ string) { s.marked.Store(off) }
func (s *fakeSession) Commit()                                           {}
func (s *fakeSession) MarkMessage(m *sarama.ConsumerMessage, _ string)   { s.marked.Store(m.Offset + 1) }

type fakeClaim struct {
	sarama.ConsumerGroupClaim
	partition int32
	msgs      chan *sarama.ConsumerMessage
}

func (c *fakeClaim) Topic() string                            { return "bench" }
func (c *fakeClaim) Partition() int32                         { return c.partition }
func (c *fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }

// BenchmarkClaimPipeline measures the adapter's own work per record, without a broker: 4
// partitions' records (prebuilt, as sarama hands them over) go through ConsumeClaim, the
// engine and the tracker to a handler that counts them. "direct" is what a raw sarama
// application does with the same channels: a loop per partition calling the handler and
// marking.
func BenchmarkClaimPipeline(b *testing.B) {
	const partitions = 4
	value := make([]byte, 1024)
	keys := make([][]byte, 64)
	for i := range keys {
		keys[i] = []byte(fmt.Sprint("key-", i))
	}
	keyed := false
	run := func(b *testing.B, consume func(sess *fakeSession, claims []*fakeClaim, h courier.HandlerFunc)) {
		var seen atomic.Int64
		done := make(chan struct{})
		h := courier.HandlerFunc(func(context.Context, courier.Message) error {
			if seen.Add(1) == int64(b.N) {
				close(done)
			}
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		sess := &fakeSession{ctx: ctx}
		claims := make([]*fakeClaim, partitions)
		for p := range claims {
			claims[p] = &fakeClaim{partition: int32(p), msgs: make(chan *sarama.ConsumerMessage, 256)}
		}
		var feeders sync.WaitGroup
		b.ReportAllocs()
		b.ResetTimer()
		for p := range claims {
			feeders.Add(1)
			go func() {
				defer feeders.Done()
				// A ring of records far larger than what the channel and a claim's batch
				// hold: a record is reused long after the claim is done with it.
				ring := make([]sarama.ConsumerMessage, 4096)
				for off := range int64((b.N + partitions - 1 - p) / partitions) {
					r := &ring[off%int64(len(ring))]
					*r = sarama.ConsumerMessage{Topic: "bench", Partition: int32(p), Offset: off, Value: value}
					if keyed {
						r.Key = keys[off%int64(len(keys))]
					}
					claims[p].msgs <- r
				}
			}()
		}
		var consumers sync.WaitGroup
		consumers.Add(1)
		go func() { defer consumers.Done(); consume(sess, claims, h) }()
		<-done
		b.StopTimer()
		cancel()
		feeders.Wait()
		for _, c := range claims {
			close(c.msgs)
		}
		consumers.Wait()
	}
	b.Run("direct", func(b *testing.B) {
		run(b, func(sess *fakeSession, claims []*fakeClaim, h courier.HandlerFunc) {
			var wg sync.WaitGroup
			for _, c := range claims {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for m := range c.msgs {
						_ = h(sess.ctx, courier.Message{Value: m.Value})
						sess.MarkMessage(m, "")
					}
				}()
			}
			wg.Wait()
		})
	})
	for _, c := range []struct {
		conc  int
		keyed bool
	}{{1, false}, {4, false}, {1, true}, {4, true}} {
		name := fmt.Sprint("adapter-concurrency-", c.conc)
		if c.keyed {
			name += "-64-keys"
		}
		conc := c.conc
		b.Run(name, func(b *testing.B) {
			keyed = c.keyed
			defer func() { keyed = false }()
			run(b, func(sess *fakeSession, claims []*fakeClaim, h courier.HandlerFunc) {
				cc := courier.ConsumerConfig{Group: "g", Concurrency: conc}.WithDefaults()
				eng := driver.NewEngine(context.Background(), h, settler{}, engineConfig(cc))
				defer eng.Close()
				g := &groupHandler{c: &consumer{cfg: cc, log: cc.Logger}, eng: eng, bytes: newBudget(queueBytes)}
				var wg sync.WaitGroup
				for _, c := range claims {
					wg.Add(1)
					go func() { defer wg.Done(); _ = g.ConsumeClaim(sess, c) }()
				}
				wg.Wait()
			})
		})
	}
}

// TestClaimHoldsAtMostTheByteBudget: with a handler stuck on the first record, a claim hands
// the engine records only while their bytes fit the budget, then waits with the rest left
// in sarama's channel; once the handler goes on, every record is handled and every byte
// comes back.
func TestClaimHoldsAtMostTheByteBudget(t *testing.T) {
	const budgetBytes, recordSize, records = 8 << 10, 1 << 10, 100
	release, all := make(chan struct{}), make(chan struct{})
	var handled atomic.Int64
	h := courier.HandlerFunc(func(context.Context, courier.Message) error {
		<-release
		if handled.Add(1) == records {
			close(all)
		}
		return nil
	})
	cc := courier.ConsumerConfig{Group: "g", Concurrency: 1, Logger: slog.New(slog.DiscardHandler)}.WithDefaults()
	eng := driver.NewEngine(context.Background(), h, settler{}, engineConfig(cc))
	defer eng.Close()
	g := &groupHandler{c: &consumer{cfg: cc, log: cc.Logger}, eng: eng, bytes: newBudget(budgetBytes)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := &fakeSession{ctx: ctx}
	claim := &fakeClaim{msgs: make(chan *sarama.ConsumerMessage, records)}
	for off := range int64(records) {
		claim.msgs <- &sarama.ConsumerMessage{Topic: "t", Offset: off, Value: make([]byte, recordSize)}
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = g.ConsumeClaim(sess, claim) }()

	deadline := time.Now().Add(10 * time.Second)
	for g.bytes.held() < budgetBytes-budgetBytes/4 { // filling up, a batch at a time
		if time.Now().After(deadline) {
			t.Fatalf("claim handed over %d bytes, want it to fill the %d-byte budget", g.bytes.held(), budgetBytes)
		}
		time.Sleep(time.Millisecond) // polling a condition, not standing in for one
	}
	if held, waiting := g.bytes.held(), len(claim.msgs); held > budgetBytes || waiting == 0 {
		t.Fatalf("%d bytes handed over (budget %d) with %d records left in the channel", held, budgetBytes, waiting)
	}
	close(release)
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatalf("handled %d of %d records", handled.Load(), records)
	}
	close(claim.msgs) // the claim ends
	<-done
	if held := g.bytes.held(); held != 0 {
		t.Errorf("%d bytes still held after every record was handled", held)
	}
}
