package estest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/aggregate"
	"pgregory.net/rapid"
)

// The domain of the aggregate tests: a tally whose Trail depends on the order of its events,
// so that a fold in the wrong order, a lost or a doubled event shows.
type (
	tallyAdded      struct{ N int64 }
	tallySubtracted struct{ N int64 }
	tally           struct {
		Sum    int64
		Trail  uint64
		Events int
	}
)

func evolveTally(s tally, e any) tally {
	s.Events++
	switch e := e.(type) {
	case tallyAdded:
		s.Sum += e.N
		s.Trail = s.Trail*31 + uint64(e.N)
	case tallySubtracted:
		s.Sum -= e.N
		s.Trail = s.Trail*37 + uint64(e.N)
	}
	return s
}

var errBelowZero = errors.New("tally would go below zero")

func tallyRegistry(t interface{ Fatal(...any) }, policy eventsource.UnknownPolicy) *eventsource.Registry {
	r, err := eventsource.NewRegistry(eventsource.RegistryConfig{Unknown: policy})
	if err == nil {
		err = eventsource.Register[tallyAdded](r, "TallyAdded")
	}
	if err == nil {
		err = eventsource.Register[tallySubtracted](r, "TallySubtracted")
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// RunAggregateProperty checks, with random commands and random snapshot settings, that an
// aggregate loaded from a snapshot and the events after it equals the fold of its whole
// stream (pgregory.net/rapid finds and shrinks a counterexample).
func RunAggregateProperty(t *testing.T, store eventsource.Store, snaps aggregate.SnapshotStore) {
	rapid.Check(t, func(rt *rapid.T) {
		prefix := fmt.Sprintf("tally-%x-", rand.Uint64())
		every := rapid.IntRange(0, 5).Draw(rt, "snapshotEvery")
		slow := rapid.Bool().Draw(rt, "snapshotOnEveryLoad")
		cfg := aggregate.Config[tally]{Store: store, Registry: tallyRegistry(rt, eventsource.UnknownFail), Evolve: evolveTally,
			Stream: func(id string) string { return prefix + id }}
		replay, err := aggregate.New(cfg)
		if err != nil {
			rt.Fatal(err)
		}
		cfg.Snapshots, cfg.SnapshotEvery = snaps, every
		if slow {
			cfg.SnapshotAfter = time.Nanosecond
		}
		withSnaps, err := aggregate.New(cfg)
		if err != nil {
			rt.Fatal(err)
		}
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for i := range steps {
			id := rapid.SampledFrom([]string{"a", "b"}).Draw(rt, fmt.Sprint("id", i))
			n := rapid.Int64Range(1, 9).Draw(rt, fmt.Sprint("n", i))
			count := rapid.IntRange(1, 3).Draw(rt, fmt.Sprint("events", i))
			add := rapid.Bool().Draw(rt, fmt.Sprint("add", i))
			_, err := withSnaps.Handle(rt.Context(), id, func(s tally) ([]any, error) {
				var out []any
				for range count {
					if add {
						out = append(out, tallyAdded{N: n})
					} else if s.Sum-n*int64(len(out)+1) < 0 {
						return nil, errBelowZero
					} else {
						out = append(out, tallySubtracted{N: n})
					}
				}
				return out, nil
			})
			if err != nil && !errors.Is(err, errBelowZero) {
				rt.Fatal(err)
			}
			got, err := withSnaps.Load(rt.Context(), id)
			if err != nil {
				rt.Fatal(err)
			}
			want, err := replay.Load(rt.Context(), id)
			if err != nil {
				rt.Fatal(err)
			}
			if got.State != want.State || got.Version != want.Version || want.SnapshotVersion != 0 {
				rt.Fatalf("%s after step %d: snapshot %d + %d events = %+v at version %d; full replay = %+v at version %d",
					id, i, got.SnapshotVersion, got.Replayed, got.State, got.Version, want.State, want.Version)
			}
		}
	})
}

func testAggregateReplay(t *testing.T, b Backend) {
	store := newStore(t, b)
	RunAggregateProperty(t, store, b.snapshots(t, store))
}

// testUnknownEventType: loading an aggregate with an event of an unregistered type fails
// with an error naming stream, version and type, or, under UnknownSkip, skips and counts it.
func testUnknownEventType(t *testing.T, b Backend) {
	store := newStore(t, b)
	stream := uniq("tally")
	if _, err := store.Append(t.Context(), stream, eventsource.NoStream,
		eventsource.EventData{Type: "TallyAdded", Data: []byte(`{"N":2}`)},
		eventsource.EventData{Type: "TallyRenamed", Data: []byte(`{}`)},
		eventsource.EventData{Type: "TallyAdded", Data: []byte(`{"N":3}`)}); err != nil {
		t.Fatal(err)
	}
	load := func(reg *eventsource.Registry) (aggregate.Loaded[tally], error) {
		r, err := aggregate.New(aggregate.Config[tally]{Store: store, Registry: reg, Evolve: evolveTally})
		if err != nil {
			t.Fatal(err)
		}
		return r.Load(t.Context(), stream)
	}
	_, err := load(tallyRegistry(t, eventsource.UnknownFail))
	var ute *eventsource.UnknownTypeError
	if !errors.As(err, &ute) || ute.Stream != stream || ute.Version != 2 || ute.Type != "TallyRenamed" {
		t.Errorf("load with an unknown type: %v, want an *UnknownTypeError naming %s version 2 TallyRenamed", err, stream)
	}
	reg := tallyRegistry(t, eventsource.UnknownSkip)
	got, err := load(reg)
	if err != nil || got.Version != 3 || got.State.Sum != 5 || got.State.Events != 2 || reg.Skipped() != 1 {
		t.Errorf("load skipping unknown types = %+v, %v (skipped %d); want version 3, sum 5, 1 skipped", got, err, reg.Skipped())
	}
}
