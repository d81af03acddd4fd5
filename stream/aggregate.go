package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Codec turns state values into bytes for a Store and back.
type Codec[S any] struct {
	Encode func(S) ([]byte, error)
	Decode func([]byte) (S, error)
}

// JSONCodec returns a Codec that keeps state as JSON.
func JSONCodec[S any]() Codec[S] {
	return Codec[S]{
		Encode: func(v S) ([]byte, error) { return json.Marshal(v) },
		Decode: func(b []byte) (S, error) {
			var v S
			err := json.Unmarshal(b, &v)
			return v, err
		},
	}
}

// Int64Codec keeps an int64 as its decimal text.
var Int64Codec = Codec[int64]{
	Encode: func(v int64) ([]byte, error) { return strconv.AppendInt(nil, v, 10), nil },
	Decode: func(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) },
}

// DefaultMaxConflicts is how many compare-and-set conflicts in a row an update tolerates by
// default before its input message is handed back for redelivery.
const DefaultMaxConflicts = 100

// ErrConflicts is wrapped by the error of an update that lost the compare-and-set
// Aggregation.MaxConflicts times in a row; its input message comes back later.
var ErrConflicts = errors.New("stream: too many state conflicts")

// Aggregation says how Aggregate and Window fold records into keyed state.
type Aggregation[T, S any] struct {
	// Name names the state table, within the pipeline's name. Required; unique per pipeline.
	Name string
	// Store keeps the state. Required.
	Store Store
	// Codec turns the state into bytes and back. Required.
	Codec Codec[S]
	// Init returns the state of a key before its first record; nil means S's zero value.
	Init func() S
	// Add returns the state after record v of key; it must not modify agg in place if agg
	// holds references (it may run again for the same record after a conflict). Required.
	Add func(key string, agg S, v T) S
	// MaxConflicts bounds the compare-and-set retries of one update; 0 means
	// DefaultMaxConflicts.
	MaxConflicts int
}

// Validate says what is wrong with a, wrapping courier.ErrInvalidConfig.
func (a Aggregation[T, S]) validate() []string {
	var problems []string
	if a.Name == "" {
		problems = append(problems, "empty Name")
	}
	if a.Store == nil {
		problems = append(problems, "nil Store")
	}
	if a.Codec.Encode == nil || a.Codec.Decode == nil {
		problems = append(problems, "Codec without Encode or Decode")
	}
	if a.Add == nil {
		problems = append(problems, "nil Add")
	}
	if a.MaxConflicts < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxConflicts %d", a.MaxConflicts))
	}
	return problems
}

// keyed is an Aggregation ready to run in a pipeline: its table and its decoded state.
type keyed[T, S any] struct {
	Aggregation[T, S]
	table string
}

func newKeyed[T, S any](p *Pipeline, a Aggregation[T, S]) *keyed[T, S] {
	if a.MaxConflicts == 0 {
		a.MaxConflicts = DefaultMaxConflicts
	}
	return &keyed[T, S]{Aggregation: a, table: p.name + "/" + a.Name}
}

func (k *keyed[T, S]) decode(st State) (S, error) {
	if st.Version == 0 {
		if k.Init != nil {
			return k.Init(), nil
		}
		var zero S
		return zero, nil
	}
	v, err := k.Codec.Decode(st.Value)
	if err != nil {
		return v, fmt.Errorf("state table %q: decoding: %w", k.table, err)
	}
	return v, nil
}

// add folds v into key's state under the update ID id, retrying on compare-and-set conflicts.
// It returns the key's state after the update; applied is false when id was applied before
// (then the state is the key's current one).
func (k *keyed[T, S]) add(ctx context.Context, key, id string, v T) (agg S, applied bool, err error) {
	st, err := k.Store.Get(ctx, k.table, key)
	if err != nil {
		return agg, false, fmt.Errorf("state table %q key %q: %w", k.table, key, err)
	}
	for range k.MaxConflicts {
		cur, err := k.decode(st)
		if err != nil {
			return agg, false, err
		}
		next := k.Add(key, cur, v)
		b, err := k.Codec.Encode(next)
		if err != nil {
			return agg, false, fmt.Errorf("state table %q: encoding: %w", k.table, err)
		}
		out, now, err := k.Store.Apply(ctx, k.table, key, Update{ID: id, Expect: st.Version, Value: b})
		if err != nil {
			return agg, false, fmt.Errorf("state table %q key %q: %w", k.table, key, err)
		}
		switch out {
		case Applied:
			return next, true, nil
		case Duplicate:
			agg, err = k.decode(now)
			return agg, false, err
		}
		st = now
	}
	return agg, false, fmt.Errorf("%w: state table %q key %q: %d conflicts", ErrConflicts, k.table, key, k.MaxConflicts)
}

// Aggregate folds the records of s by key into state kept in a.Store and passes on each key's
// new state, with the record's key and time (a changelog of the table).
//
// Each update is applied and its record's ID (the input message's ID and the record's index)
// remembered in one atomic step, so a redelivered input never counts twice; it passes on the
// key's current state again, and outputs further down get the same IDs as the first time.
// Updates are compare-and-set on the key's version, so several consumers may update one key
// (brokers that do not route a key to one consumer, SelectKey): a loser recomputes and retries.
func Aggregate[T, S any](s *Stream[T], a Aggregation[T, S]) *Stream[S] {
	out := derived[S](s)
	if problems := a.validate(); len(problems) > 0 {
		for _, p := range problems {
			s.p.fail("Aggregate", "%s", p)
		}
		return out
	}
	if !s.p.claimTable("Aggregate", a.Name) {
		return out
	}
	k := newKeyed(s.p, a)
	node := s.p.newNode()
	s.then("Aggregate", func(ctx context.Context, r *run, rec Record[T]) error {
		agg, _, err := k.add(ctx, rec.Key, r.recordID(node), rec.Value)
		if err != nil {
			return err
		}
		return out.emit(ctx, r, Record[S]{Key: rec.Key, Value: agg, Time: rec.Time})
	})
	return out
}

// Count counts the records of s by key in store, under the table name, and passes on each
// key's new count. It is Aggregate with an int64 state.
func Count[T any](s *Stream[T], store Store, name string) *Stream[int64] {
	return Aggregate(s, Aggregation[T, int64]{
		Name: name, Store: store, Codec: Int64Codec,
		Add: func(_ string, n int64, _ T) int64 { return n + 1 },
	})
}
