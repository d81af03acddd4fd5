package cqrstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/courier-go/courier/cqrs"
)

// StoreHarness lets StoreContract write and read a Store's read model: a counter per key.
type StoreHarness[Tx any] struct {
	// Store is the store under test.
	Store cqrs.Store[Tx]
	// NewProjection prepares a projection of its own for one check (a name no other check
	// uses, its read model defined) and returns its name.
	NewProjection func(t *testing.T) string
	// Add adds one to key's counter through tx.
	Add func(ctx context.Context, tx Tx, key string) error
	// Count reads key's counter in the projection's Live model; 0 when absent.
	Count func(ctx context.Context, projection, key string) (int, error)
}

// StoreContract checks that h.Store keeps the contract of cqrs.Store: an Apply keeps the
// read model's changes and the new checkpoint together or not at all, refuses a moved
// checkpoint, lets one of several concurrent Applies from the same checkpoint through, and
// a shadow model is filled apart from the live one and swapped in with its checkpoint.
func StoreContract[Tx any](t *testing.T, h StoreHarness[Tx]) {
	ctx := context.Background()
	add := func(keys ...string) func(ctx context.Context, tx Tx) error {
		return func(ctx context.Context, tx Tx) error {
			for _, k := range keys {
				if err := h.Add(ctx, tx, k); err != nil {
					return err
				}
			}
			return nil
		}
	}
	expect := func(t *testing.T, p string, m cqrs.Model, pos string, counts map[string]int) {
		t.Helper()
		got, err := h.Store.Checkpoint(ctx, p, m)
		if err != nil || got != pos {
			t.Fatalf("%s checkpoint = %q, %v; want %q", m, got, err, pos)
		}
		for k, want := range counts {
			if n, err := h.Count(ctx, p, k); err != nil || n != want {
				t.Fatalf("live count of %q = %d, %v; want %d", k, n, err, want)
			}
		}
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ApplyKeepsBoth", func(t *testing.T) {
		p := h.NewProjection(t)
		expect(t, p, cqrs.Live, "", map[string]int{"a": 0})
		must(t, h.Store.Apply(ctx, p, cqrs.Live, "", "1", add("a", "b", "a")))
		expect(t, p, cqrs.Live, "1", map[string]int{"a": 2, "b": 1})
		must(t, h.Store.Apply(ctx, p, cqrs.Live, "1", "2", add("b")))
		expect(t, p, cqrs.Live, "2", map[string]int{"a": 2, "b": 2})
	})

	t.Run("FailedApplyKeepsNothing", func(t *testing.T) {
		p := h.NewProjection(t)
		must(t, h.Store.Apply(ctx, p, cqrs.Live, "", "1", add("a")))
		boom := errors.New("handler failed")
		err := h.Store.Apply(ctx, p, cqrs.Live, "1", "2", func(ctx context.Context, tx Tx) error {
			if err := add("a", "a")(ctx, tx); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Apply = %v, want the handler's error", err)
		}
		expect(t, p, cqrs.Live, "1", map[string]int{"a": 1})
	})

	t.Run("MovedCheckpointRefused", func(t *testing.T) {
		p := h.NewProjection(t)
		must(t, h.Store.Apply(ctx, p, cqrs.Live, "", "1", add("a")))
		called := false
		err := h.Store.Apply(ctx, p, cqrs.Live, "", "2", func(context.Context, Tx) error { called = true; return nil })
		if !errors.Is(err, cqrs.ErrCheckpointMoved) {
			t.Fatalf("Apply from a stale checkpoint = %v, want ErrCheckpointMoved", err)
		}
		if called {
			t.Fatal("the handler ran on a moved checkpoint")
		}
		expect(t, p, cqrs.Live, "1", map[string]int{"a": 1})
	})

	t.Run("ConcurrentAppliesOneWins", func(t *testing.T) {
		p := h.NewProjection(t)
		const n = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		for i := range n {
			wg.Go(func() {
				err := h.Store.Apply(ctx, p, cqrs.Live, "", fmt.Sprint(i+1), add("a"))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, cqrs.ErrCheckpointMoved):
					t.Errorf("Apply %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d of %d concurrent Applies from the same checkpoint went through, want 1", wins, n)
		}
		if c, err := h.Count(ctx, p, "a"); err != nil || c != 1 {
			t.Fatalf("count %d, %v; want 1", c, err)
		}
	})

	t.Run("ShadowSwap", func(t *testing.T) {
		p := h.NewProjection(t)
		must(t, h.Store.Apply(ctx, p, cqrs.Live, "", "3", add("old", "old")))
		must(t, h.Store.ResetShadow(ctx, p))
		expect(t, p, cqrs.Shadow, "", nil)
		must(t, h.Store.Apply(ctx, p, cqrs.Shadow, "", "2", add("new")))
		expect(t, p, cqrs.Live, "3", map[string]int{"old": 2, "new": 0}) // the live model is untouched
		must(t, h.Store.ResetShadow(ctx, p))                             // starting again empties it
		must(t, h.Store.Apply(ctx, p, cqrs.Shadow, "", "4", add("new")))
		must(t, h.Store.PromoteShadow(ctx, p))
		expect(t, p, cqrs.Live, "4", map[string]int{"old": 0, "new": 1})
		if err := h.Store.PromoteShadow(ctx, p); err == nil {
			t.Fatal("a second PromoteShadow without a shadow succeeded")
		}
		must(t, h.Store.Apply(ctx, p, cqrs.Live, "4", "5", add("new")))
		expect(t, p, cqrs.Live, "5", map[string]int{"new": 2})
	})
}
