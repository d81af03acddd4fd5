package courier_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/courier-go/courier"
)

func TestPermanent(t *testing.T) {
	base := errors.New("base")
	err := courier.Permanent(base)
	if !courier.IsPermanent(err) || !errors.Is(err, base) || err.Error() != "base" {
		t.Fatalf("Permanent: %v", err)
	}
	if !courier.IsPermanent(fmt.Errorf("wrapped: %w", err)) || !courier.IsPermanent(&courier.ExhaustedError{Err: err}) {
		t.Fatal("IsPermanent does not see through wrapping")
	}
	if courier.IsPermanent(base) || courier.Permanent(nil) != nil {
		t.Fatal("IsPermanent(base) or Permanent(nil)")
	}
}

func TestExhaustedError(t *testing.T) {
	base := errors.New("db down")
	e := &courier.ExhaustedError{Err: base, Attempts: 5}
	if !errors.Is(e, base) || e.Error() != "courier: gave up after attempt 5 (attempts exhausted): db down" {
		t.Fatalf("%v", e)
	}
	e.Permanent = true
	if e.Error() != "courier: gave up after attempt 5 (permanent error): db down" {
		t.Fatalf("%v", e)
	}
	err := courier.StopConsumer(context.Background(), courier.Message{ID: "m1", Topic: "orders"}, e)
	if !errors.Is(err, courier.ErrStop) || !errors.Is(err, base) {
		t.Fatalf("StopConsumer: %v", err)
	}
}
