// Package sagatest is the acceptance suite of saga stores: every saga.Store implementation
// runs Run and RunCrash and must pass them. Run checks the store's own contract (create,
// compare-and-set saves, claims with leases and due timers, listing by state) and then runs
// orchestrators on the store: sagas that complete and that compensate, several orchestrators
// sharing the load with leases that keep each saga in one worker at a time, concurrent
// replies making one transition. RunCrash kills orchestrators on the store with SIGKILL at
// every step and checks what their sagas come to. Benchmark and Throughput measure
// transitions per second.
package sagatest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier/saga"
)

// NewStore returns an empty store for one test, cleaned up by the test's end.
type NewStore func(t *testing.T) saga.Store

// Run runs the suite on stores from newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, newStore(t)) })
	t.Run("SaveCompareAndSet", func(t *testing.T) { testSave(t, newStore(t)) })
	t.Run("ConcurrentSavesOneWins", func(t *testing.T) { testConcurrentSaves(t, newStore(t)) })
	t.Run("ClaimDue", func(t *testing.T) { testClaimDue(t, newStore(t)) })
	t.Run("ClaimLeaseExpiry", func(t *testing.T) { testClaimLease(t, newStore(t)) })
	t.Run("ClaimByDefinition", func(t *testing.T) { testClaimByDefinition(t, newStore(t)) })
	t.Run("ConcurrentClaimsDisjoint", func(t *testing.T) { testConcurrentClaims(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, newStore(t)) })
	t.Run("OrchestratorCompletesAndCompensates", func(t *testing.T) { testOrchestrator(t, newStore(t)) })
	t.Run("ConcurrentRepliesOneTransition", func(t *testing.T) { testConcurrentReplies(t, newStore(t)) })
	t.Run("LeasesKeepSagasExclusive", func(t *testing.T) { testLeasesExclusive(t, newStore(t)) })
	t.Run("ConcurrentStartsOneSaga", func(t *testing.T) { testConcurrentStarts(t, newStore(t)) })
}

// base is a fixed, microsecond-precise time for the store tests.
var base = time.Date(2026, 11, 29, 12, 0, 0, 123456000, time.UTC)

func newInstance(id string) saga.Instance {
	return saga.Instance{ID: id, Definition: "order", State: saga.Running, Attempt: 1,
		Data: []byte(`{"order":"` + id + `"}`), WakeAt: base, CreatedAt: base, UpdatedAt: base}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// equal compares instances field by field, times with Equal.
func equal(a, b saga.Instance) bool {
	return a.ID == b.ID && a.Definition == b.Definition && a.State == b.State && a.Version == b.Version &&
		a.Step == b.Step && a.Attempt == b.Attempt && a.Awaiting == b.Awaiting && string(a.Data) == string(b.Data) &&
		a.Error == b.Error && a.WakeAt.Equal(b.WakeAt) && a.LeaseOwner == b.LeaseOwner &&
		a.LeaseUntil.Equal(b.LeaseUntil) && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func mustCreate(t *testing.T, s saga.Store, inst saga.Instance) saga.Instance {
	t.Helper()
	got, err := s.Create(ctxFor(t), inst)
	if err != nil {
		t.Fatalf("Create(%q): %v", inst.ID, err)
	}
	return got
}

func testCreateGet(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	in := newInstance("s1")
	in.Step, in.Awaiting, in.Error = 2, true, "boom"
	created := mustCreate(t, s, in)
	want := in
	want.Version = 1
	if !equal(created, want) {
		t.Fatalf("Create returned %+v, want %+v", created, want)
	}
	got, err := s.Get(ctx, "s1")
	if err != nil || !equal(got, want) {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
	}
	again := newInstance("s1")
	again.Definition, again.Data = "other", []byte("x")
	got, err = s.Create(ctx, again)
	if !errors.Is(err, saga.ErrExists) || !equal(got, want) {
		t.Fatalf("second Create = %+v, %v; want the stored instance and ErrExists", got, err)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, saga.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
	empty := newInstance("s-empty")
	empty.Data = nil
	empty.WakeAt = time.Time{}
	empty.State = saga.Completed
	mustCreate(t, s, empty)
	got, err = s.Get(ctx, "s-empty")
	if err != nil || len(got.Data) != 0 || !got.WakeAt.IsZero() || got.State != saga.Completed {
		t.Fatalf("Get(s-empty) = %+v, %v: want no data, zero WakeAt, completed", got, err)
	}
}

func testSave(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	v1 := mustCreate(t, s, newInstance("s1"))
	next := v1
	next.Step, next.Attempt, next.Data, next.UpdatedAt = 1, 2, []byte("changed"), base.Add(time.Second)
	next.WakeAt = base.Add(time.Minute)
	v2, err := s.Save(ctx, next)
	if err != nil {
		t.Fatalf("Save at version 1: %v", err)
	}
	want := next
	want.Version = 2
	if !equal(v2, want) {
		t.Fatalf("Save returned %+v, want %+v", v2, want)
	}
	if got, _ := s.Get(ctx, "s1"); !equal(got, want) {
		t.Fatalf("Get after Save = %+v, want %+v", got, want)
	}
	if _, err := s.Save(ctx, next); !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("Save at stale version 1: error %v, want ErrConflict", err)
	}
	stale := v2
	stale.Version = 7
	if _, err := s.Save(ctx, stale); !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("Save at future version 7: error %v, want ErrConflict", err)
	}
	missing := newInstance("missing")
	missing.Version = 1
	if _, err := s.Save(ctx, missing); !errors.Is(err, saga.ErrNotFound) && !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("Save of a missing instance: error %v, want ErrNotFound or ErrConflict", err)
	}
	redefined := v2
	redefined.Definition = "refund"
	if _, err := s.Save(ctx, redefined); err == nil {
		t.Fatal("Save changing the definition succeeded")
	}
	if got, _ := s.Get(ctx, "s1"); got.Version != 2 || got.Definition != "order" {
		t.Fatalf("failed saves changed the instance: version %d, definition %q", got.Version, got.Definition)
	}
}

func testConcurrentSaves(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	v1 := mustCreate(t, s, newInstance("s1"))
	const n = 16
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			next := v1
			next.Attempt = 10 + i
			_, err := s.Save(ctx, next)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, saga.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("Save: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != n-1 {
		t.Fatalf("%d concurrent saves at one version: %d won, %d conflicts; want 1 and %d", n, wins.Load(), conflicts.Load(), n-1)
	}
	if got, _ := s.Get(ctx, "s1"); got.Version != 2 {
		t.Fatalf("version after the race = %d, want 2", got.Version)
	}
}

func ids(insts []saga.Instance) []string {
	var out []string
	for _, i := range insts {
		out = append(out, i.ID)
	}
	return out
}

// claim claims instances of the "order" definition, which the store tests use.
func claim(ctx context.Context, s saga.Store, owner string, now time.Time, lease time.Duration, limit int) ([]saga.Instance, error) {
	return s.Claim(ctx, saga.ClaimRequest{Owner: owner, Now: now, Lease: lease, Limit: limit, Definitions: []string{"order"}})
}

func testClaimDue(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	mk := func(id string, state saga.State, wake time.Time) {
		inst := newInstance(id)
		inst.State, inst.WakeAt = state, wake
		mustCreate(t, s, inst)
	}
	mk("due-late", saga.Running, base.Add(2*time.Second))
	mk("due-early", saga.Compensating, base.Add(time.Second))
	mk("future", saga.Running, base.Add(time.Hour))
	mk("completed", saga.Completed, base)
	mk("compensated", saga.Compensated, base)
	mk("parked", saga.Parked, base)
	mk("no-timer", saga.Running, time.Time{})
	now := base.Add(3 * time.Second)

	got, err := claim(ctx, s, "w1", now, time.Minute, 1)
	if err != nil || !slices.Equal(ids(got), []string{"due-early"}) {
		t.Fatalf("Claim(limit 1) = %v, %v; want [due-early] (earliest WakeAt first)", ids(got), err)
	}
	c := got[0]
	if c.LeaseOwner != "w1" || !c.LeaseUntil.Equal(now.Add(time.Minute)) || c.Version != 2 {
		t.Fatalf("claimed instance: owner %q until %v version %d; want w1, %v, 2", c.LeaseOwner, c.LeaseUntil, c.Version, now.Add(time.Minute))
	}
	got, err = claim(ctx, s, "w2", now, time.Minute, 10)
	if err != nil || !slices.Equal(ids(got), []string{"due-late"}) {
		t.Fatalf("second Claim = %v, %v; want only [due-late]", ids(got), err)
	}
	got, err = claim(ctx, s, "w3", now, time.Minute, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("third Claim = %v, %v; want nothing (leased, future, final, parked, no timer)", ids(got), err)
	}
	// The holder releases the lease with a future timer: claimable only once it is due.
	rel := c
	rel.LeaseOwner, rel.LeaseUntil, rel.WakeAt = "", time.Time{}, now.Add(10*time.Second)
	if _, err := s.Save(ctx, rel); err != nil {
		t.Fatalf("Save releasing the lease: %v", err)
	}
	if got, _ := claim(ctx, s, "w3", now.Add(9*time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatalf("Claim before the timer = %v, want nothing", ids(got))
	}
	got, err = claim(ctx, s, "w3", now.Add(10*time.Second), time.Minute, 10)
	if err != nil || !slices.Equal(ids(got), []string{"due-early"}) {
		t.Fatalf("Claim at the timer = %v, %v; want [due-early]", ids(got), err)
	}
	// A save by the lease holder after it was claimed by no one else keeps working (version fence).
	if _, err := s.Save(ctx, c); !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("Save with the version from before a later claim: %v, want ErrConflict", err)
	}
}

func testClaimLease(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	mustCreate(t, s, newInstance("s1"))
	got, err := claim(ctx, s, "w1", base, 10*time.Second, 5)
	if err != nil || len(got) != 1 {
		t.Fatalf("Claim = %v, %v; want s1", ids(got), err)
	}
	if again, _ := claim(ctx, s, "w2", base.Add(9*time.Second), 10*time.Second, 5); len(again) != 0 {
		t.Fatalf("Claim while leased = %v, want nothing", ids(again))
	}
	again, err := claim(ctx, s, "w2", base.Add(10*time.Second), 10*time.Second, 5)
	if err != nil || len(again) != 1 || again[0].LeaseOwner != "w2" || again[0].Version != got[0].Version+1 {
		t.Fatalf("Claim after the lease ended = %+v, %v; want s1 leased to w2 at version %d", again, err, got[0].Version+1)
	}
	if _, err := s.Save(ctx, got[0]); !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("Save by the old holder after takeover: %v, want ErrConflict", err)
	}
	// The holder keeps the lease while it saves (renewal), and nobody else gets it.
	keep := again[0]
	keep.Step, keep.LeaseUntil = 1, base.Add(30*time.Second)
	if _, err := s.Save(ctx, keep); err != nil {
		t.Fatalf("Save renewing the lease: %v", err)
	}
	if other, _ := claim(ctx, s, "w3", base.Add(25*time.Second), time.Second, 5); len(other) != 0 {
		t.Fatalf("Claim during the renewed lease = %v, want nothing", ids(other))
	}
	if other, _ := claim(ctx, s, "w3", base.Add(30*time.Second), time.Second, 5); len(other) != 1 {
		t.Fatalf("Claim after the renewed lease = %v, want s1", ids(other))
	}
	// An instance created with a lease (Start handing it to a local worker) is held the same way.
	leased := newInstance("s2")
	leased.LeaseOwner, leased.LeaseUntil = "starter", base.Add(time.Minute)
	if got := mustCreate(t, s, leased); got.LeaseOwner != "starter" || !got.LeaseUntil.Equal(leased.LeaseUntil) {
		t.Fatalf("Create with a lease returned owner %q until %v", got.LeaseOwner, got.LeaseUntil)
	}
	if other, _ := claim(ctx, s, "w4", base.Add(59*time.Second), time.Second, 5); slices.Contains(ids(other), "s2") {
		t.Fatalf("Claim during a lease given at Create = %v, want no s2", ids(other))
	}
	if other, _ := claim(ctx, s, "w4", base.Add(time.Minute), time.Second, 5); !slices.Contains(ids(other), "s2") {
		t.Fatalf("Claim after a lease given at Create = %v, want s2", ids(other))
	}
}

// testClaimByDefinition: a claimer gets only instances of the definitions it names, earliest
// first across them.
func testClaimByDefinition(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	for i, def := range []string{"order", "refund", "audit", "order", "refund"} {
		inst := newInstance(fmt.Sprintf("s%d", i))
		inst.Definition, inst.WakeAt = def, base.Add(time.Duration(5-i)*time.Second)
		mustCreate(t, s, inst)
	}
	now := base.Add(time.Minute)
	got, err := s.Claim(ctx, saga.ClaimRequest{Owner: "w", Now: now, Lease: time.Minute, Limit: 3, Definitions: []string{"order", "refund"}})
	if err != nil || !slices.Equal(ids(got), []string{"s4", "s3", "s1"}) {
		t.Fatalf("Claim(order, refund; limit 3) = %v, %v; want [s4 s3 s1] (earliest first, no audit)", ids(got), err)
	}
	got, err = s.Claim(ctx, saga.ClaimRequest{Owner: "w", Now: now, Lease: time.Minute, Limit: 5, Definitions: []string{"order", "refund"}})
	if err != nil || !slices.Equal(ids(got), []string{"s0"}) {
		t.Fatalf("second Claim(order, refund) = %v, %v; want [s0]", ids(got), err)
	}
	got, err = s.Claim(ctx, saga.ClaimRequest{Owner: "w", Now: now, Lease: time.Minute, Limit: 5, Definitions: []string{"audit", "unknown"}})
	if err != nil || !slices.Equal(ids(got), []string{"s2"}) {
		t.Fatalf("Claim(audit, unknown) = %v, %v; want [s2]", ids(got), err)
	}
}

func testConcurrentClaims(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	const n = 60
	for i := range n {
		inst := newInstance(fmt.Sprintf("s%03d", i))
		inst.WakeAt = base.Add(time.Duration(i) * time.Millisecond)
		mustCreate(t, s, inst)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			owner := fmt.Sprintf("w%d", w)
			for {
				got, err := claim(ctx, s, owner, base.Add(time.Second), time.Minute, 3)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, inst := range got {
					if prev, dup := seen[inst.ID]; dup {
						t.Errorf("%s claimed by %s and %s", inst.ID, prev, owner)
					}
					seen[inst.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d of %d instances claimed", len(seen), n)
	}
}

func testList(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	for i, st := range []saga.State{saga.Running, saga.Completed, saga.Parked, saga.Completed, saga.Compensated} {
		inst := newInstance(fmt.Sprintf("s%d", i))
		inst.State = st
		if i == 3 {
			inst.Definition = "refund"
		}
		mustCreate(t, s, inst)
	}
	cases := []struct {
		q    saga.Query
		want []string
	}{
		{saga.Query{}, []string{"s0", "s1", "s2", "s3", "s4"}},
		{saga.Query{State: saga.Completed}, []string{"s1", "s3"}},
		{saga.Query{State: saga.Parked}, []string{"s2"}},
		{saga.Query{State: saga.Completed, Definition: "order"}, []string{"s1"}},
		{saga.Query{Limit: 2}, []string{"s0", "s1"}},
		{saga.Query{AfterID: "s1", Limit: 2}, []string{"s2", "s3"}},
		{saga.Query{State: saga.Compensating}, nil},
	}
	for _, c := range cases {
		got, err := s.List(ctx, c.q)
		if err != nil || !slices.Equal(ids(got), c.want) {
			t.Errorf("List(%+v) = %v, %v; want %v", c.q, ids(got), err, c.want)
		}
	}
	got, _ := s.List(ctx, saga.Query{State: saga.Parked})
	if len(got) == 1 && string(got[0].Data) != `{"order":"s2"}` {
		t.Errorf("List returned data %q", got[0].Data)
	}
}

func testBadInput(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	bad := newInstance("")
	if _, err := s.Create(ctx, bad); err == nil {
		t.Error("Create with an empty ID succeeded")
	}
	bad = newInstance("x")
	bad.State = "sleeping"
	if _, err := s.Create(ctx, bad); err == nil {
		t.Error("Create with an unknown state succeeded")
	}
	if _, err := claim(ctx, s, "", base, time.Second, 1); err == nil {
		t.Error("Claim with an empty owner succeeded")
	}
	if _, err := claim(ctx, s, "w", base, time.Second, 0); err == nil {
		t.Error("Claim with limit 0 succeeded")
	}
	if _, err := s.Claim(ctx, saga.ClaimRequest{Owner: "w", Now: base, Lease: time.Second, Limit: 1}); err == nil {
		t.Error("Claim without definitions succeeded")
	}
}

// testOrchestrator runs sagas through two orchestrators sharing the store.
func testOrchestrator(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	var mu sync.Mutex
	effects := map[string]int{} // idempotency key -> net effect
	step := func(name string, failFor string) saga.Step {
		return saga.Step{
			Name: name,
			Action: func(_ context.Context, x *saga.Exec) error {
				if x.SagaID == failFor {
					return saga.Permanent(errors.New("declined"))
				}
				mu.Lock()
				effects[x.Key]++
				mu.Unlock()
				return nil
			},
			Compensate: func(_ context.Context, x *saga.Exec) error {
				mu.Lock()
				if effects[x.Key] > 0 {
					effects[x.Key]--
				}
				mu.Unlock()
				return nil
			},
		}
	}
	def := saga.Definition{Name: "order", Steps: []saga.Step{step("reserve", ""), step("pay", ""), step("ship", "fails")}}
	var done sync.WaitGroup
	const n = 20
	done.Add(n + 1)
	cfg := saga.Config{Store: s, Definitions: []saga.Definition{def}, Workers: 2, PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		OnTransition: func(tr saga.Transition) {
			if tr.Instance.State.Final() {
				done.Done()
			}
		}}
	var orchestrators []*saga.Orchestrator
	for range 2 {
		o, err := saga.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		orchestrators = append(orchestrators, o)
	}
	defer func() {
		for _, o := range orchestrators {
			o.Close()
		}
	}()
	for i := range n {
		if _, err := orchestrators[i%2].Start(ctx, "order", fmt.Sprintf("ok-%02d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := orchestrators[0].Start(ctx, "order", "fails", nil); err != nil {
		t.Fatal(err)
	}
	waitDone := make(chan struct{})
	go func() { done.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-ctx.Done():
		t.Fatal("sagas did not finish in time")
	}
	completed, err := s.List(ctx, saga.Query{State: saga.Completed})
	if err != nil || len(completed) != n {
		t.Fatalf("completed sagas: %d, %v; want %d", len(completed), err, n)
	}
	failed, err := s.Get(ctx, "fails")
	if err != nil || failed.State != saga.Compensated {
		t.Fatalf("failing saga: %+v, %v; want compensated", failed, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		for _, st := range []string{"reserve", "pay", "ship"} {
			if k := saga.IdempotencyKey(fmt.Sprintf("ok-%02d", i), st); effects[k] != 1 {
				t.Errorf("effect %s applied %d times, want 1", k, effects[k])
			}
		}
	}
	for _, st := range []string{"reserve", "pay", "ship"} {
		if k := saga.IdempotencyKey("fails", st); effects[k] != 0 {
			t.Errorf("effect %s left at %d after compensation, want 0", k, effects[k])
		}
	}
}
