package protomarshal_test

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/protomarshal"
)

// A processor whose handlers take generated message types (here a well-known one).
func Example() {
	m := protomarshal.Marshaler{}
	p, _ := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "audit", Marshaler: m})
	_ = cqrs.OnEvent(p, func(_ context.Context, e *wrapperspb.StringValue, ev cqrs.Event) error {
		fmt.Printf("%s: %q\n", ev.Type, e.GetValue())
		return nil
	})
	data, _ := m.Marshal(wrapperspb.String("order o1 placed"))
	fmt.Println(len(data), "bytes on the wire")
	_ = p.HandleEvent(context.Background(), cqrs.Event{Type: "StringValue", Data: data})
	// Output:
	// 17 bytes on the wire
	// StringValue: "order o1 placed"
}
