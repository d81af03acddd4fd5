package sagatest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier/saga"
)

// Benchmark runs b.N sagas on s with Throughput and reports their step transitions per
// second ("transitions/s") and the store writes per second, starts included ("writes/s").
func Benchmark(b *testing.B, s saga.Store, workers int) {
	b.ResetTimer()
	r, err := Throughput(context.Background(), s, workers, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.TransitionsPerSecond(), "transitions/s")
	b.ReportMetric(r.WritesPerSecond(), "writes/s")
	b.ReportMetric(0, "ns/op")
}

// Result is what Throughput measured.
type Result struct {
	Sagas       int           // sagas started and completed
	Transitions int           // step transitions saved: three per saga
	Elapsed     time.Duration // from the first Start to the last completion
}

// TransitionsPerSecond is the rate of step transitions.
func (r Result) TransitionsPerSecond() float64 { return float64(r.Transitions) / r.Elapsed.Seconds() }

// WritesPerSecond is the rate of the writes that change sagas: transitions and starts.
func (r Result) WritesPerSecond() float64 {
	return float64(r.Transitions+r.Sagas) / r.Elapsed.Seconds()
}

// Throughput runs n sagas of three steps with trivial actions on s, with an orchestrator of
// the given number of workers (and a third as many goroutines starting the sagas), and
// says how long they took. Each step is one transition, a compare-and-set Save; each saga
// also costs its Create (which hands it to a local worker, or else a worker claims it later,
// another write), not counted as a transition.
func Throughput(ctx context.Context, s saga.Store, workers, n int) (Result, error) {
	ok := func(context.Context, *saga.Exec) error { return nil }
	def := saga.Definition{Name: "order", Steps: []saga.Step{{Name: "reserve", Action: ok}, {Name: "pay", Action: ok}, {Name: "ship", Action: ok}}}
	var done, transitions atomic.Int64
	finished := make(chan struct{})
	o, err := saga.New(saga.Config{Store: s, Definitions: []saga.Definition{def}, Workers: workers,
		Logger: slog.New(slog.DiscardHandler),
		OnTransition: func(tr saga.Transition) {
			if tr.Event == saga.EventStepDone || tr.Event == saga.EventCompleted {
				transitions.Add(1)
			}
			if tr.Event == saga.EventCompleted && done.Add(1) == int64(n) {
				close(finished)
			}
		}})
	if err != nil {
		return Result{}, err
	}
	defer o.Close()
	run := fmt.Sprint(time.Now().UnixNano())
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	starters := max(1, workers/3) // a Start is one write against the three of a saga's steps
	errs := make([]error, starters)
	for w := range starters {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := o.Start(ctx, "order", fmt.Sprintf("%s-%d", run, i), nil); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	select {
	case <-finished:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%d of %d sagas completed: %w", done.Load(), n, ctx.Err())
	}
	return Result{Sagas: n, Transitions: int(transitions.Load()), Elapsed: time.Since(start)}, nil
}
