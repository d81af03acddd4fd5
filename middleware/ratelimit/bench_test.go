package ratelimit_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware/internal/sidebyside"
	"golang.org/x/time/rate"
)

// Run: cd middleware/ratelimit && go test -run '^$' -bench . -benchmem
// Budget (issue 16): the middleware at most Limiter.Allow + 100 ns. Both use a limiter that
// always has a token, so neither waits.
func BenchmarkRateLimit(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("Limiter.Allow", func(b *testing.B) {
		l := rate.NewLimiter(1e12, 1e9)
		b.ReportAllocs()
		for b.Loop() {
			if !l.Allow() {
				b.Fatal("no token")
			}
		}
	})
	b.Run("Middleware", func(b *testing.B) {
		h := mustMiddleware(b, rate.NewLimiter(1e12, 1e9))(noop)
		msg := courier.Message{ID: "m", Topic: "t"}
		b.ReportAllocs()
		for b.Loop() {
			if err := h.HandleMessage(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRateLimitSideBySide alternates the two in rounds (see sidebyside) and reports the
// middleware's median delta to Limiter.Allow: the budget is 100 ns.
// Run: go test -run '^$' -bench SideBySide -benchtime 50x
func BenchmarkRateLimitSideBySide(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := rate.NewLimiter(1e12, 1e9)
	lm := rate.NewLimiter(1e12, 1e9)
	h := mustMiddleware(b, lm)(noop)
	msg := courier.Message{ID: "m", Topic: "t"}
	sidebyside.Bench(b, 20000,
		sidebyside.Side{Name: "Allow", Op: func() { l.Allow() }},
		sidebyside.Side{Name: "Middleware", Op: func() { h.HandleMessage(ctx, msg) }})
}
