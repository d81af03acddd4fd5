package aggregate_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/aggregate"
	"github.com/courier-go/courier/eventsource/estest"
	"github.com/courier-go/courier/eventsource/memstore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Opened struct{ Owner string }
type Deposited struct{ Amount int64 }
type Withdrawn struct{ Amount int64 }

// Account is the state: order-sensitive (Trail), so that a wrong fold order shows.
type Account struct {
	Owner   string
	Balance int64
	Trail   uint64
	Events  int
}

func evolve(a Account, e any) Account {
	a.Events++
	switch e := e.(type) {
	case Opened:
		a.Owner = e.Owner
	case Deposited:
		a.Balance += e.Amount
		a.Trail = a.Trail*31 + uint64(e.Amount)
	case Withdrawn:
		a.Balance -= e.Amount
		a.Trail = a.Trail*37 + uint64(e.Amount)
	}
	return a
}

// fataler is what the helpers need of a *testing.T or a *rapid.T.
type fataler interface{ Fatal(args ...any) }

var errInsufficient = errors.New("insufficient funds")

func deposit(n int64) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if a.Owner == "" {
			return []any{Opened{Owner: "ana"}, Deposited{Amount: n}}, nil
		}
		return []any{Deposited{Amount: n}}, nil
	}
}

func withdraw(n int64) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if a.Balance < n {
			return nil, errInsufficient
		}
		return []any{Withdrawn{Amount: n}}, nil
	}
}

func registry(t fataler, policy eventsource.UnknownPolicy) *eventsource.Registry {
	r, err := eventsource.NewRegistry(eventsource.RegistryConfig{Unknown: policy})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		eventsource.Register[Opened](r, "Opened"),
		eventsource.Register[Deposited](r, "Deposited"),
		eventsource.Register[Withdrawn](r, "Withdrawn"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func repo(t fataler, store eventsource.Store, mod func(*aggregate.Config[Account])) *aggregate.Repository[Account] {
	cfg := aggregate.Config[Account]{Store: store, Registry: registry(t, eventsource.UnknownFail), Evolve: evolve,
		Stream: func(id string) string { return "account-" + id }}
	if mod != nil {
		mod(&cfg)
	}
	r, err := aggregate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHandleAndLoad(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	r := repo(t, store, nil)
	ctx := t.Context()
	a, err := r.Handle(ctx, "1", deposit(100))
	if err != nil || a.Version != 2 || a.State.Balance != 100 || a.State.Owner != "ana" {
		t.Fatalf("first deposit = %+v, %v", a, err)
	}
	if _, err := r.Handle(ctx, "1", withdraw(500)); !errors.Is(err, errInsufficient) {
		t.Errorf("overdraft: %v, want decide's error", err)
	}
	if _, err := r.Handle(ctx, "1", withdraw(30)); err != nil {
		t.Fatal(err)
	}
	l, err := r.Load(ctx, "1")
	if err != nil || l.Version != 3 || l.State.Balance != 70 || l.Replayed != 3 {
		t.Errorf("Load = %+v, %v; want version 3, balance 70", l, err)
	}
}

// TestHandleRetriesConflicts: 8 concurrent writers to one account all get their deposit in.
func TestHandleRetriesConflicts(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	r := repo(t, store, func(c *aggregate.Config[Account]) { c.MaxRetries = 100 })
	if _, err := r.Handle(t.Context(), "x", deposit(1)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if _, err := r.Handle(t.Context(), "x", deposit(1)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	l, err := r.Load(t.Context(), "x")
	if err != nil || l.State.Balance != 81 {
		t.Errorf("balance %d (%v), want 81", l.State.Balance, err)
	}
}

func TestHandleGivesUpAfterMaxRetries(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	r := repo(t, store, func(c *aggregate.Config[Account]) { c.MaxRetries = 2 })
	calls := 0
	_, err := r.Handle(t.Context(), "y", func(a Account) ([]any, error) {
		calls++
		// Another writer gets in between every load and append.
		if _, err := store.Append(context.Background(), "account-y", eventsource.Any, eventsource.EventData{Type: "Deposited", Data: []byte(`{"Amount":1}`)}); err != nil {
			t.Fatal(err)
		}
		return []any{Deposited{Amount: 5}}, nil
	})
	var ce *eventsource.ConflictError
	if !errors.As(err, &ce) || calls != 3 || !strings.Contains(err.Error(), "3 attempt(s)") {
		t.Errorf("Handle = %v after %d decide calls; want a conflict after 3", err, calls)
	}
}

func TestSnapshotsEveryN(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	snaps := &aggregate.MemorySnapshots{}
	r := repo(t, store, func(c *aggregate.Config[Account]) { c.Snapshots, c.SnapshotEvery = snaps, 4 })
	for range 9 {
		if _, err := r.Handle(t.Context(), "s", deposit(10)); err != nil {
			t.Fatal(err)
		}
	}
	// 10 events: snapshots at versions 4 and 8 (Opened+Deposited came in one append at 2).
	s, ok, _ := snaps.LoadSnapshot(t.Context(), "account-s")
	if !ok || s.Version != 8 {
		t.Fatalf("snapshot = %+v (%v), want version 8", s, ok)
	}
	l, err := r.Load(t.Context(), "s")
	if err != nil || l.SnapshotVersion != 8 || l.Replayed != 2 || l.State.Balance != 90 || l.Version != 10 {
		t.Errorf("Load = %+v, %v; want snapshot 8, 2 replayed, balance 90", l, err)
	}
	// A snapshot of another schema is ignored.
	r2 := repo(t, store, func(c *aggregate.Config[Account]) { c.Snapshots, c.SnapshotSchema = snaps, "v2" })
	if l, err := r2.Load(t.Context(), "s"); err != nil || l.SnapshotVersion != 0 || l.Replayed != 10 || l.State.Balance != 90 {
		t.Errorf("Load with another schema = %+v, %v; want a full replay", l, err)
	}
}

func TestSnapshotsOnSlowLoad(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	snaps := &aggregate.MemorySnapshots{}
	r := repo(t, store, func(c *aggregate.Config[Account]) { c.Snapshots, c.SnapshotAfter = snaps, time.Nanosecond })
	for range 3 {
		if _, err := r.Handle(t.Context(), "slow", deposit(1)); err != nil {
			t.Fatal(err)
		}
	}
	if s, ok, _ := snaps.LoadSnapshot(t.Context(), "account-slow"); !ok || s.Version != 3 {
		t.Errorf("snapshot after slow loads = %+v, %v; want version 3", s, ok)
	}
}

// The unknown-type policy is checked by estest (UnknownEventType) on every backend.

func TestConfigErrors(t *testing.T) {
	_, err := aggregate.New(aggregate.Config[Account]{SnapshotEvery: 3})
	for _, want := range []string{"nil Store", "nil Registry", "nil Evolve", "without Snapshots"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with an empty config: %v, want it to say %q", err, want)
		}
	}
}

// TestSnapshotPlusTailEqualsReplay: see estest.RunAggregateProperty.
func TestSnapshotPlusTailEqualsReplay(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	estest.RunAggregateProperty(t, store, &aggregate.MemorySnapshots{})
}

func TestMemorySnapshots(t *testing.T) {
	estest.RunSnapshots(t, &aggregate.MemorySnapshots{})
}
