package protomarshal_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/protomarshal"
	"github.com/courier-go/courier/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Events of a generated type go over the memory broker in the wire format and reach a typed
// handler of *wrapperspb.StringValue.
func TestEventsOverBroker(t *testing.T) {
	ctx := context.Background()
	b, err := memory.New(ctx, memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, _ := b.NewProducer(ctx)
	bus, err := cqrs.NewEventBus(cqrs.EventBusConfig{Producer: p, Topic: func(string) string { return "events" }, Marshaler: protomarshal.Marshaler{}})
	if err != nil {
		t.Fatal(err)
	}
	proc, err := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "g", Marshaler: protomarshal.Marshaler{}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 2)
	if err := cqrs.OnEvent(proc, func(_ context.Context, e *wrapperspb.StringValue, ev cqrs.Event) error {
		if ev.Type != "StringValue" {
			t.Errorf("type %q", ev.Type)
		}
		got <- e.GetValue()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"placed", "shipped"} {
		if err := cqrs.Publish(ctx, bus, wrapperspb.String(s)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"events"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, proc) }()
	for _, want := range []string{"placed", "shipped"} {
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("got %q, want %q", s, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("timed out")
		}
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripAndErrors(t *testing.T) {
	var m protomarshal.Marshaler
	data, err := m.Marshal(wrapperspb.Int64(42))
	if err != nil {
		t.Fatal(err)
	}
	var into *wrapperspb.Int64Value // nil: Unmarshal allocates it
	if err := m.Unmarshal(data, &into); err != nil || into.GetValue() != 42 {
		t.Fatalf("Unmarshal = %v, %v", into, err)
	}
	direct := &wrapperspb.Int64Value{}
	if err := m.Unmarshal(data, direct); err != nil || !proto.Equal(direct, into) {
		t.Fatalf("Unmarshal into a message = %v, %v", direct, err)
	}
	if _, err := m.Marshal(struct{ A int }{1}); err == nil || !strings.Contains(err.Error(), "not a proto.Message") {
		t.Fatalf("Marshal of a struct: %v", err)
	}
	var s string
	if err := m.Unmarshal(data, &s); err == nil || !strings.Contains(err.Error(), "*string") {
		t.Fatalf("Unmarshal into a string: %v", err)
	}
	if err := m.Unmarshal([]byte{0xff, 0xff}, &into); err == nil {
		t.Fatal("garbage decoded")
	}
	p, _ := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "g", Marshaler: m})
	_ = cqrs.OnEvent(p, func(context.Context, *wrapperspb.Int64Value, cqrs.Event) error { return nil })
	err = p.HandleEvent(context.Background(), cqrs.Event{Type: "Int64Value", Data: []byte{0xff, 0xff}})
	if !errors.Is(err, cqrs.ErrDecode) {
		t.Fatalf("bad payload: %v", err)
	}
}
