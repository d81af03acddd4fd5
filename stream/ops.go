package stream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/courier-go/courier"
)

// Filter passes on the records whose value keep reports true.
func Filter[T any](s *Stream[T], keep func(T) bool) *Stream[T] {
	out := derived[T](s)
	if keep == nil {
		s.p.fail("Filter", "nil function")
		return out
	}
	s.then("Filter", func(ctx context.Context, r *run, rec Record[T]) error {
		if !keep(rec.Value) {
			return nil
		}
		return out.emit(ctx, r, rec)
	})
	return out
}

// Map passes on f of each record's value, with the record's key and time. An error from f
// makes the input message come back.
func Map[T, U any](s *Stream[T], f func(T) (U, error)) *Stream[U] {
	out := derived[U](s)
	if f == nil {
		s.p.fail("Map", "nil function")
		return out
	}
	s.then("Map", func(ctx context.Context, r *run, rec Record[T]) error {
		v, err := f(rec.Value)
		if err != nil {
			return fmt.Errorf("map: %w", err)
		}
		return out.emit(ctx, r, Record[U]{Key: rec.Key, Value: v, Time: rec.Time})
	})
	return out
}

// FlatMap passes on every value f returns for a record (none, one or many), in order, each
// with the record's key and time.
func FlatMap[T, U any](s *Stream[T], f func(T) ([]U, error)) *Stream[U] {
	out := derived[U](s)
	if f == nil {
		s.p.fail("FlatMap", "nil function")
		return out
	}
	s.then("FlatMap", func(ctx context.Context, r *run, rec Record[T]) error {
		vs, err := f(rec.Value)
		if err != nil {
			return fmt.Errorf("flatmap: %w", err)
		}
		for _, v := range vs {
			if err := out.emit(ctx, r, Record[U]{Key: rec.Key, Value: v, Time: rec.Time}); err != nil {
				return err
			}
		}
		return nil
	})
	return out
}

// SelectKey gives each record the key f returns. Stages after it (Aggregate, To) use the new
// key; the consumer's per-key order is still that of the input messages' keys, so keyed state
// behind a SelectKey relies on its store's compare-and-set to stay exact.
func SelectKey[T any](s *Stream[T], f func(Record[T]) string) *Stream[T] {
	out := derived[T](s)
	if f == nil {
		s.p.fail("SelectKey", "nil function")
		return out
	}
	s.then("SelectKey", func(ctx context.Context, r *run, rec Record[T]) error {
		rec.Key = f(rec)
		return out.emit(ctx, r, rec)
	})
	return out
}

// Branch splits s by predicates: a record goes to the stream of the first predicate it
// satisfies, and to none if it satisfies none. It returns one stream per predicate, in order.
func Branch[T any](s *Stream[T], preds ...func(T) bool) []*Stream[T] {
	outs := make([]*Stream[T], len(preds))
	for i := range outs {
		outs[i] = derived[T](s)
	}
	if len(preds) == 0 {
		s.p.fail("Branch", "no predicates")
		return outs
	}
	for i, pred := range preds {
		if pred == nil {
			s.p.fail("Branch", "predicate %d is nil", i)
			return outs
		}
	}
	s.then("Branch", func(ctx context.Context, r *run, rec Record[T]) error {
		for i, pred := range preds {
			if pred(rec.Value) {
				return outs[i].emit(ctx, r, rec)
			}
		}
		return nil
	})
	return outs
}

// Foreach calls f for every record: a sink for side effects (printing, metrics). An error from
// f makes the input message come back, so f should be idempotent.
func Foreach[T any](s *Stream[T], f func(ctx context.Context, rec Record[T]) error) {
	if f == nil {
		s.p.fail("Foreach", "nil function")
		return
	}
	s.then("Foreach", func(ctx context.Context, _ *run, rec Record[T]) error { return f(ctx, rec) })
}

// To sends every record to topic through prod, its value encoded by enc, with the record's key
// and time. Output IDs are derived from the input message's ID and the output's index (see
// DeriveID), so a redelivered input sends the same IDs again. An input's outputs are sent
// together once it has gone through the whole pipeline; the input is acknowledged only after
// they were all sent.
func To[T any](s *Stream[T], prod courier.Producer, topic string, enc Encoder[T]) {
	switch {
	case prod == nil:
		s.p.fail("To", "nil Producer")
		return
	case topic == "":
		s.p.fail("To", "empty topic")
		return
	case enc == nil:
		s.p.fail("To", "topic %q: nil Encoder", topic)
		return
	}
	s.p.attach("To", func() {
		s.p.sends()
		s.next = append(s.next, func(_ context.Context, r *run, rec Record[T]) error {
			v, err := enc(rec.Value)
			if err != nil {
				return fmt.Errorf("encoding for topic %q: %w", topic, err)
			}
			r.output(prod, courier.Message{Topic: topic, Key: rec.Key, Value: v, Timestamp: rec.Time})
			return nil
		})
	})
}

// JSON returns a Decoder that unmarshals a message's value as JSON into a T.
func JSON[T any]() Decoder[T] {
	return func(msg courier.Message) (T, error) {
		var v T
		err := json.Unmarshal(msg.Value, &v)
		return v, err
	}
}

// JSONEncoder returns an Encoder that marshals a T as JSON.
func JSONEncoder[T any]() Encoder[T] {
	return func(v T) ([]byte, error) { return json.Marshal(v) }
}

// Bytes is a Decoder that passes a message's value through as it is.
func Bytes(msg courier.Message) ([]byte, error) { return msg.Value, nil }

// String is a Decoder that takes a message's value as a string.
func String(msg courier.Message) (string, error) { return string(msg.Value), nil }
