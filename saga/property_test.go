package saga_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/courier-go/courier/saga"
)

// schedule says how each step of a saga behaves: its action fails its first actionFails
// calls (or at once for good when permanent), its compensation fails its first undoFails.
type schedule struct {
	actionFails []int
	permanent   []bool
	undoFails   []int
	restartAt   time.Duration // the orchestrator is replaced after this much (fake) time
}

const maxTries = 3

func drawSchedule(t *rapid.T) schedule {
	n := rapid.IntRange(1, 4).Draw(t, "steps")
	var s schedule
	for i := range n {
		s.actionFails = append(s.actionFails, rapid.IntRange(0, maxTries).Draw(t, fmt.Sprintf("actionFails%d", i)))
		s.permanent = append(s.permanent, rapid.IntRange(0, 9).Draw(t, fmt.Sprintf("permanent%d", i)) == 0)
		s.undoFails = append(s.undoFails, rapid.IntRange(0, 2*maxTries+1).Draw(t, fmt.Sprintf("undoFails%d", i)))
	}
	s.restartAt = time.Duration(rapid.IntRange(0, 20).Draw(t, "restartAt")) * 500 * time.Millisecond
	return s
}

// failedStep is the step the saga fails at under s, or -1 when it completes.
func (s schedule) failedStep() int {
	for i := range s.actionFails {
		if s.permanent[i] || s.actionFails[i] >= maxTries {
			return i
		}
	}
	return -1
}

// TestRandomFailureSchedules checks, for random failure schedules and a restart at a random
// moment, that a saga completes with every effect once when no step fails for good, and
// otherwise compensates the failed step and every step before it, last first, parking while
// a compensation keeps failing and finishing after Resolve.
func TestRandomFailureSchedules(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		sched := drawSchedule(rt)
		var err error
		synctest.Test(t, func(*testing.T) { err = runSchedule(sched) })
		if err != nil {
			t.Logf("schedule %+v: %v", sched, err)
			rt.Fatal(err)
		}
	})
}

// runSchedule runs one saga under sched, in a synctest bubble, and says what went wrong.
func runSchedule(sched schedule) error {
	var mu sync.Mutex
	calls := map[int]int{}
	resolved := map[int]int{} // step -> Resolve calls while it was parked: each gives maxTries more attempts
	resolves := 0
	l := newLedger()
	var steps []saga.Step
	for i := range sched.actionFails {
		retry := saga.RetryPolicy{MaxAttempts: maxTries, Backoff: fastRetry.Backoff}
		steps = append(steps, saga.Step{Name: fmt.Sprintf("s%d", i), Retry: retry, CompensateRetry: retry,
			Action: func(_ context.Context, x *saga.Exec) error {
				mu.Lock()
				defer mu.Unlock()
				calls[i]++
				switch {
				case sched.permanent[i]:
					return saga.Permanent(errors.New("refused"))
				case x.Attempt <= sched.actionFails[i]: // by attempt: a run cut short by a restart runs again
					return errors.New("flaky")
				}
				l.do(x.Key)
				return nil
			},
			Compensate: func(_ context.Context, x *saga.Exec) error {
				mu.Lock()
				defer mu.Unlock()
				if resolved[i]*maxTries+x.Attempt <= sched.undoFails[i] {
					return errors.New("undo flaky")
				}
				l.undo(x.Key)
				return nil
			}})
	}
	def := saga.Definition{Name: "d", Steps: steps}
	store, rec := saga.NewMemoryStore(), newRecorder()
	cfg := saga.Config{Store: store, Definitions: []saga.Definition{def}, Workers: 2, OnTransition: rec.record}
	o, err := saga.New(cfg)
	if err != nil {
		return err
	}
	if _, err := o.Start(context.Background(), "d", "s", nil); err != nil {
		return err
	}
	time.Sleep(sched.restartAt) // fake time: the restart lands at a random point of the schedule
	o.Close()
	if o, err = saga.New(cfg); err != nil {
		return err
	}
	defer o.Close()
	var inst saga.Instance
	for {
		select {
		case inst = <-rec.ended:
		case <-time.After(time.Hour):
			return fmt.Errorf("saga did not end: %v", rec.of("s"))
		}
		if inst.State != saga.Parked {
			break
		}
		mu.Lock()
		resolves++
		resolved[inst.Step]++
		mu.Unlock()
		if _, err := o.Resolve(context.Background(), "s", saga.RetryCompensation); err != nil {
			return err
		}
	}
	synctest.Wait()
	mu.Lock()
	defer mu.Unlock()
	failed := sched.failedStep()
	if failed < 0 {
		if inst.State != saga.Completed {
			return fmt.Errorf("ended %s (%q), want completed; transitions %v", inst.State, inst.Error, rec.of("s"))
		}
		for i := range steps {
			if k := saga.IdempotencyKey("s", steps[i].Name); !l.applied[k] || l.calls[k] != 1 {
				return fmt.Errorf("step %d effect applied=%v calls=%d, want once", i, l.applied[k], l.calls[k])
			}
		}
		if len(l.undone) != 0 {
			return fmt.Errorf("completed saga ran compensations %v", l.undone)
		}
		return nil
	}
	if inst.State != saga.Compensated {
		return fmt.Errorf("ended %s (%q), want compensated; transitions %v", inst.State, inst.Error, rec.of("s"))
	}
	if len(l.applied) != 0 {
		return fmt.Errorf("effects left after compensation: %v", l.applied)
	}
	var wantUndo []string
	wantResolves := 0
	for j := failed; j >= 0; j-- {
		wantUndo = append(wantUndo, saga.IdempotencyKey("s", steps[j].Name))
		wantResolves += sched.undoFails[j] / maxTries
	}
	if !slices.Equal(l.undone, wantUndo) {
		return fmt.Errorf("compensations %v, want %v", l.undone, wantUndo)
	}
	if resolves != wantResolves { // mu is held
		return fmt.Errorf("parked %d times, want %d", resolves, wantResolves)
	}
	for i := failed + 1; i < len(steps); i++ {
		if calls[i] != 0 {
			return fmt.Errorf("step %d after the failed step %d ran", i, failed)
		}
	}
	name := steps[failed].Name
	tried := countPrefix(rec.of("s"), "retry-scheduled "+name+"#") + countPrefix(rec.of("s"), "step-failed "+name+"#")
	// A run cut short by the restart is not an attempt: the attempt runs again.
	if want := map[bool]int{true: 1, false: maxTries}[sched.permanent[failed]]; tried != want || calls[failed] > want+1 {
		return fmt.Errorf("failed step: %d attempts recorded in %d runs, want %d", tried, calls[failed], want)
	}
	return nil
}
