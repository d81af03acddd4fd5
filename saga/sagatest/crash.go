package sagatest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/saga"
)

// CrashStore opens stores that outlive the process, for RunCrash.
type CrashStore struct {
	// Create prepares a place for the test's sagas (a schema, a key prefix, a file) that the
	// test removes at its end, and returns its name. It is called in the test's own process.
	Create func(t *testing.T) string
	// Open returns a store on the named place. It is called in the test's process and in the
	// child processes RunCrash starts, which must find the same data.
	Open func(t *testing.T, name string) saga.Store
	// Shared says that several processes can use the place at once (a database, not a file
	// one process loads): then two processes share the work after each crash.
	Shared bool
}

// Environment of the child processes of RunCrash.
const (
	envCrashDir   = "SAGATEST_CRASH_DIR"   // the fake services' logs
	envCrashStore = "SAGATEST_CRASH_STORE" // CrashStore.Create's name
	envCrashAt    = "SAGATEST_CRASH_AT"    // "<point>:<step>": where the child kills itself; "" for none
)

// crashSteps are the steps of the crash runs' order saga; crashSagas its instances: the
// "ok-" ones complete, the "fail-" ones fail their last step for good and compensate.
var (
	crashSteps = []string{"reserve", "pay", "ship"}
	crashSagas = []string{"ok-1", "ok-2", "ok-3", "fail-1", "fail-2", "fail-3"}
)

// crashPoints lists where the child kills itself: before and after every step's action and
// compensation, and right after a command was sent (its reply deadline then passes in the
// next process).
func crashPoints() []string {
	var points []string
	for _, p := range []string{"before-action", "after-action", "before-compensation", "after-compensation"} {
		for _, s := range crashSteps {
			points = append(points, p+":"+s)
		}
	}
	return append(points, "after-send:request")
}

// RunCrash kills orchestrators with SIGKILL and checks what their sagas come to. For every
// point of crashPoints it runs this test again in a child process (this test binary, with
// environment variables saying what to do) that runs sagas on cs.Open's store and kills itself
// at the point; then it runs a child without a crash point to the end. Afterwards every saga
// must be Completed or Compensated, and a deduplicating fake of the steps' services, kept in
// files across the processes, must have seen each effect applied once per idempotency key,
// undone for compensated sagas, and no key but the steps' own. A command's reply deadline
// must fire exactly once across the kill and restart.
//
// With cs.Shared, two processes run concurrently after the crash: a saga's steps must still
// run in one of them at a time (a second application of an effect would show otherwise).
//
// Call RunCrash from a top-level test or a subtest: the child processes run that same test
// and RunCrash then plays the child's part.
func RunCrash(t *testing.T, cs CrashStore) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		crashChild(t, cs, dir)
		return
	}
	if testing.Short() {
		t.Skip("crash tests start processes")
	}
	for _, point := range crashPoints() {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			dir, store := t.TempDir(), cs.Create(t)
			if err := runChild(t, dir, store, point); !killed(err) {
				t.Fatalf("first run: %v; want it killed at %s", err, point)
			}
			restarts := 1
			if cs.Shared {
				restarts = 2
			}
			errs := make(chan error, restarts)
			for range restarts {
				go func() { errs <- runChild(t, dir, store, "") }()
			}
			for range restarts {
				if err := <-errs; err != nil {
					t.Errorf("run after the crash: %v", err)
				}
			}
			if t.Failed() {
				return
			}
			checkCrashOutcome(t, cs.Open(t, store), dir, point)
		})
	}
}

func runChild(t *testing.T, dir, store, crashAt string) error {
	// Run the test that called RunCrash: its name without the point's subtest.
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts[:len(parts)-1] {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts[:len(parts)-1], "/"), "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashStore+"="+store, envCrashAt+"="+crashAt)
	out, err := cmd.CombinedOutput()
	if err != nil && crashAt == "" || err == nil && crashAt != "" {
		t.Logf("child (crash at %q) output:\n%s", crashAt, out)
	}
	return err
}

// killed reports whether err is the exit of a child killed by a signal.
func killed(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == -1
}

// kill ends this process at once, as a crash would.
func kill() {
	p, _ := os.FindProcess(os.Getpid())
	_ = p.Kill()
	select {} // the signal is on its way
}

// fakeService applies effects once per idempotency key, keeping its state in an append-only
// file that outlives the process: "call KEY" for every call, "do KEY" for an applied effect,
// "undo KEY" for an undone one, "event ..." for transitions and "send KEY" for commands.
type fakeService struct {
	mu   sync.Mutex
	path string
}

type serviceLog struct {
	calls, done, undone map[string]int
	applied             map[string]bool
	lines               []string
}

func (s *fakeService) read() (serviceLog, error) {
	st := serviceLog{calls: map[string]int{}, done: map[string]int{}, undone: map[string]int{}, applied: map[string]bool{}}
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
		st.lines = append(st.lines, sc.Text())
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

func (s *fakeService) record(line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.append(line)
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

// fileProducer "sends" commands by writing them to the service's file; nobody replies.
type fileProducer struct {
	svc     *fakeService
	crashAt string
}

func (p fileProducer) Send(_ context.Context, m courier.Message) error {
	if err := p.svc.record("send " + m.ID); err != nil {
		return err
	}
	if p.crashAt == "after-send:"+m.Headers[saga.HeaderStep] {
		kill()
	}
	return nil
}

func (p fileProducer) SendBatch(ctx context.Context, ms []courier.Message) error {
	return sendEach(ctx, p, ms)
}

func (fileProducer) Close() error { return nil }

// crashDefinitions are the order saga (local steps that kill the process at the crash point)
// and the remote saga (a command whose reply never comes).
func crashDefinitions(svc *fakeService, crashAt string) []saga.Definition {
	maybeKill := func(point, step string) {
		if crashAt == point+":"+step {
			kill()
		}
	}
	retry := saga.RetryPolicy{MaxAttempts: 2, Backoff: courier.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2}}
	var steps []saga.Step
	for i, name := range crashSteps {
		steps = append(steps, saga.Step{Name: name, Timeout: 500 * time.Millisecond, Retry: retry, CompensateRetry: retry,
			Action: func(_ context.Context, x *saga.Exec) error {
				maybeKill("before-action", name)
				if i == len(crashSteps)-1 && strings.HasPrefix(x.SagaID, "fail-") {
					return saga.Permanent(errors.New("refused"))
				}
				if err := svc.do(x.Key); err != nil {
					return err
				}
				maybeKill("after-action", name)
				return nil
			},
			Compensate: func(_ context.Context, x *saga.Exec) error {
				maybeKill("before-compensation", name)
				if err := svc.undo(x.Key); err != nil {
					return err
				}
				maybeKill("after-compensation", name)
				return nil
			}})
	}
	remote := saga.Definition{Name: "remote", Steps: []saga.Step{{Name: "request", Timeout: 1500 * time.Millisecond,
		Retry: saga.RetryPolicy{MaxAttempts: 1},
		Command: func(context.Context, *saga.Exec) (courier.Message, error) {
			return courier.Message{Topic: "requests"}, nil
		}}}}
	return []saga.Definition{{Name: "order", Steps: steps}, remote}
}

const remoteSaga = "remote-1"

// crashChild is the child process's part: run the sagas until all are final (or die trying).
func crashChild(t *testing.T, cs CrashStore, dir string) {
	store := cs.Open(t, os.Getenv(envCrashStore))
	crashAt := os.Getenv(envCrashAt)
	svc := &fakeService{path: filepath.Join(dir, "effects.log")}
	changed := make(chan struct{}, 1)
	o, err := saga.New(saga.Config{Store: store, Definitions: crashDefinitions(svc, crashAt),
		Workers: 2, Lease: time.Second, PollInterval: 20 * time.Millisecond,
		Producer: fileProducer{svc: svc, crashAt: crashAt}, ReplyTopic: "replies",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnTransition: func(tr saga.Transition) {
			if tr.Err != nil {
				if err := svc.record(fmt.Sprintf("event %s %s %s %v", tr.Instance.ID, tr.Event, tr.Step, tr.Err)); err != nil {
					t.Error(err)
				}
			}
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
	if _, err := o.Start(ctx, "remote", remoteSaga, nil); err != nil {
		t.Fatal(err)
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
		if final == len(insts) && len(insts) == len(crashSagas)+1 {
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

// checkCrashOutcome checks the store and the service's file after the crash and the restart.
func checkCrashOutcome(t *testing.T, store saga.Store, dir, point string) {
	t.Helper()
	st, err := (&fakeService{path: filepath.Join(dir, "effects.log")}).read()
	if err != nil {
		t.Fatal(err)
	}
	insts, err := store.List(context.Background(), saga.Query{Definition: "order"})
	if err != nil || len(insts) != len(crashSagas) {
		t.Fatalf("%d order sagas stored (%v), want %d", len(insts), err, len(crashSagas))
	}
	expectKeys := map[string]bool{}
	for _, inst := range insts {
		ok := strings.HasPrefix(inst.ID, "ok-")
		want := saga.Compensated
		if ok {
			want = saga.Completed
		}
		if inst.State != want {
			t.Errorf("saga %s ended %s (%q), want %s", inst.ID, inst.State, inst.Error, want)
		}
		for i, step := range crashSteps {
			if !ok && i == len(crashSteps)-1 {
				continue // refused before any effect
			}
			key := saga.IdempotencyKey(inst.ID, step)
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
	p, step, _ := strings.Cut(point, ":")
	if p == "after-action" { // the crash came after the effect: the call was made again after the restart
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
	checkRemoteTimeout(t, store, st, p == "after-send")
}

// checkRemoteTimeout checks that the command of the remote saga went out at most once (once
// when the crash came right after sending it) and that its reply deadline fired exactly once,
// whichever process was running when it came.
func checkRemoteTimeout(t *testing.T, store saga.Store, st serviceLog, sent bool) {
	t.Helper()
	inst, err := store.Get(context.Background(), remoteSaga)
	if err != nil || inst.State != saga.Compensated || !strings.Contains(inst.Error, saga.ErrReplyTimeout.Error()) {
		t.Errorf("remote saga: %+v, %v; want compensated after the reply timeout", inst, err)
	}
	sends, timeouts := 0, 0
	for _, l := range st.lines {
		if l == "send "+saga.IdempotencyKey(remoteSaga, "request") {
			sends++
		}
		if strings.HasPrefix(l, "event "+remoteSaga+" ") && strings.Contains(l, saga.ErrReplyTimeout.Error()) {
			timeouts++
		}
	}
	if sends > 1 || sent && sends != 1 || timeouts != 1 {
		t.Errorf("command sent %d times and timed out %d times across the crash; want at most once (once after a crash after sending) and once\n%s",
			sends, timeouts, strings.Join(st.lines, "\n"))
	}
}
