// Package statetest is the acceptance suite for stream.Store implementations: every store
// (stream.MemoryStore, stream/redisstate, stream/pgstate) runs it and must pass. It checks
// the store's operations one by one, compare-and-set under concurrent writers on two store
// values, and an Aggregate pipeline on a memory:// consumer whose state must equal a reference
// fold although updates crash after their commit, sends fail and acknowledgements get lost.
package statetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/courier-go/courier/stream"
)

// MinRemember is the fewest update IDs per key a store under test must remember.
const MinRemember = 100

// Run runs the suite. newStore returns a store for one subtest, remembering at least
// MinRemember IDs per key; it may be called several times per subtest, and the stores it
// returns within a subtest must share their state (as processes sharing a database do). The
// suite uses table names unique to each run, so a shared server may serve it.
func Run(t *testing.T, newStore func(t *testing.T) stream.Store) {
	t.Run("GetMissing", func(t *testing.T) { getMissing(t, newStore(t)) })
	t.Run("ApplyDuplicateConflict", func(t *testing.T) { applyDuplicateConflict(t, newStore(t)) })
	t.Run("Remember", func(t *testing.T) { remember(t, newStore(t)) })
	t.Run("ValuesByteExact", func(t *testing.T) { valuesByteExact(t, newStore(t)) })
	t.Run("TablesAndKeysApart", func(t *testing.T) { tablesAndKeysApart(t, newStore(t)) })
	t.Run("KeysAndDelete", func(t *testing.T) { keysAndDelete(t, newStore(t)) })
	t.Run("InvalidUpdate", func(t *testing.T) { invalidUpdate(t, newStore(t)) })
	t.Run("Cancelled", func(t *testing.T) { cancelled(t, newStore(t)) })
	t.Run("ConcurrentCounters", func(t *testing.T) { concurrentCounters(t, newStore(t), newStore(t)) })
	t.Run("AggregateEqualsReferenceFold", func(t *testing.T) { aggregateFold(t, newStore(t)) })
}

func table(t *testing.T) string {
	return fmt.Sprintf("statetest-%s-%x", t.Name(), rand.Uint64())
}

func apply(t *testing.T, s stream.Store, tbl, key string, u stream.Update) (stream.Outcome, stream.State) {
	t.Helper()
	out, st, err := s.Apply(context.Background(), tbl, key, u)
	if err != nil {
		t.Fatalf("Apply(%q, %q, %+v): %v", tbl, key, u, err)
	}
	return out, st
}

func get(t *testing.T, s stream.Store, tbl, key string) stream.State {
	t.Helper()
	st, err := s.Get(context.Background(), tbl, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", tbl, key, err)
	}
	return st
}

func want(t *testing.T, what string, gotOut, wantOut stream.Outcome, got stream.State, value string, version int64) {
	t.Helper()
	if gotOut != wantOut || string(got.Value) != value || got.Version != version {
		t.Errorf("%s: %v %q v%d; want %v %q v%d", what, gotOut, got.Value, got.Version, wantOut, value, version)
	}
}

func getMissing(t *testing.T, s stream.Store) {
	st := get(t, s, table(t), "nobody")
	if st.Version != 0 || len(st.Value) != 0 {
		t.Errorf("Get of a missing key = %+v; want version 0 and no value", st)
	}
}

func applyDuplicateConflict(t *testing.T, s stream.Store) {
	tbl := table(t)
	out, st := apply(t, s, tbl, "k", stream.Update{ID: "a", Expect: 0, Value: []byte("1")})
	want(t, "first update", out, stream.Applied, st, "1", 1)
	out, st = apply(t, s, tbl, "k", stream.Update{ID: "a", Expect: 1, Value: []byte("2")})
	want(t, "same ID again at the current version", out, stream.Duplicate, st, "1", 1)
	out, st = apply(t, s, tbl, "k", stream.Update{ID: "a", Expect: 0, Value: []byte("2")})
	want(t, "same ID again at the old version", out, stream.Duplicate, st, "1", 1)
	out, st = apply(t, s, tbl, "k", stream.Update{ID: "b", Expect: 0, Value: []byte("2")})
	want(t, "stale version", out, stream.Conflict, st, "1", 1)
	out, st = apply(t, s, tbl, "k", stream.Update{ID: "b", Expect: 7, Value: []byte("2")})
	want(t, "future version", out, stream.Conflict, st, "1", 1)
	out, st = apply(t, s, tbl, "k", stream.Update{ID: "b", Expect: 1, Value: []byte("2")})
	want(t, "second update after its conflicts", out, stream.Applied, st, "2", 2)
	st = get(t, s, tbl, "k")
	want(t, "Get", stream.Applied, stream.Applied, st, "2", 2)
	out, st = apply(t, s, tbl, "fresh", stream.Update{ID: "a", Expect: 1, Value: []byte("x")})
	want(t, "non-zero version on a missing key", out, stream.Conflict, st, "", 0)
}

func remember(t *testing.T, s stream.Store) {
	tbl := table(t)
	for i := range MinRemember + 1 {
		out, _ := apply(t, s, tbl, "k", stream.Update{ID: "id-" + strconv.Itoa(i), Expect: int64(i), Value: []byte(strconv.Itoa(i))})
		if out != stream.Applied {
			t.Fatalf("update %d: %v", i, out)
		}
	}
	// The latest MinRemember IDs are all still known, whatever the version they come with.
	for i := 1; i <= MinRemember; i++ {
		out, _ := apply(t, s, tbl, "k", stream.Update{ID: "id-" + strconv.Itoa(i), Expect: MinRemember + 1, Value: []byte("again")})
		if out != stream.Duplicate {
			t.Fatalf("update %d again after %d later ones: %v; want duplicate", i, MinRemember-i, out)
		}
	}
	st := get(t, s, tbl, "k")
	want(t, "after the repeats", stream.Applied, stream.Applied, st, strconv.Itoa(MinRemember), MinRemember+1)
}

func valuesByteExact(t *testing.T, s stream.Store) {
	tbl := table(t)
	for i, v := range [][]byte{{}, {0, 0xff, 0xfe, '\n', 0}, bytes.Repeat([]byte("é"), 50_000)} {
		key := "k" + strconv.Itoa(i)
		out, st := apply(t, s, tbl, key, stream.Update{ID: "a", Value: v})
		if out != stream.Applied || !bytes.Equal(st.Value, v) || st.Version != 1 {
			t.Errorf("value %d: Apply = %v %d bytes v%d", i, out, len(st.Value), st.Version)
		}
		if got := get(t, s, tbl, key); !bytes.Equal(got.Value, v) || got.Version != 1 {
			t.Errorf("value %d: Get = %d bytes v%d; want %d bytes v1", i, len(got.Value), got.Version, len(v))
		}
	}
}

func tablesAndKeysApart(t *testing.T, s stream.Store) {
	t1, t2 := table(t), table(t)
	keys := []string{"k", "k2", "", "a@1", "ü/ß:{x}", "*", "k\x00z"}
	for i, k := range keys {
		out, _ := apply(t, s, t1, k, stream.Update{ID: "same", Value: []byte(strconv.Itoa(i))})
		if out != stream.Applied {
			t.Fatalf("key %q: %v; the same ID on another key must apply", k, out)
		}
	}
	out, _ := apply(t, s, t2, "k", stream.Update{ID: "same", Value: []byte("other")})
	if out != stream.Applied {
		t.Fatalf("same key and ID in another table: %v; want applied", out)
	}
	for i, k := range keys {
		if st := get(t, s, t1, k); string(st.Value) != strconv.Itoa(i) || st.Version != 1 {
			t.Errorf("key %q = %q v%d; want %d v1", k, st.Value, st.Version, i)
		}
	}
	got, err := s.Keys(context.Background(), t1)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	w := slices.Sorted(slices.Values(keys))
	if !slices.Equal(got, w) {
		t.Errorf("Keys = %q; want %q", got, w)
	}
}

func keysAndDelete(t *testing.T, s stream.Store) {
	ctx := context.Background()
	tbl := table(t)
	if keys, err := s.Keys(ctx, tbl); err != nil || len(keys) != 0 {
		t.Fatalf("Keys of an empty table = %q, %v", keys, err)
	}
	apply(t, s, tbl, "a", stream.Update{ID: "1", Value: []byte("x")})
	apply(t, s, tbl, "b", stream.Update{ID: "1", Value: []byte("y")})
	if err := s.Delete(ctx, tbl, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, tbl, "missing"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if keys, err := s.Keys(ctx, tbl); err != nil || !slices.Equal(keys, []string{"b"}) {
		t.Errorf("Keys after Delete = %q, %v; want [b]", keys, err)
	}
	if st := get(t, s, tbl, "a"); st.Version != 0 {
		t.Errorf("Get after Delete = %+v; want version 0", st)
	}
	// Delete forgets the key's IDs too: the key starts over.
	out, st := apply(t, s, tbl, "a", stream.Update{ID: "1", Expect: 0, Value: []byte("z")})
	want(t, "re-created key", out, stream.Applied, st, "z", 1)
}

func invalidUpdate(t *testing.T, s stream.Store) {
	ctx := context.Background()
	for _, c := range []struct {
		tbl string
		u   stream.Update
	}{{table(t), stream.Update{Value: []byte("x")}}, {table(t), stream.Update{ID: "a", Expect: -1}}, {"", stream.Update{ID: "a"}}} {
		if _, _, err := s.Apply(ctx, c.tbl, "k", c.u); !errors.Is(err, stream.ErrInvalidUpdate) {
			t.Errorf("Apply(%q, %+v) = %v; want ErrInvalidUpdate", c.tbl, c.u, err)
		}
	}
}

func cancelled(t *testing.T, s stream.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tbl := table(t)
	if _, _, err := s.Apply(ctx, tbl, "k", stream.Update{ID: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context = %v; want context.Canceled", err)
	}
	if _, err := s.Get(ctx, tbl, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context = %v; want context.Canceled", err)
	}
	if st := get(t, s, tbl, "k"); st.Version != 0 {
		t.Errorf("a cancelled Apply left %+v", st)
	}
}

// concurrentCounters has workers on two stores increment shared keys with compare-and-set,
// every increment tried twice (a redelivery): each key ends at the number of distinct IDs.
func concurrentCounters(t *testing.T, a, b stream.Store) {
	const workers, perWorker, keys = 8, 40, 3
	tbl := table(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range perWorker {
				key := "k" + strconv.Itoa(i%keys)
				id := fmt.Sprintf("w%d-%d", w, i)
				for range 2 {
					if err := increment(ctx, s, tbl, key, id); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := int64(0)
	for k := range keys {
		st := get(t, a, tbl, "k"+strconv.Itoa(k))
		n, err := strconv.ParseInt(string(st.Value), 10, 64)
		if err != nil {
			t.Fatalf("key k%d value %q: %v", k, st.Value, err)
		}
		if st.Version != n {
			t.Errorf("key k%d: count %d at version %d; every applied update adds one to both", k, n, st.Version)
		}
		total += n
	}
	if total != workers*perWorker {
		t.Errorf("counted %d increments; want %d", total, workers*perWorker)
	}
}

func increment(ctx context.Context, s stream.Store, tbl, key, id string) error {
	for {
		st, err := s.Get(ctx, tbl, key)
		if err != nil {
			return err
		}
		n := int64(0)
		if st.Version > 0 {
			if n, err = strconv.ParseInt(string(st.Value), 10, 64); err != nil {
				return err
			}
		}
		out, _, err := s.Apply(ctx, tbl, key, stream.Update{ID: id, Expect: st.Version, Value: []byte(strconv.FormatInt(n+1, 10))})
		if err != nil || out != stream.Conflict {
			return err
		}
	}
}
