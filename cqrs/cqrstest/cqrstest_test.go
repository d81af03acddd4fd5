package cqrstest_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/courier-go/courier/cqrs/cqrstest"
	"github.com/courier-go/courier/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCommandOrderMemory(t *testing.T) {
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	res := cqrstest.CommandOrder(t, b, cqrstest.OrderConfig{Concurrency: 8})
	if res.Handled < 16*50 {
		t.Fatalf("handled %d, want at least %d", res.Handled, 16*50)
	}
	t.Logf("%+v", res)
}
