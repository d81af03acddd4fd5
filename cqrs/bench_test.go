package cqrs_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/courier-go/courier"
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

// lastMessage is a Producer that keeps the last message sent, for measuring without a broker.
type lastMessage struct {
	nopProducer
	m courier.Message
}

func (p *lastMessage) Send(_ context.Context, m courier.Message) error { p.m = m; return nil }

// What the typed layer costs per event, without a broker: Publish then HandleMessage on the
// same message, against json.Marshal then json.Unmarshal of the same event:
// go test -run '^$' -bench Overhead ./cqrs/
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	e := OrderPlaced{OrderID: "order-42", Amount: 1234}
	var sink int
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := json.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			var got OrderPlaced
			if err := json.Unmarshal(v, &got); err != nil {
				b.Fatal(err)
			}
			sink += got.Amount
		}
	})
	b.Run("cqrs", func(b *testing.B) {
		p := &lastMessage{}
		bus, _ := cqrs.NewEventBus(cqrs.EventBusConfig{Producer: p, Topic: func(string) string { return "orders" }})
		proc, _ := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "bench"})
		if err := cqrs.OnEvent(proc, func(_ context.Context, got OrderPlaced, _ cqrs.Event) error { sink += got.Amount; return nil }); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := cqrs.Publish(ctx, bus, e); err != nil {
				b.Fatal(err)
			}
			if err := proc.HandleMessage(ctx, p.m); err != nil {
				b.Fatal(err)
			}
		}
	})
	if sink == 0 {
		b.Fatal("nothing decoded")
	}
}
