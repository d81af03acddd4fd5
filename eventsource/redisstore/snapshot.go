package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/courier-go/courier/eventsource/aggregate"
	"github.com/redis/go-redis/v9"
)

// saveSnapshotScript stores a snapshot (hash fields v, schema, state) unless a later one is
// there. KEYS: 1 the snapshot's hash. ARGV: version, schema, state.
var saveSnapshotScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'schema', ARGV[2], 'state', ARGV[3])
return 1`)

func (s *Store) snapshotKey(stream string) string { return s.tag + "snap:" + stream }

// LoadSnapshot implements aggregate.SnapshotStore.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (aggregate.Snapshot, bool, error) {
	vals, err := s.rdb.HMGet(ctx, s.snapshotKey(stream), "v", "schema", "state").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return aggregate.Snapshot{}, false, fmt.Errorf("redisstore: load snapshot of stream %q: %w", stream, err)
	}
	v, _ := vals[0].(string)
	if v == "" {
		return aggregate.Snapshot{}, false, nil
	}
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return aggregate.Snapshot{}, false, fmt.Errorf("redisstore: snapshot of stream %q: malformed version %q", stream, v)
	}
	schema, _ := vals[1].(string)
	state, _ := vals[2].(string)
	return aggregate.Snapshot{Stream: stream, Version: version, Schema: schema, State: []byte(state)}, true, nil
}

// SaveSnapshot implements aggregate.SnapshotStore: it keeps the later of two snapshots.
func (s *Store) SaveSnapshot(ctx context.Context, snap aggregate.Snapshot) error {
	err := saveSnapshotScript.Run(ctx, s.rdb, []string{s.snapshotKey(snap.Stream)}, snap.Version, snap.Schema, snap.State).Err()
	if err != nil {
		return fmt.Errorf("redisstore: save snapshot of stream %q: %w", snap.Stream, err)
	}
	return nil
}
