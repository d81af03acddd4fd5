package stream

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// BenchmarkStatelessVsPlain compares a Filter+Map pipeline with a plain courier handler doing
// the same work (parse, filter, transform) on memory://. Each op is one message; the two sides
// alternate (taking turns to go first) in 5 rounds of b.N messages each, so that load on the machine hits both alike, and
// it reports each side's median ns/msg and the median of the rounds' pipeline/plain ratio:
//
//	go test -run '^$' -bench StatelessVsPlain -benchtime 100000x -count 3 ./stream
func BenchmarkStatelessVsPlain(b *testing.B) {
	const rounds = 5
	work := func(v []byte) (int, bool) {
		n, err := strconv.Atoi(string(v))
		return n * 2, err == nil && n%3 != 0
	}
	plain := func(seen *atomic.Int64, sum *atomic.Int64) courier.MessageHandler {
		return courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			if v, ok := work(m.Value); ok {
				sum.Add(int64(v))
			}
			seen.Add(1)
			return nil
		})
	}
	pipeline := func(seen *atomic.Int64, sum *atomic.Int64) courier.MessageHandler {
		p := New(Config{Name: "bench"})
		src := From(p, Bytes)
		type parsed struct {
			v  int
			ok bool
		}
		kept := Filter(Map(src, func(b []byte) (parsed, error) { v, ok := work(b); return parsed{v, ok}, nil }),
			func(x parsed) bool { return x.ok })
		Foreach(kept, func(_ context.Context, r Record[parsed]) error { sum.Add(int64(r.Value.v)); return nil })
		Foreach(src, func(context.Context, Record[[]byte]) error { seen.Add(1); return nil })
		if err := p.Validate(); err != nil {
			b.Fatal(err)
		}
		return p
	}
	var plainNs, pipeNs, ratios []float64
	for round := range rounds {
		var sums [2]atomic.Int64
		var a, p time.Duration
		runPlain := func() {
			a = benchConsume(b, b.N, func(seen *atomic.Int64) courier.MessageHandler { return plain(seen, &sums[0]) })
		}
		runPipeline := func() {
			p = benchConsume(b, b.N, func(seen *atomic.Int64) courier.MessageHandler { return pipeline(seen, &sums[1]) })
		}
		if round%2 == 0 { // neither side always goes first
			runPlain()
			runPipeline()
		} else {
			runPipeline()
			runPlain()
		}
		if sums[0].Load() != sums[1].Load() {
			b.Fatalf("plain summed %d, pipeline %d", sums[0].Load(), sums[1].Load())
		}
		plainNs = append(plainNs, float64(a.Nanoseconds())/float64(b.N))
		pipeNs = append(pipeNs, float64(p.Nanoseconds())/float64(b.N))
		ratios = append(ratios, float64(p)/float64(a))
	}
	b.ReportMetric(median(plainNs), "plain-ns/msg")
	b.ReportMetric(median(pipeNs), "pipeline-ns/msg")
	b.ReportMetric(median(ratios), "pipeline/plain")
	b.ReportMetric(0, "ns/op") // the rounds' figures above are the result
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchConsume sends n messages (64 keys) to a fresh memory:// topic and returns how long one
// consumer (Concurrency 4) takes to handle all of them with the handler newHandler makes,
// which counts them in seen.
func benchConsume(b *testing.B, n int, newHandler func(seen *atomic.Int64) courier.MessageHandler) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	br := newBroker(b)
	prod := newProducer(b, br)
	ctx := context.Background()
	c, err := br.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"in"}, Concurrency: 4})
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]courier.Message, 0, 1000)
	for i := range n {
		msgs = append(msgs, courier.Message{Topic: "in", Key: strconv.Itoa(i % 64), Value: []byte(strconv.Itoa(i))})
		if len(msgs) == cap(msgs) || i == n-1 {
			sendAll(b, prod, msgs)
			msgs = msgs[:0]
		}
	}
	var seen atomic.Int64
	var closed atomic.Bool
	all := make(chan struct{})
	h := newHandler(&seen)
	counted := courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		err := h.HandleMessage(ctx, m)
		if err == nil && seen.Load() == int64(n) && closed.CompareAndSwap(false, true) {
			close(all)
		}
		return err
	})
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, counted) }()
	select {
	case <-all:
	case err := <-done:
		b.Fatalf("Consume ended early: %v", err)
	}
	elapsed := time.Since(start)
	_ = c.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	_ = br.Close()
	return elapsed
}

// BenchmarkHandleMessage is the pipeline's own cost per message, without a broker (Map,
// Filter and a Foreach), beside a plain handler doing the same.
func BenchmarkHandleMessage(b *testing.B) {
	msg := courier.Message{ID: "m", Topic: "in", Key: "k", Value: []byte("12345")}
	ctx := context.Background()
	var sum int
	bench := func(b *testing.B, h courier.MessageHandler) {
		b.ReportAllocs()
		for b.Loop() {
			if err := h.HandleMessage(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) {
		bench(b, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			if n, err := strconv.Atoi(string(m.Value)); err == nil && n%3 != 0 {
				sum += n
			}
			return nil
		}))
	})
	b.Run("pipeline", func(b *testing.B) {
		p := New(Config{Name: "bench"})
		nums := Map(From(p, Bytes), func(v []byte) (int, error) { return strconv.Atoi(string(v)) })
		Foreach(Filter(nums, func(n int) bool { return n%3 != 0 }), func(_ context.Context, r Record[int]) error { sum += r.Value; return nil })
		bench(b, p)
	})
}
