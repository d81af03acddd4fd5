// Package estest is the acceptance suite for eventsource.Store implementations: the
// brokertest of event stores. Every backend in this repository runs it, and a backend
// written elsewhere can run it too:
//
//	func TestStore(t *testing.T) {
//		estest.Run(t, estest.Backend{New: func(t testing.TB) eventsource.Store { return newStore(t) }})
//	}
//
// It checks input validation, the whole expected-version matrix, safe retries, reads in both
// directions, byte-exact round trips, competing writers (16 writers at the same expected
// version for 200 rounds: one winner per round, every loser a *ConflictError with the actual
// version), and a ReadAll follower that runs while 8 writers append with random commit
// delays and must see every event exactly once, in order per stream; a subscription stopped
// and restarted from its checkpoint handles each event once, in order; outbox relays killed
// at random points get every event to the broker, in order per stream, one relay at a time;
// an aggregate loaded from snapshot + tail equals a full replay (a rapid property test); and
// the unknown-event-type policy holds.
//
// Backend's optional fields plug in what a backend has of its own: a way to hold an append
// uncommitted for a while (AppendDelayed), its checkpoint store, lease and snapshot store.
// RunLease and RunSnapshots check a Lease and an aggregate.SnapshotStore on their own. The
// whole suite takes about 15 s per backend under -race (10 s of it the live follower; 2 s
// with -short).
package estest

import (
	"context"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/aggregate"
)

// Backend describes the store under test.
type Backend struct {
	// New returns a new, empty store for one test, and arranges its cleanup with t.Cleanup
	// (the suite also calls Close, which must be idempotent). Required.
	New func(t testing.TB) eventsource.Store
	// AppendDelayed appends like Append, but keeps the append uncommitted for delay before
	// committing it (pgstore: AppendTx, then wait, then commit), so that the follower test
	// sees late commits. nil means waiting for delay before an ordinary Append.
	AppendDelayed func(ctx context.Context, s eventsource.Store, delay time.Duration, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error)
	// MaxEventSize is the store's limit on EventData.Size; 0 means
	// eventsource.DefaultMaxEventSize.
	MaxEventSize int
	// Checkpoints returns the checkpoint store for the subscription and relay tests; nil
	// means an eventsource.MemoryCheckpoints.
	Checkpoints func(t testing.TB, s eventsource.Store) eventsource.CheckpointStore
	// Lease returns the lease the relay test's relays contend for; nil means an
	// eventsource.LocalLease.
	Lease func(t testing.TB, s eventsource.Store) eventsource.Lease
	// Snapshots returns the snapshot store for the aggregate tests; nil means an
	// aggregate.MemorySnapshots.
	Snapshots func(t testing.TB, s eventsource.Store) aggregate.SnapshotStore
	// FollowFor is how long the live ReadAll follower test runs; 0 means 10 s (2 s with
	// -short).
	FollowFor time.Duration
}

// Run runs the whole suite against b, each case as a subtest.
func Run(t *testing.T, b Backend) {
	if b.New == nil {
		t.Fatal("estest: Backend.New is nil")
	}
	if b.MaxEventSize == 0 {
		b.MaxEventSize = eventsource.DefaultMaxEventSize
	}
	if b.FollowFor == 0 {
		b.FollowFor = 10 * time.Second
		if testing.Short() {
			b.FollowFor = 2 * time.Second
		}
	}
	cases := []struct {
		name string
		run  func(*testing.T, Backend)
	}{
		{"InvalidInput", testInvalidInput},
		{"RoundTrip", testRoundTrip},
		{"ExpectedVersionMatrix", testExpectedVersionMatrix},
		{"IdempotentRetry", testIdempotentRetry},
		{"DuplicateEventID", testDuplicateEventID},
		{"ReadStream", testReadStream},
		{"ReadAllFilterLimit", testReadAllFilterLimit},
		{"PositionRoundTrip", testPositionRoundTrip},
		{"Closed", testClosed},
		{"CompetingWriters", testCompetingWriters},
		{"Notifier", testNotifier},
		{"FollowLive", testFollowLive},
		{"SubscriptionRestart", testSubscriptionRestart},
		{"RelayKilled", testRelayKilled},
		{"AggregateSnapshotPlusTail", testAggregateReplay},
		{"UnknownEventType", testUnknownEventType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, b) })
	}
}

func newStore(t *testing.T, b Backend) eventsource.Store {
	t.Helper()
	s := b.New(t)
	if s == nil {
		t.Fatal("estest: Backend.New returned nil")
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (b Backend) checkpoints(t testing.TB, s eventsource.Store) eventsource.CheckpointStore {
	if b.Checkpoints != nil {
		return b.Checkpoints(t, s)
	}
	return &eventsource.MemoryCheckpoints{}
}

func (b Backend) lease(t testing.TB, s eventsource.Store) eventsource.Lease {
	if b.Lease != nil {
		return b.Lease(t, s)
	}
	return &eventsource.LocalLease{}
}

func (b Backend) snapshots(t testing.TB, s eventsource.Store) aggregate.SnapshotStore {
	if b.Snapshots != nil {
		return b.Snapshots(t, s)
	}
	return &aggregate.MemorySnapshots{}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
