package sagatest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier/saga"
)

// testLeasesExclusive runs sagas whose steps take a while through three orchestrators that
// claim several sagas at once, with a short lease: the later sagas of a batch wait while the
// first ones run, so their leases must be renewed before their steps start, and no saga may
// ever run a step in two places at once.
func testLeasesExclusive(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	var mu sync.Mutex
	running := map[string]string{} // saga ID -> key of the step running
	ran := map[string]int{}
	var overlaps []string
	step := func(name string) saga.Step {
		return saga.Step{Name: name, Timeout: time.Second, Action: func(ctx context.Context, x *saga.Exec) error {
			mu.Lock()
			if other, busy := running[x.SagaID]; busy {
				overlaps = append(overlaps, x.Key+" started while "+other+" runs")
			}
			running[x.SagaID] = x.Key
			ran[x.Key]++
			mu.Unlock()
			select {
			case <-time.After(150 * time.Millisecond): // the step's work: 8 sagas of 2 steps outlast a lease
			case <-ctx.Done():
			}
			mu.Lock()
			delete(running, x.SagaID)
			mu.Unlock()
			return ctx.Err()
		}}
	}
	const n = 12
	ended := make(chan saga.Instance, n)
	cfg := saga.Config{Store: s, Definitions: []saga.Definition{{Name: "order", Steps: []saga.Step{step("a"), step("b")}}},
		Workers: 2, ClaimBatch: 8, Lease: 2 * time.Second, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		OnTransition: func(tr saga.Transition) {
			if tr.Instance.State.Final() {
				ended <- tr.Instance
			}
		}}
	now := time.Now()
	for i := range n { // created directly, so that the orchestrators claim them in batches
		inst := newInstance(fmt.Sprintf("x%02d", i))
		inst.WakeAt, inst.CreatedAt, inst.UpdatedAt = now, now, now
		mustCreate(t, s, inst)
	}
	for range 3 {
		o, err := saga.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
	}
	for range n {
		select {
		case inst := <-ended:
			if inst.State != saga.Completed {
				t.Errorf("%s ended %s (%q)", inst.ID, inst.State, inst.Error)
			}
		case <-ctx.Done():
			t.Fatal("sagas did not finish in time")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Errorf("steps of one saga ran at once: %v", overlaps)
	}
	if len(ran) != 2*n {
		t.Errorf("%d steps ran, want %d", len(ran), 2*n)
	}
}
