package estest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/courier-go/courier/eventsource/aggregate"
)

// RunSnapshots checks an aggregate.SnapshotStore: nothing for an unknown stream, a byte-exact
// round trip, a later snapshot replacing an earlier one, and an earlier one never replacing
// a later one.
func RunSnapshots(t *testing.T, s aggregate.SnapshotStore) {
	ctx := t.Context()
	stream := fmt.Sprintf("snap-%x", rand.Uint64())
	if _, ok, err := s.LoadSnapshot(ctx, stream); ok || err != nil {
		t.Fatalf("LoadSnapshot of a stream without one = %v, %v", ok, err)
	}
	save := func(version int64, state []byte) {
		t.Helper()
		if err := s.SaveSnapshot(ctx, aggregate.Snapshot{Stream: stream, Version: version, Schema: "v1", State: state}); err != nil {
			t.Fatal(err)
		}
	}
	load := func(wantVersion int64, wantState []byte) {
		t.Helper()
		got, ok, err := s.LoadSnapshot(ctx, stream)
		if err != nil || !ok || got.Version != wantVersion || got.Schema != "v1" || got.Stream != stream || !bytes.Equal(got.State, wantState) {
			t.Fatalf("LoadSnapshot = %+v, %v, %v; want version %d state %q", got, ok, err, wantVersion, wantState)
		}
	}
	save(5, []byte{0, 0xff, '{'})
	load(5, []byte{0, 0xff, '{'})
	save(9, []byte(`{"balance":9}`))
	load(9, []byte(`{"balance":9}`))
	save(7, []byte(`stale`))
	load(9, []byte(`{"balance":9}`))
}
