package eventsource_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/courier-go/courier/eventsource"
)

type opened struct {
	Owner string `json:"owner"`
}

type deposited struct {
	Amount int `json:"amount"`
}

func newRegistry(t *testing.T, cfg eventsource.RegistryConfig) *eventsource.Registry {
	t.Helper()
	r, err := eventsource.NewRegistry(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eventsource.Register[opened](r, "Opened"); err != nil {
		t.Fatal(err)
	}
	if err := eventsource.Register[deposited](r, "Deposited"); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegistryRoundTrip(t *testing.T) {
	r := newRegistry(t, eventsource.RegistryConfig{})
	for _, v := range []any{opened{Owner: "ana"}, &deposited{Amount: 5}} {
		data, err := r.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Decode(eventsource.Event{Stream: "a", Version: 1, Type: data.Type, Data: data.Data})
		if err != nil {
			t.Fatal(err)
		}
		want := v
		if p, ok := v.(*deposited); ok {
			want = *p
		}
		if got != want {
			t.Errorf("round trip of %#v = %#v", v, got)
		}
	}
	if _, err := r.Encode(struct{}{}); !errors.Is(err, eventsource.ErrUnknownEventType) {
		t.Errorf("Encode of an unregistered type: %v", err)
	}
	if _, err := r.Encode((*opened)(nil)); err == nil {
		t.Error("Encode of a nil pointer accepted")
	}
}

func TestRegistryRegisterTwice(t *testing.T) {
	r := newRegistry(t, eventsource.RegistryConfig{})
	if err := eventsource.Register[struct{ X int }](r, "Opened"); err == nil || !strings.Contains(err.Error(), `"Opened" is already registered`) {
		t.Errorf("a name registered twice: %v", err)
	}
	if err := eventsource.Register[opened](r, "Opened2"); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("a type registered twice: %v", err)
	}
	if err := eventsource.Register[int](r, ""); err == nil {
		t.Error("empty name accepted")
	}
	if err := r.Upcast("Opened", func(e eventsource.Event) (eventsource.Event, error) { return e, nil }); err == nil {
		t.Error("upcaster for a registered type accepted")
	}
}

func TestRegistryUnknownType(t *testing.T) {
	e := eventsource.Event{ID: "e9", Stream: "account-7", Version: 4, Type: "Renamed", Data: []byte(`{}`)}
	r := newRegistry(t, eventsource.RegistryConfig{})
	_, err := r.Decode(e)
	var ute *eventsource.UnknownTypeError
	if !errors.As(err, &ute) || !errors.Is(err, eventsource.ErrUnknownEventType) {
		t.Fatalf("Decode of an unknown type: %v, want an *UnknownTypeError", err)
	}
	for _, want := range []string{`"account-7"`, "version 4", `"Renamed"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %s", err, want)
		}
	}
	skip := newRegistry(t, eventsource.RegistryConfig{Unknown: eventsource.UnknownSkip})
	for range 3 {
		if _, err := skip.Decode(e); !errors.Is(err, eventsource.ErrSkipped) {
			t.Fatalf("Decode under UnknownSkip: %v, want ErrSkipped", err)
		}
	}
	if n := skip.Skipped(); n != 3 {
		t.Errorf("Skipped = %d, want 3", n)
	}
	if _, err := eventsource.NewRegistry(eventsource.RegistryConfig{Unknown: 7}); err == nil {
		t.Error("unknown policy 7 accepted")
	}
}

func TestRegistryUpcastChain(t *testing.T) {
	r := newRegistry(t, eventsource.RegistryConfig{})
	// V1 stored amounts in cents as a string; V2 as a number of cents; Deposited in units.
	if err := r.Upcast("DepositedV1", func(e eventsource.Event) (eventsource.Event, error) {
		var v struct{ Cents json.Number }
		if err := json.Unmarshal(e.Data, &v); err != nil {
			return e, err
		}
		e.Type, e.Data = "DepositedV2", []byte(`{"cents":`+v.Cents.String()+`}`)
		return e, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Upcast("DepositedV2", func(e eventsource.Event) (eventsource.Event, error) {
		var v struct{ Cents int }
		if err := json.Unmarshal(e.Data, &v); err != nil {
			return e, err
		}
		e.Type, e.Data = "Deposited", []byte(`{"amount":`+string(rune('0'+v.Cents/100))+`}`)
		return e, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Decode(eventsource.Event{Stream: "a", Version: 2, Type: "DepositedV1", Data: []byte(`{"Cents":"700"}`)})
	if err != nil || got != (deposited{Amount: 7}) {
		t.Errorf("upcast chain = %#v, %v; want deposited{7}", got, err)
	}
	if err := r.Upcast("Loop", func(e eventsource.Event) (eventsource.Event, error) { return e, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decode(eventsource.Event{Stream: "a", Type: "Loop"}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("upcast cycle: %v", err)
	}
	_, err = r.Decode(eventsource.Event{Stream: "a", Version: 3, Type: "DepositedV1", Data: []byte(`not json`)})
	if err == nil || !strings.Contains(err.Error(), `"DepositedV1"`) || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("failing upcaster: %v", err)
	}
	_, err = r.Decode(eventsource.Event{Stream: "a", Version: 5, Type: "Deposited", Data: []byte(`{"amount":"x"}`)})
	if err == nil || !strings.Contains(err.Error(), `decode type "Deposited"`) {
		t.Errorf("bad data: %v", err)
	}
}
