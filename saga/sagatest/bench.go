package sagatest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier/saga"
)

// Benchmark runs b.N sagas of three steps with trivial actions on s, with an orchestrator of
// the given number of workers (and as many goroutines starting the sagas), and reports the
// step transitions per second ("transitions/s": three per saga, each one compare-and-set
// Save). Each saga also costs its Create (which hands it to an idle worker, or else a worker
// claims it later), not counted as a transition.
func Benchmark(b *testing.B, s saga.Store, workers int) {
	ok := func(context.Context, *saga.Exec) error { return nil }
	def := saga.Definition{Name: "order", Steps: []saga.Step{{Name: "reserve", Action: ok}, {Name: "pay", Action: ok}, {Name: "ship", Action: ok}}}
	var done, transitions atomic.Int64
	finished := make(chan struct{})
	n := int64(b.N)
	o, err := saga.New(saga.Config{Store: s, Definitions: []saga.Definition{def}, Workers: workers,
		PollInterval: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		OnTransition: func(tr saga.Transition) {
			if tr.Event == saga.EventStepDone || tr.Event == saga.EventCompleted {
				transitions.Add(1)
			}
			if tr.Event == saga.EventCompleted && done.Add(1) == n {
				close(finished)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				if _, err := o.Start(ctx, "order", fmt.Sprintf("%s-%d", run, i), nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-finished:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d sagas completed", done.Load(), n)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(transitions.Load())/elapsed.Seconds(), "transitions/s")
	b.ReportMetric(0, "ns/op")
}
