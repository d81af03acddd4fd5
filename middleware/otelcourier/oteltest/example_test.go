package oteltest_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/middleware/otelcourier/oteltest"
)

// An adapter's test checks that a message is traced from send to process on its broker.
func ExampleCheck() {
	_ = func(t *testing.T) { // func TestTracing(t *testing.T)
		b, err := memory.New(context.Background(), memory.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		oteltest.Check(t, b, oteltest.Options{System: "memory"})
	}
}
