package saga_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/saga"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // tests that look at logs give their own logger
	goleak.VerifyTestMain(m)
}

// recorder keeps the transitions an orchestrator reports and signals final and parked sagas.
type recorder struct {
	mu     sync.Mutex
	events map[string][]string // saga ID -> "event step#attempt"
	ended  chan saga.Instance  // final or parked instances
}

func newRecorder() *recorder {
	return &recorder{events: map[string][]string{}, ended: make(chan saga.Instance, 1000)}
}

func (r *recorder) record(tr saga.Transition) {
	r.mu.Lock()
	e := string(tr.Event)
	if tr.Step != "" {
		e += fmt.Sprintf(" %s#%d", tr.Step, tr.Attempt)
	}
	r.events[tr.Instance.ID] = append(r.events[tr.Instance.ID], e)
	r.mu.Unlock()
	if tr.Instance.State.Final() || tr.Instance.State == saga.Parked {
		r.ended <- tr.Instance
	}
}

func (r *recorder) of(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[id])
}

// wait returns the next saga that ended, failing after a (fake or real) minute.
func (r *recorder) wait(t *testing.T) saga.Instance {
	t.Helper()
	select {
	case inst := <-r.ended:
		return inst
	case <-time.After(time.Minute):
		t.Fatal("no saga ended within a minute")
		return saga.Instance{}
	}
}

func newOrchestrator(t *testing.T, s saga.Store, r *recorder, defs ...saga.Definition) *saga.Orchestrator {
	t.Helper()
	o, err := saga.New(saga.Config{Store: s, Definitions: defs, Workers: 2, OnTransition: r.record})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

var fastRetry = saga.RetryPolicy{MaxAttempts: 3, Backoff: courier.Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}}

func TestRetryWithBackoffThenSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		var mu sync.Mutex
		var keys []string
		var times []time.Time
		def := saga.Definition{Name: "d", Steps: []saga.Step{{Name: "flaky", Retry: fastRetry,
			Action: func(_ context.Context, x *saga.Exec) error {
				mu.Lock()
				defer mu.Unlock()
				keys = append(keys, x.Key)
				times = append(times, time.Now())
				if x.Attempt < 3 {
					return fmt.Errorf("busy (attempt %d)", x.Attempt)
				}
				x.Data = append(x.Data, '!')
				return nil
			}}}}
		o := newOrchestrator(t, saga.NewMemoryStore(), r, def)
		if _, err := o.Start(t.Context(), "d", "s1", []byte("hi")); err != nil {
			t.Fatal(err)
		}
		inst := r.wait(t)
		if inst.State != saga.Completed || string(inst.Data) != "hi!" {
			t.Fatalf("saga ended %s with data %q; want completed with hi!", inst.State, inst.Data)
		}
		if !slices.Equal(keys, []string{"s1/flaky", "s1/flaky", "s1/flaky"}) {
			t.Fatalf("idempotency keys per attempt = %v; want s1/flaky three times", keys)
		}
		if d1, d2 := times[1].Sub(times[0]), times[2].Sub(times[1]); d1 < time.Second || d2 < 2*time.Second {
			t.Fatalf("waits between attempts %v, %v; want the backoff's 1s and 2s", d1, d2)
		}
		want := []string{"started", "retry-scheduled flaky#1", "retry-scheduled flaky#2", "completed flaky#3"}
		if got := r.of("s1"); !slices.Equal(got, want) {
			t.Fatalf("transitions %v, want %v", got, want)
		}
	})
}

// ledger is a fake service that applies effects once per idempotency key and counts calls.
type ledger struct {
	mu      sync.Mutex
	applied map[string]bool
	calls   map[string]int
	undone  []string
}

func newLedger() *ledger { return &ledger{applied: map[string]bool{}, calls: map[string]int{}} }

func (l *ledger) do(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[key]++
	l.applied[key] = true
}

func (l *ledger) undo(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.undone = append(l.undone, key)
	delete(l.applied, key)
}

func (l *ledger) step(name string, fail func(x *saga.Exec) error) saga.Step {
	return saga.Step{Name: name, Retry: fastRetry,
		Action: func(_ context.Context, x *saga.Exec) error {
			if fail != nil {
				if err := fail(x); err != nil {
					return err
				}
			}
			l.do(x.Key)
			return nil
		},
		Compensate: func(_ context.Context, x *saga.Exec) error { l.undo(x.Key); return nil }}
}

func TestFailureCompensatesInReverseOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l := newRecorder(), newLedger()
		noUndo := l.step("notify", nil)
		noUndo.Compensate = nil
		declined := func(*saga.Exec) error { return saga.Permanent(errors.New("card declined")) }
		def := saga.Definition{Name: "order", Steps: []saga.Step{l.step("reserve", nil), noUndo, l.step("pay", declined), l.step("ship", nil)}}
		o := newOrchestrator(t, saga.NewMemoryStore(), r, def)
		if _, err := o.Start(t.Context(), "order", "o1", nil); err != nil {
			t.Fatal(err)
		}
		inst := r.wait(t)
		if inst.State != saga.Compensated || !strings.Contains(inst.Error, "card declined") {
			t.Fatalf("saga ended %s (error %q); want compensated with the failure recorded", inst.State, inst.Error)
		}
		if want := []string{"o1/pay", "o1/reserve"}; !slices.Equal(l.undone, want) {
			t.Fatalf("compensations ran for %v; want %v (failed step first, steps without compensation skipped)", l.undone, want)
		}
		if l.calls["o1/ship"] != 0 || l.calls["o1/pay"] != 0 {
			t.Fatalf("steps after the failure ran: %v", l.calls)
		}
		want := []string{"started", "step-done reserve#1", "step-done notify#1", "step-failed pay#1", "step-compensated pay#1", "compensated reserve#1"}
		if got := r.of("o1"); !slices.Equal(got, want) {
			t.Fatalf("transitions %v, want %v", got, want)
		}
	})
}

func TestActionTimeoutAndPanicFailAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		def := saga.Definition{Name: "d", Steps: []saga.Step{{Name: "slow", Timeout: 5 * time.Second,
			Retry: saga.RetryPolicy{MaxAttempts: 2, Backoff: fastRetry.Backoff},
			Action: func(ctx context.Context, x *saga.Exec) error {
				if x.Attempt == 1 {
					<-ctx.Done()
					return ctx.Err()
				}
				panic("bug")
			}}}}
		o := newOrchestrator(t, saga.NewMemoryStore(), r, def)
		start := time.Now()
		if _, err := o.Start(t.Context(), "d", "s1", nil); err != nil {
			t.Fatal(err)
		}
		inst := r.wait(t)
		if inst.State != saga.Compensated || !strings.Contains(inst.Error, "panicked: bug") {
			t.Fatalf("saga ended %s (error %q); want compensated after a panic", inst.State, inst.Error)
		}
		if el := time.Since(start); el < 5*time.Second {
			t.Fatalf("ended after %v: the first attempt did not wait for its 5s timeout", el)
		}
		if ev := r.of("s1"); len(ev) < 2 || ev[1] != "retry-scheduled slow#1" {
			t.Fatalf("transitions %v: want the timeout as a failed first attempt", ev)
		}
	})
}

func TestParkAndResolve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l := newRecorder(), newLedger()
		var mu sync.Mutex
		broken := true
		refund := l.step("pay", nil)
		refund.CompensateRetry = saga.RetryPolicy{MaxAttempts: 2, Backoff: fastRetry.Backoff}
		refund.Compensate = func(_ context.Context, x *saga.Exec) error {
			mu.Lock()
			defer mu.Unlock()
			if broken {
				return errors.New("refund service down")
			}
			l.undo(x.Key)
			return nil
		}
		fail := l.step("ship", func(*saga.Exec) error { return saga.Permanent(errors.New("no stock")) })
		fail.Compensate = nil
		def := saga.Definition{Name: "order", Steps: []saga.Step{l.step("reserve", nil), refund, fail}}
		s := saga.NewMemoryStore()
		o := newOrchestrator(t, s, r, def)
		ctx := t.Context()
		for _, id := range []string{"a", "b"} {
			if _, err := o.Start(ctx, "order", id, nil); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if inst := r.wait(t); inst.State != saga.Parked || !strings.Contains(inst.Error, "refund service down") {
				t.Fatalf("saga %s ended %s (%q); want parked", inst.ID, inst.State, inst.Error)
			}
		}
		parked, err := o.List(ctx, saga.Query{State: saga.Parked})
		if err != nil || len(parked) != 2 {
			t.Fatalf("List(parked) = %d, %v; want 2", len(parked), err)
		}
		if _, err := o.Resolve(ctx, "a", 0); err == nil {
			t.Fatal("Resolve with resolution 0 succeeded")
		}
		mu.Lock()
		broken = false
		mu.Unlock()
		if _, err := o.Resolve(ctx, "a", saga.RetryCompensation); err != nil {
			t.Fatal(err)
		}
		if inst := r.wait(t); inst.ID != "a" || inst.State != saga.Compensated {
			t.Fatalf("after Resolve(retry): %s %s; want a compensated", inst.ID, inst.State)
		}
		if l.applied["a/pay"] || l.applied["a/reserve"] {
			t.Fatalf("saga a's effects left after compensation: %v", l.applied)
		}
		got, err := o.Resolve(ctx, "b", saga.MarkCompensated)
		if err != nil || got.State != saga.Compensated {
			t.Fatalf("Resolve(b, mark) = %s, %v", got.State, err)
		}
		if !l.applied["b/reserve"] {
			t.Fatal("MarkCompensated ran the remaining compensations")
		}
		if _, err := o.Resolve(ctx, "b", saga.MarkCompensated); !errors.Is(err, saga.ErrNotParked) {
			t.Fatalf("second Resolve: %v, want ErrNotParked", err)
		}
		if _, err := o.Resolve(ctx, "zzz", saga.MarkCompensated); !errors.Is(err, saga.ErrNotFound) {
			t.Fatalf("Resolve of an unknown saga: %v, want ErrNotFound", err)
		}
	})
}

func TestStartIsIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l := newRecorder(), newLedger()
		def := saga.Definition{Name: "order", Steps: []saga.Step{l.step("pay", nil)}}
		other := saga.Definition{Name: "refund", Steps: []saga.Step{l.step("refund", nil)}}
		o := newOrchestrator(t, saga.NewMemoryStore(), r, def, other)
		ctx := t.Context()
		first, err := o.Start(ctx, "order", "s1", []byte("first"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := o.Start(ctx, "order", "s1", []byte("second"))
		if err != nil || again.CreatedAt != first.CreatedAt || (again.State == saga.Running && string(again.Data) != "first") {
			t.Fatalf("second Start = %+v, %v; want the first saga", again, err)
		}
		if _, err := o.Start(ctx, "refund", "s1", nil); !errors.Is(err, saga.ErrExists) {
			t.Fatalf("Start under another definition: %v, want ErrExists", err)
		}
		if _, err := o.Start(ctx, "nope", "s2", nil); !errors.Is(err, saga.ErrUnknownDefinition) {
			t.Fatalf("Start of an unknown definition: %v, want ErrUnknownDefinition", err)
		}
		if _, err := o.Start(ctx, "order", "", nil); err == nil {
			t.Fatal("Start with an empty ID succeeded")
		}
		r.wait(t)
		synctest.Wait()
		if _, err := o.Start(ctx, "order", "s1", nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if l.calls["s1/pay"] != 1 {
			t.Fatalf("the step ran %d times for three Starts; want 1", l.calls["s1/pay"])
		}
		o.Close()
		if _, err := o.Start(ctx, "order", "s3", nil); !errors.Is(err, courier.ErrClosed) {
			t.Fatalf("Start after Close: %v, want ErrClosed", err)
		}
	})
}

// A saga claimed by an orchestrator that stops in the middle of an action is taken over by
// another, which runs the action again with the same key.
func TestCloseMidActionHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l := newRecorder(), newLedger()
		entered := make(chan struct{}, 1)
		def := saga.Definition{Name: "d", Steps: []saga.Step{l.step("a", func(x *saga.Exec) error {
			select {
			case entered <- struct{}{}:
			default:
			}
			return nil
		})}}
		blocking := def
		blocking.Steps = []saga.Step{{Name: "a", Action: func(ctx context.Context, x *saga.Exec) error {
			entered <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}}}
		s := saga.NewMemoryStore()
		o1, err := saga.New(saga.Config{Store: s, Definitions: []saga.Definition{blocking}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o1.Start(t.Context(), "d", "s1", nil); err != nil {
			t.Fatal(err)
		}
		<-entered
		o1.Close()
		inst, _ := s.Get(t.Context(), "s1")
		if inst.State != saga.Running || inst.LeaseOwner != "" || inst.Attempt != 1 {
			t.Fatalf("after Close mid-action: %s lease %q attempt %d; want running, released, attempt 1", inst.State, inst.LeaseOwner, inst.Attempt)
		}
		newOrchestrator(t, s, r, def)
		if inst := r.wait(t); inst.State != saga.Completed || l.calls["s1/a"] != 1 {
			t.Fatalf("second orchestrator: %s, calls %v", inst.State, l.calls)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := saga.Step{Name: "a", Action: func(context.Context, *saga.Exec) error { return nil }}
	cmd := saga.Step{Name: "c", Command: func(context.Context, *saga.Exec) (courier.Message, error) { return courier.Message{}, nil }}
	s := saga.NewMemoryStore()
	cases := []struct {
		cfg  saga.Config
		want string
	}{
		{saga.Config{Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{ok}}}}, "nil Store"},
		{saga.Config{Store: s}, "no Definitions"},
		{saga.Config{Store: s, Definitions: []saga.Definition{{Name: "d"}}}, `definition "d" has no steps`},
		{saga.Config{Store: s, Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{ok, ok}}}}, "name used twice"},
		{saga.Config{Store: s, Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{{Name: "x"}}}}}, "neither Action nor Command"},
		{saga.Config{Store: s, Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{ok}}, {Name: "d", Steps: []saga.Step{ok}}}}, "given twice"},
		{saga.Config{Store: s, Lease: time.Second, Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{ok}}}}, "must be below the lease"},
		{saga.Config{Store: s, Workers: -1, Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{ok}}}}, "negative Workers"},
		{saga.Config{Store: s, Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{cmd}}}}, "Producer is nil"},
		{saga.Config{Store: s, Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{{Name: "b", Action: ok.Action,
			Retry: saga.RetryPolicy{Backoff: courier.Backoff{Initial: -1}}}}}}}, "Retry: backoff Initial"},
	}
	for _, c := range cases {
		_, err := saga.New(c.cfg)
		if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: error %v; want ErrInvalidConfig saying %q", err, c.want)
		}
	}
}

func TestLogsNameSagaAndStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		r := newRecorder()
		def := saga.Definition{Name: "order", Steps: []saga.Step{{Name: "pay", Retry: saga.RetryPolicy{MaxAttempts: 1},
			Action: func(context.Context, *saga.Exec) error { return errors.New("declined") }}}}
		o, err := saga.New(saga.Config{Store: saga.NewMemoryStore(), Definitions: []saga.Definition{def}, OnTransition: r.record,
			Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Start(t.Context(), "order", "o-7", []byte("secret card number")); err != nil {
			t.Fatal(err)
		}
		r.wait(t)
		o.Close()
		if strings.Contains(buf.String(), "secret") {
			t.Fatal("logs contain the saga's data")
		}
		var failed map[string]any
		for line := range strings.Lines(buf.String()) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if rec["saga_id"] != "o-7" || rec["saga"] != "order" {
				t.Errorf("log line without the saga's ID and definition: %s", line)
			}
			if rec["msg"] == "saga: step-failed" {
				failed = rec
			}
		}
		if failed == nil || failed["step"] != "pay" || failed["error"] != "declined" || failed["level"] != "WARN" {
			t.Fatalf("step-failed log line = %v; want step pay, the error, level WARN", failed)
		}
	})
}

// Many orchestrators share the sagas, yet a saga's steps never run in two places at once:
// its lease holds it for one worker, and is renewed before work that would outlast it (here
// the later sagas of a claimed batch wait while the first ones run).
func TestOneWorkerAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		running := map[string]string{} // saga ID -> key of the step running
		ran := map[string]int{}
		var overlaps []string
		step := func(name string) saga.Step {
			return saga.Step{Name: name, Timeout: 9 * time.Second, Action: func(ctx context.Context, x *saga.Exec) error {
				mu.Lock()
				if other, busy := running[x.SagaID]; busy {
					overlaps = append(overlaps, fmt.Sprintf("%s started while %s runs", x.Key, other))
				}
				running[x.SagaID] = x.Key
				ran[x.Key]++
				mu.Unlock()
				time.Sleep(time.Duration(len(x.SagaID)%4+5) * time.Second) // fake time: 5-8s of work
				mu.Lock()
				delete(running, x.SagaID)
				mu.Unlock()
				return nil
			}}
		}
		def := saga.Definition{Name: "d", Steps: []saga.Step{step("a"), step("b")}}
		s, r := saga.NewMemoryStore(), newRecorder()
		for range 3 {
			o, err := saga.New(saga.Config{Store: s, Definitions: []saga.Definition{def}, Workers: 2, ClaimBatch: 4,
				Lease: 10 * time.Second, OnTransition: r.record})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
		}
		const n = 24
		for i := range n {
			if _, err := s.Create(t.Context(), saga.Instance{ID: fmt.Sprintf("saga-%0*d", i%4+1, i), Definition: "d",
				State: saga.Running, Attempt: 1, WakeAt: time.Now(), CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			if inst := r.wait(t); inst.State != saga.Completed {
				t.Fatalf("%s ended %s (%q)", inst.ID, inst.State, inst.Error)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(overlaps) > 0 {
			t.Fatalf("steps of one saga ran at once: %v", overlaps)
		}
		for k, c := range ran {
			if c != 1 {
				t.Errorf("%s ran %d times, want once", k, c)
			}
		}
		if len(ran) != 2*n {
			t.Fatalf("%d step runs, want %d", len(ran), 2*n)
		}
	})
}

func TestReplyAfterCloseIsRefused(t *testing.T) {
	l, p := newLedger(), &captureProducer{}
	o, err := saga.New(saga.Config{Store: saga.NewMemoryStore(), Definitions: []saga.Definition{paymentSaga(l)}, Producer: p, ReplyTopic: "r"})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	err = o.ReplyHandler().HandleMessage(t.Context(), courier.Message{Headers: map[string]string{saga.HeaderSagaID: "s", saga.HeaderStep: "pay"}})
	if !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("reply after Close: %v, want ErrClosed (so the broker delivers it to a live orchestrator)", err)
	}
}

// An orchestrator claims only sagas of the definitions it knows (think of a rolling upgrade
// that brings a new definition): the others are left to orchestrators that know them.
func TestUnknownDefinitionLeftToOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, r := newLedger(), newRecorder()
		s := saga.NewMemoryStore()
		var buf bytes.Buffer
		old, err := saga.New(saga.Config{Store: s, Definitions: []saga.Definition{{Name: "other", Steps: []saga.Step{l.step("x", nil)}}},
			Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		now := time.Now()
		if _, err := s.Create(t.Context(), saga.Instance{ID: "s1", Definition: "order", State: saga.Running, Attempt: 1,
			WakeAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // fake time: the old orchestrator polls many times
		synctest.Wait()
		if inst, _ := s.Get(t.Context(), "s1"); inst.Version != 1 || inst.LeaseOwner != "" || buf.Len() > 0 {
			t.Fatalf("the orchestrator without the definition touched the saga: version %d, lease %q, log %q", inst.Version, inst.LeaseOwner, buf.String())
		}
		start := time.Now()
		newOrchestrator(t, s, r, saga.Definition{Name: "order", Steps: []saga.Step{l.step("pay", nil)}})
		if inst := r.wait(t); inst.State != saga.Completed || time.Since(start) > saga.DefaultPollInterval {
			t.Fatalf("saga %s after %v; want completed at the new orchestrator's first poll", inst.State, time.Since(start))
		}
	})
}

// flakyStore fails some calls: every third Save before writing, every seventh after writing
// (the answer is lost, the write is not), every fifth Claim.
type flakyStore struct {
	*saga.MemoryStore
	mu            sync.Mutex
	saves, claims int
}

var errFlaky = errors.New("connection reset")

func (f *flakyStore) Save(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	f.mu.Lock()
	f.saves++
	n := f.saves
	f.mu.Unlock()
	if n%3 == 0 {
		return saga.Instance{}, errFlaky
	}
	got, err := f.MemoryStore.Save(ctx, inst)
	if err == nil && n%7 == 0 {
		return saga.Instance{}, errFlaky
	}
	return got, err
}

func (f *flakyStore) Claim(ctx context.Context, c saga.ClaimRequest) ([]saga.Instance, error) {
	f.mu.Lock()
	f.claims++
	n := f.claims
	f.mu.Unlock()
	if n%5 == 0 {
		return nil, errFlaky
	}
	return f.MemoryStore.Claim(ctx, c)
}

// Store errors never lose a saga nor stop the orchestrator: the saga comes back when its lease
// ends, and steps run again only with their idempotency key.
func TestStoreErrorsAreSurvived(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l := newRecorder(), newLedger()
		fails := func(x *saga.Exec) error {
			if strings.HasPrefix(x.SagaID, "bad") {
				return saga.Permanent(errors.New("refused"))
			}
			return nil
		}
		def := saga.Definition{Name: "order", Steps: []saga.Step{l.step("reserve", nil), l.step("pay", nil), l.step("ship", fails)}}
		for i := range def.Steps {
			def.Steps[i].Timeout = time.Second
		}
		s := &flakyStore{MemoryStore: saga.NewMemoryStore()}
		o, err := saga.New(saga.Config{Store: s, Definitions: []saga.Definition{def}, Lease: 2 * time.Second, OnTransition: r.record})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		var ids []string
		for i := range 10 {
			ids = append(ids, fmt.Sprintf("good-%d", i), fmt.Sprintf("bad-%d", i))
		}
		for _, id := range ids {
			if _, err := o.Start(t.Context(), "order", id, nil); err != nil {
				t.Fatal(err)
			}
		}
		for deadline := time.Now().Add(time.Hour); ; time.Sleep(time.Second) { // fake time
			// The store, not the hooks: a final save whose answer was lost reports no transition.
			final, err := s.List(t.Context(), saga.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(final, func(i saga.Instance) bool { return !i.State.Final() }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sagas not final after an hour: %+v", final)
			}
		}
		for _, id := range ids {
			inst, err := s.Get(t.Context(), id)
			good := strings.HasPrefix(id, "good")
			if err != nil || good && inst.State != saga.Completed || !good && inst.State != saga.Compensated {
				t.Errorf("%s: %s (%v)", id, inst.State, err)
			}
			for _, st := range []string{"reserve", "pay"} {
				if k := saga.IdempotencyKey(id, st); l.applied[k] != good {
					t.Errorf("%s: effect in place = %v", k, l.applied[k])
				}
			}
		}
		if s.saves < 30 {
			t.Fatalf("only %d saves: the failures were not exercised", s.saves)
		}
	})
}

// downStore fails every call: the store is unreachable.
type downStore struct{ saga.Store }

func (downStore) Claim(context.Context, saga.ClaimRequest) ([]saga.Instance, error) {
	return nil, errors.New("connection refused")
}

// While the store is down the workers keep polling, and say so at most once a second.
func TestClaimFailuresLoggedOncePerSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		o, err := saga.New(saga.Config{Store: downStore{saga.NewMemoryStore()}, Workers: 4, PollInterval: 100 * time.Millisecond,
			Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{newLedger().step("a", nil)}}},
			Logger:      slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10*time.Second - time.Millisecond) // fake time: 4 workers x 10 polls a second
		o.Close()
		lines := strings.Count(buf.String(), "claiming due sagas failed")
		if lines < 9 || lines > 10 || !strings.Contains(buf.String(), "failures=40") {
			t.Fatalf("%d log lines in 10s of failing polls, want 9-10 reporting 40 failures each:\n%s", lines, buf.String())
		}
	})
}

func TestDefaultOwnersDiffer(t *testing.T) {
	cfg := saga.Config{Store: saga.NewMemoryStore(), Definitions: []saga.Definition{{Name: "d", Steps: []saga.Step{newLedger().step("a", nil)}}}}
	a, err := saga.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := saga.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Owner() == "" || a.Owner() == b.Owner() {
		t.Fatalf("default owners %q and %q: want two different, non-empty names", a.Owner(), b.Owner())
	}
	cfg.Owner = "worker-7"
	c, err := saga.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Owner() != "worker-7" {
		t.Fatalf("Owner() = %q, want the configured worker-7", c.Owner())
	}
}
