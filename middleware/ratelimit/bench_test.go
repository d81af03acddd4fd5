package ratelimit_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
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
