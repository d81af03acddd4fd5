package breaker_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware/internal/sidebyside"
	"github.com/sony/gobreaker/v2"
)

// Run: cd middleware/breaker && go test -run '^$' -bench . -benchmem
// Budget (issue 16): the middleware at most gobreaker's Execute + 100 ns, both on a closed
// breaker with a request that succeeds.
func BenchmarkBreaker(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("gobreaker.Execute", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(func() (struct{}, error) { return struct{}{}, nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Middleware", func(b *testing.B) {
		h := mustNew(b, gobreaker.Settings{}).Middleware()(courier.HandlerFunc(func(context.Context, courier.Message) error { return nil }))
		msg := courier.Message{ID: "m", Topic: "t"}
		b.ReportAllocs()
		for b.Loop() {
			if err := h.HandleMessage(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBreakerSideBySide alternates the two in rounds (see sidebyside) and reports the
// middleware's median delta to gobreaker's Execute: the budget is 100 ns.
// Run: go test -run '^$' -bench SideBySide -benchtime 50x
func BenchmarkBreakerSideBySide(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{})
	req := func() (struct{}, error) { return struct{}{}, nil }
	h := mustNew(b, gobreaker.Settings{}).Middleware()(courier.HandlerFunc(func(context.Context, courier.Message) error { return nil }))
	msg := courier.Message{ID: "m", Topic: "t"}
	sidebyside.Bench(b, 20000,
		sidebyside.Side{Name: "Execute", Op: func() { cb.Execute(req) }},
		sidebyside.Side{Name: "Middleware", Op: func() { h.HandleMessage(ctx, msg) }})
}
