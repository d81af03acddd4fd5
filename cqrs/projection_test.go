package cqrs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/cqrstest"
)

// fataler is what the helpers need of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

type Deposited struct{ Amount int }
type Withdrawn struct{ Amount int }
type Refunded struct{ Amount int }

// ledger is the read model: balances, how often each event was applied, and each stream's
// last version (handlers refuse an event out of order).
type ledger struct {
	Balance map[string]int
	Applied map[string]int
	Last    map[string]int64
}

func newLedger() ledger {
	return ledger{Balance: map[string]int{}, Applied: map[string]int{}, Last: map[string]int64{}}
}

func cloneLedger(l ledger) ledger {
	return ledger{Balance: maps.Clone(l.Balance), Applied: maps.Clone(l.Applied), Last: maps.Clone(l.Last)}
}

func (l *ledger) note(ev cqrs.Event) error {
	if ev.Version != l.Last[ev.Stream]+1 {
		return fmt.Errorf("stream %s: version %d after %d", ev.Stream, ev.Version, l.Last[ev.Stream])
	}
	l.Last[ev.Stream] = ev.Version
	l.Applied[ev.ID]++
	return nil
}

// fold is the ledger the events make, computed without the projection.
func fold(events []cqrs.Event) ledger {
	l := newLedger()
	for _, ev := range events {
		l.Last[ev.Stream] = ev.Version
		var a struct{ Amount int }
		_ = json.Unmarshal(ev.Data, &a)
		switch ev.Type {
		case "Deposited":
			l.Balance[ev.Stream] += a.Amount
		case "Withdrawn":
			l.Balance[ev.Stream] -= a.Amount
		default:
			continue // skipped: not counted as applied
		}
		l.Applied[ev.ID] = 1
	}
	return l
}

func newLedgerProjection(t fataler, src cqrs.Source, store *cqrs.MemoryStore[ledger], cfg cqrs.ProjectionConfig) *cqrs.Projection[*ledger] {
	t.Helper()
	p, err := cqrs.NewProjection("ledger", src, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cqrs.Project(p, func(_ context.Context, l *ledger, e Deposited, ev cqrs.Event) error {
		l.Balance[ev.Stream] += e.Amount
		return l.note(ev)
	}); err != nil {
		t.Fatal(err)
	}
	if err := cqrs.Project(p, func(_ context.Context, l *ledger, e Withdrawn, ev cqrs.Event) error {
		l.Balance[ev.Stream] -= e.Amount
		return l.note(ev)
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

func newLedgerStore(t fataler) *cqrs.MemoryStore[ledger] {
	t.Helper()
	s, err := cqrs.NewMemoryStore(newLedger, cloneLedger)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func live(s *cqrs.MemoryStore[ledger]) (l ledger, pos string) {
	s.View("ledger", func(st ledger, p string) { l, pos = cloneLedger(st), p })
	return l, pos
}

func equalLedgers(a, b ledger) bool {
	return maps.Equal(a.Balance, b.Balance) && maps.Equal(a.Applied, b.Applied)
}

// TestRebuildEqualsLive: on generated histories, with catch-ups and rebuilds at random
// points, the live model equals the fold of the events after a catch-up, and a Rebuild
// gives the same model as the one it replaces.
func TestRebuildEqualsLive(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		src := cqrstest.NewSource()
		store := newLedgerStore(rt)
		batch := rapid.IntRange(1, 7).Draw(rt, "batch")
		p := newLedgerProjection(rt, src, store, cqrs.ProjectionConfig{BatchSize: batch})
		streams := []string{"acc-1", "acc-2", "acc-3"}
		// Only these streams are versioned by the ledger; "Noise" events are skipped but
		// keep their stream's version count, so give them a stream of their own.
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := range steps {
			switch rapid.IntRange(0, 9).Draw(rt, fmt.Sprintf("step%d", i)) {
			case 0, 1, 2, 3:
				stream := rapid.SampledFrom(streams).Draw(rt, "stream")
				amount := rapid.IntRange(1, 100).Draw(rt, "amount")
				typ := rapid.SampledFrom([]string{"Deposited", "Deposited", "Withdrawn"}).Draw(rt, "type")
				src.Append(stream, typ, Deposited{Amount: amount})
			case 4:
				src.Append("audit", "Noise", map[string]int{"x": 1})
			case 5, 6:
				if _, err := p.CatchUp(ctx); err != nil {
					rt.Fatalf("CatchUp: %v", err)
				}
			case 7, 8:
				if _, err := p.CatchUp(ctx); err != nil {
					rt.Fatalf("CatchUp: %v", err)
				}
				before, beforePos := live(store)
				if err := p.Rebuild(ctx); err != nil {
					rt.Fatalf("Rebuild: %v", err)
				}
				after, afterPos := live(store)
				if !equalLedgers(before, after) || beforePos != afterPos {
					rt.Fatalf("rebuilt model %+v at %q differs from the live one %+v at %q", after, afterPos, before, beforePos)
				}
			case 9:
				if err := p.Rebuild(ctx); err != nil { // without catching up first
					rt.Fatalf("Rebuild: %v", err)
				}
			}
		}
		if _, err := p.CatchUp(ctx); err != nil {
			rt.Fatalf("CatchUp: %v", err)
		}
		got, pos := live(store)
		events := src.Events()
		want := fold(events)
		if !equalLedgers(got, want) {
			rt.Fatalf("live model %+v, want %+v", got, want)
		}
		if len(events) > 0 && pos != events[len(events)-1].Position {
			rt.Fatalf("checkpoint %q, want the last event's %q", pos, events[len(events)-1].Position)
		}
		st, err := p.Status(ctx)
		if err != nil || st.Behind != 0 || st.Position != pos {
			rt.Fatalf("status %+v, %v", st, err)
		}
	})
}

// TestRebuildWhileRunning rebuilds, again and again, while Run follows the Source and
// events keep coming: no event is applied twice or lost, and order holds.
func TestRebuildWhileRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := cqrstest.NewSource()
	store := newLedgerStore(t)
	commits := cqrs.Commits(store)
	p := newLedgerProjection(t, src, store, cqrs.ProjectionConfig{BatchSize: 5, PollInterval: time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for i := range 300 {
		src.Append(fmt.Sprintf("acc-%d", i%7), "Deposited", Deposited{Amount: i})
		if i%60 == 0 {
			if err := p.Rebuild(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := fold(src.Events())
	waitFor(t, commits, func() bool {
		got, _ := live(store)
		return equalLedgers(got, want)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st, err := p.Status(context.Background())
	if err != nil || st.Behind != 0 || st.LastError != nil {
		t.Fatalf("status %+v, %v", st, err)
	}
}

var errCrash = errors.New("process killed")

// TestCrashBetweenApplyAndCommit: the store fails after the handlers applied a batch and
// before it is kept; a new projection (a restarted process) never applies an event twice.
func TestCrashBetweenApplyAndCommit(t *testing.T) {
	ctx := context.Background()
	src := cqrstest.NewSource()
	for i := range 50 {
		src.Append(fmt.Sprintf("acc-%d", i%3), "Deposited", Deposited{Amount: 1})
	}
	store := newLedgerStore(t)
	crashes := 0
	cqrs.SetBeforeCommit(store, func(_ string, _ cqrs.Model, to string) error {
		if n, _ := strconv.Atoi(to); n%4 == 0 && crashes < 5 { // crash on some batches
			crashes++
			return errCrash
		}
		return nil
	})
	for restarts := 0; ; restarts++ {
		if restarts > 20 {
			t.Fatal("never caught up")
		}
		p := newLedgerProjection(t, src, store, cqrs.ProjectionConfig{BatchSize: 4})
		_, err := p.CatchUp(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
	}
	if crashes != 5 {
		t.Fatalf("%d crashes injected, want 5", crashes)
	}
	got, _ := live(store)
	for id, n := range got.Applied {
		if n != 1 {
			t.Errorf("event %s applied %d times", id, n)
		}
	}
	if want := fold(src.Events()); !equalLedgers(got, want) {
		t.Fatalf("model %+v, want %+v", got, want)
	}
}

// An unknown type is skipped and passed under SkipUnknown; RejectUnknown stops the
// projection at it, visibly, with nothing of its batch applied.
func TestProjectionUnknownTypes(t *testing.T) {
	ctx := context.Background()
	src := cqrstest.NewSource()
	src.Append("acc-1", "Deposited", Deposited{Amount: 5})
	src.Append("audit", "Noise", map[string]int{})
	src.Append("acc-1", "Deposited", Deposited{Amount: 7})

	store := newLedgerStore(t)
	p := newLedgerProjection(t, src, store, cqrs.ProjectionConfig{})
	if n, err := p.CatchUp(ctx); err != nil || n != 3 {
		t.Fatalf("CatchUp = %d, %v", n, err)
	}
	st, _ := p.Status(ctx)
	if st.Handled != 2 || st.Skipped != 1 || st.Position != src.Events()[2].Position {
		t.Fatalf("status %+v", st)
	}

	strict := newLedgerStore(t)
	ps := newLedgerProjection(t, src, strict, cqrs.ProjectionConfig{BatchSize: 1, Unknown: cqrs.RejectUnknown})
	n, err := ps.CatchUp(ctx)
	if !errors.Is(err, cqrs.ErrNoHandler) || n != 1 || !strings.Contains(err.Error(), `"Noise"`) || !strings.Contains(err.Error(), `projection "ledger"`) {
		t.Fatalf("CatchUp = %d, %v", n, err)
	}
	st, _ = ps.Status(ctx)
	if st.Behind != 2 || st.Handled != 1 || st.Failed != 1 {
		t.Fatalf("status %+v, want 2 behind", st)
	}
	got, _ := live(strict)
	if got.Balance["acc-1"] != 5 {
		t.Fatalf("balance %d, want 5 (stopped at the unknown event)", got.Balance["acc-1"])
	}
}

// A handler error rolls back the batch and Run reports it in Status until it is fixed: here,
// until a handler for the type is registered.
func TestProjectionRunReportsErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := cqrstest.NewSource()
	src.Append("acc-1", "Deposited", Deposited{Amount: 1})
	src.Append("acc-1", "Refunded", Deposited{Amount: 1})
	store := newLedgerStore(t)
	p := newLedgerProjection(t, src, store, cqrs.ProjectionConfig{Unknown: cqrs.RejectUnknown, PollInterval: time.Millisecond,
		Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var st cqrs.Status
	eventually(t, "the error to show in Status", func() bool {
		var err error
		if st, err = p.Status(ctx); err != nil {
			t.Fatal(err)
		}
		return st.LastError != nil
	})
	if !errors.Is(st.LastError, cqrs.ErrNoHandler) || st.Behind != 2 {
		t.Fatalf("status %+v", st)
	}
	if got, pos := live(store); pos != "" || got.Balance["acc-1"] != 0 {
		t.Fatalf("the failed batch left %+v at %q", got, pos)
	}
	// A handler for the type, registered while Run retries, unblocks it.
	commits := cqrs.Commits(store)
	if err := cqrs.Project(p, func(_ context.Context, l *ledger, e Refunded, ev cqrs.Event) error {
		l.Balance[ev.Stream] -= e.Amount
		return l.note(ev)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, commits, func() bool { _, pos := live(store); return pos == src.Events()[1].Position })
	eventually(t, "the error to clear", func() bool {
		st, err := p.Status(ctx)
		return err == nil && st.LastError == nil && st.Behind == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := live(store); got.Balance["acc-1"] != 0 || got.Applied["e2"] != 1 {
		t.Fatalf("after the refund: %+v", got)
	}
}

func TestProjectionBadInput(t *testing.T) {
	store := newLedgerStore(t)
	if _, err := cqrs.NewProjection[*ledger]("", nil, nil, cqrs.ProjectionConfig{}); !errors.Is(err, courier.ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "empty name") || !strings.Contains(err.Error(), "nil Source") || !strings.Contains(err.Error(), "nil Store") {
		t.Errorf("NewProjection: %v", err)
	}
	if _, err := cqrs.NewProjection("x", cqrstest.NewSource(), store, cqrs.ProjectionConfig{BatchSize: -1, PollInterval: -1}); err == nil ||
		!strings.Contains(err.Error(), "negative BatchSize") || !strings.Contains(err.Error(), "negative PollInterval") {
		t.Errorf("bad config: %v", err)
	}
	p := newLedgerProjection(t, cqrstest.NewSource(), store, cqrs.ProjectionConfig{})
	if err := cqrs.Project(p, func(context.Context, *ledger, Deposited, cqrs.Event) error { return nil }); !errors.Is(err, cqrs.ErrDuplicateHandler) {
		t.Errorf("duplicate: %v", err)
	}
	if err := cqrs.Project[Withdrawn](p, nil); !errors.Is(err, cqrs.ErrNilHandler) {
		t.Errorf("nil: %v", err)
	}
	if _, err := cqrs.NewMemoryStore[ledger](nil, nil); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("NewMemoryStore: %v", err)
	}
	if err := store.PromoteShadow(context.Background(), "ledger"); err == nil {
		t.Error("promoted a shadow that does not exist")
	}
	if err := store.Apply(context.Background(), "ledger", cqrs.Live, "elsewhere", "x", func(context.Context, *ledger) error { return nil }); !errors.Is(err, cqrs.ErrCheckpointMoved) {
		t.Errorf("Apply from a wrong checkpoint: %v", err)
	}
}

// stuckStore says the checkpoint moved but never moves it.
type stuckStore struct{ cqrs.Store[*ledger] }

func (stuckStore) Checkpoint(context.Context, string, cqrs.Model) (string, error) { return "", nil }
func (stuckStore) Apply(context.Context, string, cqrs.Model, string, string, func(context.Context, *ledger) error) error {
	return cqrs.ErrCheckpointMoved
}

// A Store that keeps reporting a moved checkpoint without moving it gets an error back,
// not an endless loop.
func TestCatchUpStopsOnAStuckCheckpoint(t *testing.T) {
	src := cqrstest.NewSource()
	src.Append("acc-1", "Deposited", Deposited{Amount: 1})
	p, err := cqrs.NewProjection[*ledger]("ledger", src, stuckStore{}, cqrs.ProjectionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.CatchUp(context.Background()); !errors.Is(err, cqrs.ErrCheckpointMoved) || n != 0 {
		t.Fatalf("CatchUp = %d, %v", n, err)
	}
}

// badSource yields the events it holds whatever position it is asked to read after.
type badSource []cqrs.Event

func (b badSource) Read(context.Context, string) iter.Seq2[cqrs.Event, error] {
	return func(yield func(cqrs.Event, error) bool) {
		for _, e := range b {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// A Source whose events have no position, or the checkpoint's, is refused, not replayed
// forever.
func TestSourceWithoutPositions(t *testing.T) {
	for _, pos := range []string{"", "7"} {
		store := newLedgerStore(t)
		src := badSource{{ID: "e1", Type: "Deposited", Stream: "a", Version: 1, Position: "7", Data: []byte(`{"Amount":1}`)},
			{ID: "e2", Type: "Deposited", Stream: "a", Version: 2, Position: pos, Data: []byte(`{"Amount":1}`)}}
		p := newLedgerProjection(t, src, store, cqrs.ProjectionConfig{BatchSize: 1})
		n, err := p.CatchUp(context.Background())
		if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "event e2") || n != 1 {
			t.Fatalf("position %q: CatchUp = %d, %v", pos, n, err)
		}
	}
}
