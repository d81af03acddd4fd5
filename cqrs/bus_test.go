package cqrs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs"
)

type PlaceOrder struct {
	OrderID string `json:"order_id"`
	Amount  int    `json:"amount"`
}

func (c PlaceOrder) AggregateID() string { return c.OrderID }

type CancelOrder struct{ OrderID string }

type OrderPlaced struct {
	OrderID string `json:"order_id"`
	Amount  int    `json:"amount"`
}

func (e OrderPlaced) AggregateID() string { return e.OrderID }

type OrderShipped struct {
	OrderID string `json:"order_id"`
}

func (e OrderShipped) AggregateID() string { return e.OrderID }

type renamed struct{}

func (renamed) TypeName() string { return "orders.v2.Renamed" }

type nameless struct{}

func (*nameless) TypeName() string { return "" }

func TestTypeName(t *testing.T) {
	for _, c := range []struct {
		got  func() (string, error)
		want string
	}{
		{cqrs.TypeName[PlaceOrder], "PlaceOrder"},
		{cqrs.TypeName[*PlaceOrder], "PlaceOrder"},
		{cqrs.TypeName[renamed], "orders.v2.Renamed"},
		{cqrs.TypeName[*renamed], "orders.v2.Renamed"}, // a nil *renamed must not be called
	} {
		if got, err := c.got(); err != nil || got != c.want {
			t.Errorf("got %q, %v; want %q", got, err, c.want)
		}
	}
	if _, err := cqrs.TypeName[map[string]int](); err == nil || !strings.Contains(err.Error(), "has no name") {
		t.Errorf("unnamed type: %v", err)
	}
	if _, err := cqrs.TypeName[nameless](); err == nil || !strings.Contains(err.Error(), "empty name") {
		t.Errorf("empty TypeName: %v", err)
	}
}

func TestCommandBusInProcess(t *testing.T) {
	ctx := context.Background()
	bus, err := cqrs.NewCommandBus(cqrs.CommandBusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []PlaceOrder
	if err := cqrs.HandleCommand(bus, func(_ context.Context, c PlaceOrder) error {
		got = append(got, c)
		if c.Amount < 0 {
			return errors.New("negative amount")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := cqrs.SendCommand(ctx, bus, PlaceOrder{OrderID: "o1", Amount: 5}); err != nil {
		t.Fatal(err)
	}
	if err := cqrs.SendCommand(ctx, bus, PlaceOrder{OrderID: "o2", Amount: -1}); err == nil || err.Error() != "negative amount" {
		t.Fatalf("the handler's error is not returned: %v", err)
	}
	if len(got) != 2 || got[0] != (PlaceOrder{"o1", 5}) {
		t.Fatalf("handled %+v", got)
	}
	err = cqrs.SendCommand(ctx, bus, CancelOrder{OrderID: "o1"})
	if !errors.Is(err, cqrs.ErrNoHandler) || !strings.Contains(err.Error(), `"CancelOrder"`) || !strings.Contains(err.Error(), "PlaceOrder") {
		t.Fatalf("unregistered command: %v", err)
	}
}

func TestRegistrationErrors(t *testing.T) {
	bus, _ := cqrs.NewCommandBus(cqrs.CommandBusConfig{})
	ok := func(context.Context, PlaceOrder) error { return nil }
	if err := cqrs.HandleCommand[PlaceOrder](bus, nil); !errors.Is(err, cqrs.ErrNilHandler) || !strings.Contains(err.Error(), "PlaceOrder") {
		t.Errorf("nil command handler: %v", err)
	}
	if err := cqrs.HandleCommand(bus, ok); err != nil {
		t.Fatal(err)
	}
	if err := cqrs.HandleCommand(bus, ok); !errors.Is(err, cqrs.ErrDuplicateHandler) || !strings.Contains(err.Error(), "PlaceOrder") {
		t.Errorf("duplicate command handler: %v", err)
	}
	if err := cqrs.HandleCommand(bus, func(context.Context, map[string]int) error { return nil }); err == nil {
		t.Error("a command type without a name was accepted")
	}
	if err := cqrs.HandleCommand(nil, ok); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil bus: %v", err)
	}
	if err := cqrs.SendCommand(context.Background(), nil, PlaceOrder{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("send on nil bus: %v", err)
	}

	p, _ := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "billing"})
	if err := cqrs.OnEvent[OrderPlaced](p, nil); !errors.Is(err, cqrs.ErrNilHandler) || !strings.Contains(err.Error(), `"billing"`) {
		t.Errorf("nil event handler: %v", err)
	}
	h := func(context.Context, OrderPlaced, cqrs.Event) error { return nil }
	if err := cqrs.OnEvent(p, h); err != nil {
		t.Fatal(err)
	}
	if err := cqrs.OnEvent(p, h); !errors.Is(err, cqrs.ErrDuplicateHandler) {
		t.Errorf("duplicate event handler: %v", err)
	}

	var q cqrs.QueryBus
	if err := cqrs.HandleQuery[PlaceOrder, int](&q, nil); !errors.Is(err, cqrs.ErrNilHandler) {
		t.Errorf("nil query handler: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		err  error
		want []string
	}{
		{cqrs.CommandBusConfig{Producer: &nopProducer{}}.Validate(), []string{"Producer without Topic"}},
		{cqrs.CommandBusConfig{Topic: "t", Unknown: 9}.Validate(), []string{"Topic \"t\" without Producer", "Unknown policy 9"}},
		{cqrs.EventBusConfig{}.Validate(), []string{"nil Producer", "nil Topic"}},
		{cqrs.EventProcessorConfig{}.Validate(), []string{"empty Name"}},
	} {
		if !errors.Is(c.err, courier.ErrInvalidConfig) {
			t.Errorf("%v does not wrap ErrInvalidConfig", c.err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(c.err.Error(), w) {
				t.Errorf("%v does not say %q", c.err, w)
			}
		}
	}
	if _, err := cqrs.NewCommandBus(cqrs.CommandBusConfig{Topic: "x"}); err == nil {
		t.Error("NewCommandBus took a bad config")
	}
}

type nopProducer struct{ courier.Producer }

func TestCommandBusOverBroker(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	bus, err := cqrs.NewCommandBus(cqrs.CommandBusConfig{Producer: producer(t, b), Topic: "commands"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		got  []PlaceOrder
		note = make(chan struct{}, 1)
	)
	if err := cqrs.HandleCommand(bus, func(_ context.Context, c PlaceOrder) error {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
		signal(note)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := cqrs.SendCommand(ctx, bus, PlaceOrder{OrderID: "o1", Amount: 3}); err != nil {
		t.Fatal(err)
	}
	// A command nobody registered: skipped, counted, acknowledged.
	if err := cqrs.SendCommand(ctx, bus, CancelOrder{OrderID: "o1"}); err != nil {
		t.Fatalf("sending over a broker needs no local handler: %v", err)
	}
	consume(t, b, "handlers", "commands", bus)
	waitFor(t, note, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	eventually(t, "the counts", func() bool { s := bus.Stats(); return s.Handled == 1 && s.Skipped == 1 })
	if got[0] != (PlaceOrder{"o1", 3}) {
		t.Fatalf("got %+v", got)
	}
	s, _ := b.TopicStats("commands")
	if s.Messages != 2 {
		t.Fatalf("%d messages on the topic, want 2", s.Messages)
	}
	if st := bus.Stats(); st.Handled != 1 || st.Skipped != 1 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQueryBus(t *testing.T) {
	ctx := context.Background()
	type OrderTotal struct{ OrderID string }
	type Missing struct{}
	var q cqrs.QueryBus
	if err := cqrs.HandleQuery(&q, func(_ context.Context, qq OrderTotal) (int, error) {
		if qq.OrderID == "" {
			return 0, errors.New("no order id")
		}
		return len(qq.OrderID) * 10, nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := cqrs.Ask[int](ctx, &q, OrderTotal{"abc"}); err != nil || n != 30 {
		t.Fatalf("Ask = %d, %v", n, err)
	}
	if _, err := cqrs.Ask[int](ctx, &q, OrderTotal{}); err == nil || err.Error() != "no order id" {
		t.Fatalf("handler error: %v", err)
	}
	if _, err := cqrs.Ask[string](ctx, &q, OrderTotal{"abc"}); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "answered with int, not string") {
		t.Fatalf("wrong result type: %v", err)
	}
	if _, err := cqrs.Ask[int](ctx, &q, Missing{}); !errors.Is(err, cqrs.ErrNoHandler) || !strings.Contains(err.Error(), "Missing") {
		t.Fatalf("missing handler: %v", err)
	}
	if err := cqrs.HandleQuery(&q, func(context.Context, OrderTotal) (int, error) { return 0, nil }); !errors.Is(err, cqrs.ErrDuplicateHandler) {
		t.Fatalf("duplicate: %v", err)
	}
}

// tagged is a Marshaler of its own: JSON behind a version tag, so that the test can see
// that both sides use it.
type tagged struct{}

func (tagged) Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append([]byte("v1:"), b...), err
}

func (tagged) Unmarshal(data []byte, v any) error {
	rest, ok := bytes.CutPrefix(data, []byte("v1:"))
	if !ok {
		return errors.New("not tagged")
	}
	return json.Unmarshal(rest, v)
}

func TestPluggableMarshaler(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	bus, err := cqrs.NewCommandBus(cqrs.CommandBusConfig{Producer: producer(t, b), Topic: "commands", Marshaler: tagged{}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan PlaceOrder, 1)
	must(t, cqrs.HandleCommand(bus, func(_ context.Context, c PlaceOrder) error { got <- c; return nil }))
	must(t, cqrs.SendCommand(ctx, bus, PlaceOrder{OrderID: "o7", Amount: 9}))
	raw := make(chan courier.Message, 1)
	consume(t, b, "peek", "commands", courier.HandlerFunc(func(_ context.Context, m courier.Message) error { raw <- m; return nil }))
	consume(t, b, "handlers", "commands", bus)
	for range 2 {
		select {
		case c := <-got:
			if c != (PlaceOrder{"o7", 9}) {
				t.Fatalf("decoded %+v", c)
			}
		case m := <-raw:
			if !bytes.HasPrefix(m.Value, []byte("v1:")) || m.Key != "o7" || m.Headers[cqrs.HeaderType] != "PlaceOrder" {
				t.Fatalf("sent %q with key %q, headers %v", m.Value, m.Key, m.Headers)
			}
		case <-time.After(timeout):
			t.Fatal("timed out")
		}
	}
}
