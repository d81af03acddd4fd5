package breaker_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
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
