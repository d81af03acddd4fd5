package driver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

var nop = courier.HandlerFunc(func(context.Context, courier.Message) error { return nil })

func TestStartAndClose(t *testing.T) {
	g := &Guard{Name: `test: group "g"`}
	if _, _, _, err := g.Start(context.Background(), nil); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), `group "g"`) {
		t.Fatalf("nil handler: %v", err)
	}
	run, finish, runs, err := g.Start(context.Background(), nop)
	if err != nil || runs != 1 {
		t.Fatalf("Start = %d, %v", runs, err)
	}
	if _, _, _, err := g.Start(context.Background(), nop); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Start while running: %v", err)
	}
	returned := make(chan struct{})
	go func() { // a Consume: runs until its context ends; finish is its last deferred call
		<-run.Done()
		close(returned)
		finish(nil)
	}()
	if !g.Close() {
		t.Fatal("first Close reported false")
	}
	select {
	case <-returned:
	default:
		t.Fatal("Close returned before Consume did")
	}
	if g.Close() {
		t.Fatal("second Close reported true")
	}
	if _, _, _, err := g.Start(context.Background(), nop); !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

func TestConsumeAgainAfterItsContextEnded(t *testing.T) {
	var g Guard
	ctx, cancel := context.WithCancel(context.Background())
	run, finish, _, err := g.Start(ctx, nop)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-run.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("run context did not end with its parent")
	}
	finish(nil)
	if _, finish, runs, err := g.Start(context.Background(), nop); err != nil || runs != 2 {
		t.Fatalf("Start after a finished run = %d, %v", runs, err)
	} else {
		finish(nil)
	}
	if !g.Close() {
		t.Fatal("Close after runs reported false")
	}
}
