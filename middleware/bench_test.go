package middleware_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware"
	"github.com/courier-go/courier/middleware/internal/sidebyside"
)

// Run: go test -run '^$' -bench . -benchmem ./middleware/
// Budgets (issue 16): Recover+Timeout <= 100 ns and 0 allocs per message; memory dedup
// <= 1 us and 0 allocs in steady state.

var noop = courier.HandlerFunc(func(context.Context, courier.Message) error { return nil })

func BenchmarkRecoverTimeout(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background()) // a consumer's context can end
	defer cancel()
	msg := courier.Message{ID: "m", Topic: "orders"}
	b.Run("middleware", func(b *testing.B) {
		h := courier.Chain(noop, middleware.Recover(slog.Default()), mustTimeout(b, time.Minute))
		b.ReportAllocs()
		for b.Loop() {
			if err := h.HandleMessage(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same with the handler calling ctx.Done(), as one that selects on its context does.
	// The same with a handler that looks at ctx.Done(), as one selecting on its context does:
	// then the channel, a timer and a watch on the parent are made (and allocated).
	b.Run("middleware+Done", func(b *testing.B) {
		h := courier.Chain(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			default:
				return nil
			}
		}), middleware.Recover(slog.Default()), mustTimeout(b, time.Minute))
		b.ReportAllocs()
		for b.Loop() {
			if err := h.HandleMessage(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDedupMemory(b *testing.B) {
	ctx := context.Background()
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("%016x", i)
	}
	// New messages, in a store kept full: each message claims, commits and pushes the
	// oldest key out.
	b.Run("new", func(b *testing.B) {
		store := newMemoryStore(b, 1<<12)
		h := mustDedup(b, middleware.DedupConfig{Store: store})(noop)
		msg := courier.Message{Topic: "orders"}
		for i := range 1 << 13 { // warm up: fill the store and grow its map
			msg.ID = ids[i]
			h.HandleMessage(ctx, msg)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			msg.ID = ids[i&(len(ids)-1)]
			i++
			if err := h.HandleMessage(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Copies of committed messages: a claim that finds the key done.
	b.Run("duplicate", func(b *testing.B) {
		store := newMemoryStore(b, 1<<12)
		h := mustDedup(b, middleware.DedupConfig{Store: store})(noop)
		msg := courier.Message{ID: ids[0], Topic: "orders"}
		h.HandleMessage(ctx, msg)
		b.ReportAllocs()
		for b.Loop() {
			if err := h.HandleMessage(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRecoverTimeoutSideBySide alternates a bare handler call, the two middleware and
// their hand-written stdlib equivalent in rounds (see sidebyside); the middleware's median
// delta to the bare call is its cost per message (budget: 100 ns). The side "clock" is a bare
// call plus one time.Now, which Timeout cannot do without: on machines whose clock is slow to
// read (some VMs) that call alone is most of the cost.
// Run: go test -run '^$' -bench SideBySide -benchtime 50x ./middleware/
var clock time.Time

func BenchmarkRecoverTimeoutSideBySide(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg := courier.Message{ID: "m", Topic: "orders"}
	var bare courier.MessageHandler = noop
	mw := courier.Chain(noop, middleware.Recover(slog.Default()), mustTimeout(b, time.Minute))
	stdlib := courier.HandlerFunc(func(ctx context.Context, msg courier.Message) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("panic: %v", v)
			}
		}()
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return noop(ctx, msg)
	})
	sidebyside.Bench(b, 20000,
		sidebyside.Side{Name: "bare", Op: func() { bare.HandleMessage(ctx, msg) }},
		sidebyside.Side{Name: "clock", Op: func() { clock = time.Now(); bare.HandleMessage(ctx, msg) }},
		sidebyside.Side{Name: "Recover+Timeout", Op: func() { mw.HandleMessage(ctx, msg) }},
		sidebyside.Side{Name: "stdlib", Op: func() { stdlib.HandleMessage(ctx, msg) }})
}
