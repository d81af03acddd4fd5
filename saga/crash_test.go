package saga_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/courier-go/courier/saga"
)

// The crash tests run the orchestrator in a child process (this test binary again, running
// TestCrashChild), kill it with SIGKILL at an injected point, run it again, and check the
// outcome from files both runs share: the store, and a deduplicating fake of the services
// the steps call.

const (
	envCrashDir = "SAGA_CRASH_DIR" // where the child keeps its store and the fake's log
	envCrashAt  = "SAGA_CRASH_AT"  // "<point>:<step>": where the child kills itself
)

// fileStore is a MemoryStore written to a file after every change, so it outlives a killed
// process. Changes return only once written (atomically, by rename).
type fileStore struct {
	*saga.MemoryStore
	path string
	mu   sync.Mutex
}

func openFileStore(path string) (*fileStore, error) {
	var insts []saga.Instance
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &insts); err != nil {
			return nil, fmt.Errorf("store file %s: %w", path, err)
		}
	}
	return &fileStore{MemoryStore: saga.MemoryFrom(insts), path: path}, nil
}

func (f *fileStore) persist() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(saga.MemorySnapshot(f.MemoryStore))
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(f.path+".tmp", f.path)
}

func (f *fileStore) Create(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	got, err := f.MemoryStore.Create(ctx, inst)
	if err != nil {
		return got, err
	}
	return got, f.persist()
}

func (f *fileStore) Save(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	got, err := f.MemoryStore.Save(ctx, inst)
	if err != nil {
		return got, err
	}
	return got, f.persist()
}

func (f *fileStore) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]saga.Instance, error) {
	got, err := f.MemoryStore.Claim(ctx, owner, now, lease, limit)
	if err != nil || len(got) == 0 {
		return got, err
	}
	return got, f.persist()
}

// fakeService applies effects once per idempotency key, keeping its state in an append-only
// log that survives the process: "call KEY" for every call, "do KEY" for an applied effect,
// "undo KEY" for an undone one.
type fakeService struct {
	mu   sync.Mutex
	path string
}

type serviceState struct {
	calls   map[string]int
	applied map[string]bool
	done    map[string]int // times an effect was applied
	undone  map[string]int
}

func (s *fakeService) read() (serviceState, error) {
	st := serviceState{calls: map[string]int{}, applied: map[string]bool{}, done: map[string]int{}, undone: map[string]int{}}
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		op, key, _ := strings.Cut(sc.Text(), " ")
		switch op {
		case "call":
			st.calls[key]++
		case "do":
			st.applied[key] = true
			st.done[key]++
		case "undo":
			delete(st.applied, key)
			st.undone[key]++
		}
	}
	return st, sc.Err()
}

func (s *fakeService) append(lines ...string) error {
	f, err := os.OpenFile(s.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	return err
}

// do applies the effect keyed by key unless it was applied before.
func (s *fakeService) do(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.read()
	if err != nil {
		return err
	}
	if st.done[key] > 0 {
		return s.append("call " + key)
	}
	return s.append("call "+key, "do "+key)
}

// undo undoes the effect keyed by key if it is applied; undoing nothing is fine.
func (s *fakeService) undo(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.read()
	if err != nil {
		return err
	}
	if !st.applied[key] {
		return nil
	}
	return s.append("undo " + key)
}

var crashSteps = []string{"reserve", "pay", "ship"}

// crashSagas are the sagas each crash run starts: some complete, some fail at their last step.
var crashSagas = []string{"ok-1", "ok-2", "ok-3", "fail-1", "fail-2", "fail-3"}

// crashDefinition is the order saga of the crash runs. A step kills the process when it meets
// the point named by crashAt; "fail-" sagas fail their last step for good.
func crashDefinition(svc *fakeService, crashAt string) saga.Definition {
	kill := func(point, step string) {
		if crashAt == point+":"+step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	var steps []saga.Step
	for i, name := range crashSteps {
		steps = append(steps, saga.Step{Name: name, Timeout: 500 * time.Millisecond,
			Retry:           saga.RetryPolicy{MaxAttempts: 2, Backoff: fastRetry.Backoff},
			CompensateRetry: saga.RetryPolicy{Backoff: fastRetry.Backoff},
			Action: func(_ context.Context, x *saga.Exec) error {
				kill("before-action", name)
				if i == len(crashSteps)-1 && strings.HasPrefix(x.SagaID, "fail-") {
					return saga.Permanent(errors.New("refused"))
				}
				if err := svc.do(x.Key); err != nil {
					return err
				}
				kill("after-action", name)
				return nil
			},
			Compensate: func(_ context.Context, x *saga.Exec) error {
				kill("before-compensation", name)
				if err := svc.undo(x.Key); err != nil {
					return err
				}
				kill("after-compensation", name)
				return nil
			}})
	}
	return saga.Definition{Name: "order", Steps: steps}
}

// TestCrashChild is the child process of the crash tests; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("child process of the crash tests")
	}
	store, err := openFileStore(filepath.Join(dir, "store.json"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &fakeService{path: filepath.Join(dir, "effects.log")}
	changed := make(chan struct{}, 1)
	o, err := saga.New(saga.Config{Store: store, Definitions: []saga.Definition{crashDefinition(svc, os.Getenv(envCrashAt))},
		Workers: 2, Lease: time.Second, PollInterval: 20 * time.Millisecond,
		OnTransition: func(saga.Transition) {
			select {
			case changed <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := t.Context()
	for _, id := range crashSagas { // again after a restart: Start is idempotent
		if _, err := o.Start(ctx, "order", id, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(30 * time.Second)
	for {
		insts, err := o.List(ctx, saga.Query{})
		if err != nil {
			t.Fatal(err)
		}
		final := 0
		for _, inst := range insts {
			if inst.State.Final() {
				final++
			}
		}
		if final == len(crashSagas) {
			return
		}
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond): // a lease of the killed run ends without a transition here
		case <-deadline:
			t.Fatalf("sagas not final after 30s: %+v", insts)
		}
	}
}

// runChild runs TestCrashChild in dir, crashing at crashAt ("" for none).
func runChild(t *testing.T, dir, crashAt string) error {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashAt+"="+crashAt)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("child (crash at %q) output:\n%s", crashAt, out)
	}
	return err
}

func killedBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func TestCrashAtEveryPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("crash tests start processes")
	}
	var points []string
	for _, p := range []string{"before-action", "after-action", "before-compensation", "after-compensation"} {
		for _, s := range crashSteps {
			points = append(points, p+":"+s)
		}
	}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := runChild(t, dir, point); !killedBySIGKILL(err) {
				t.Fatalf("first run: %v; want it killed by SIGKILL at %s", err, point)
			}
			if err := runChild(t, dir, ""); err != nil {
				t.Fatalf("run after the crash: %v", err)
			}
			checkCrashOutcome(t, dir, point)
		})
	}
}

// checkCrashOutcome checks that every saga is final and that each effect happened once per
// idempotency key: all of a completed saga's effects are in place, none of a compensated one's.
func checkCrashOutcome(t *testing.T, dir, point string) {
	t.Helper()
	store, err := openFileStore(filepath.Join(dir, "store.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&fakeService{path: filepath.Join(dir, "effects.log")}).read()
	if err != nil {
		t.Fatal(err)
	}
	insts, err := store.List(context.Background(), saga.Query{})
	if err != nil || len(insts) != len(crashSagas) {
		t.Fatalf("%d sagas stored (%v), want %d", len(insts), err, len(crashSagas))
	}
	expectKeys := map[string]bool{}
	for _, inst := range insts {
		ok := strings.HasPrefix(inst.ID, "ok-")
		if want := map[bool]saga.State{true: saga.Completed, false: saga.Compensated}[ok]; inst.State != want {
			t.Errorf("saga %s ended %s (%q), want %s", inst.ID, inst.State, inst.Error, want)
		}
		for i, step := range crashSteps {
			key := saga.IdempotencyKey(inst.ID, step)
			if !ok && i == len(crashSteps)-1 {
				continue // refused before any effect
			}
			expectKeys[key] = true
			if st.done[key] != 1 {
				t.Errorf("%s: effect applied %d times, want once", key, st.done[key])
			}
			if st.applied[key] != ok {
				t.Errorf("%s: effect in place = %v after the saga ended %s", key, st.applied[key], inst.State)
			}
			if !ok && st.undone[key] != 1 {
				t.Errorf("%s: undone %d times, want once", key, st.undone[key])
			}
		}
	}
	for key := range st.calls {
		if !expectKeys[key] {
			t.Errorf("the service saw key %q, which is no step's idempotency key", key)
		}
	}
	// The step at the crash point ran again after the restart with the same key (a second
	// call) wherever the crash came after its effect.
	if p, step, _ := strings.Cut(point, ":"); p == "after-action" {
		again := 0
		for _, id := range crashSagas {
			if st.calls[saga.IdempotencyKey(id, step)] > 1 {
				again++
			}
		}
		if again == 0 {
			t.Errorf("crash after %s's effect: no call was repeated after the restart", step)
		}
	}
}
