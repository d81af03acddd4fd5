package integration

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/batch"
)

// perfEnv opts in to the throughput comparison, which only means something on a machine that
// is not busy with other work: on 2 shared vCPUs at a load of 11 the ratio fell from 13x to
// under 4x, as the batched side is CPU-bound and the unbatched side latency-bound.
const perfEnv = "COURIER_PERF_TESTS"

// TestBatchingSpeedup checks the bar on the real brokers: from many concurrent
// senders, a batch.Producer sends at least 5 times as many messages per second as the
// broker's own Send. BenchmarkSend gives the figures. Run it on a quiet machine with
//
//	COURIER_PERF_TESTS=1 COURIER_REDIS_URL=redis://127.0.0.1:6379/0 go test -run Speedup -v ./integration/
func TestBatchingSpeedup(t *testing.T) {
	if os.Getenv(perfEnv) != "1" {
		t.Skipf("throughput comparison runs only with %s=1, on a quiet machine", perfEnv)
	}
	if raceEnabled {
		t.Skip("the race detector slows batched and unbatched sends unequally; run without -race")
	}
	for _, tg := range targets {
		if tg.name == "memory" {
			continue // an in-process Send costs a microsecond: nothing for batching to save
		}
		t.Run(tg.name, func(t *testing.T) {
			b := tg.open(t)
			topic := name("speed")
			const senders, perSender = 128, 150
			rate := func(p courier.Producer) float64 {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				// Warm up: connections are dialled on first use.
				if err := p.Send(ctx, courier.Message{Topic: topic}); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				var wg sync.WaitGroup
				for range senders {
					wg.Go(func() {
						for range perSender {
							if err := p.Send(ctx, courier.Message{Topic: topic, Value: make([]byte, 100)}); err != nil {
								t.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return senders * perSender / time.Since(start).Seconds()
			}
			plain := rate(newProducer(t, b))
			bp, err := batch.New(newProducer(t, b), batch.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer bp.Close()
			batched := rate(bp)
			t.Logf("%s: unbatched %.0f msgs/s, batched %.0f msgs/s (x%.1f)", tg.name, plain, batched, batched/plain)
			if batched < 5*plain {
				t.Fatalf("batched %.0f msgs/s is less than 5x unbatched %.0f msgs/s", batched, plain)
			}
		})
	}
}
