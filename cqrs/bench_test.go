package cqrs_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier/cqrs"
)

// What the in-process buses add to a handler call: go test -run '^$' -bench InProcess ./cqrs/
func BenchmarkInProcess(b *testing.B) {
	ctx := context.Background()
	b.Run("SendCommand", func(b *testing.B) {
		bus, _ := cqrs.NewCommandBus(cqrs.CommandBusConfig{})
		n := 0
		if err := cqrs.HandleCommand(bus, func(_ context.Context, c PlaceOrder) error { n += c.Amount; return nil }); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := cqrs.SendCommand(ctx, bus, PlaceOrder{OrderID: "o1", Amount: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Ask", func(b *testing.B) {
		var bus cqrs.QueryBus
		if err := cqrs.HandleQuery(&bus, func(_ context.Context, q OrderShipped) (int, error) { return len(q.OrderID), nil }); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cqrs.Ask[int](ctx, &bus, OrderShipped{OrderID: "o1"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
