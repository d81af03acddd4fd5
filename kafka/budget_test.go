package kafka

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBudget: takes that fit go through; one that does not waits until enough comes back;
// a record larger than the whole budget goes alone once nothing is
// held; a wait ends with its context.
func TestBudget(t *testing.T) {
	ctx := context.Background()
	b := newBudget(100)
	if err := b.take(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := b.take(ctx, 30); err != nil {
		t.Fatal(err)
	}
	took := make(chan error, 1)
	go func() { took <- b.take(ctx, 40) }()
	select {
	case err := <-took:
		t.Fatalf("took 40 with 90 of 100 held: %v", err)
	case <-time.After(50 * time.Millisecond): // it must still be waiting
	}
	b.give(30) // 60 held: 40 fits
	if err := <-took; err != nil {
		t.Fatal(err)
	}
	if held := b.held(); held != 100 {
		t.Fatalf("held %d, want 100", held)
	}

	go func() { took <- b.take(ctx, 500) }() // over the whole budget: waits for nothing held
	b.give(60)
	select {
	case err := <-took:
		t.Fatalf("took 500 with 40 held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.give(40)
	if err := <-took; err != nil {
		t.Fatal(err)
	}
	b.give(500)

	if err := b.take(ctx, 100); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := b.take(cctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take with a full budget and an ending context: %v", err)
	}
	if held := b.held(); held != 100 {
		t.Errorf("held %d after a take that gave up, want 100", held)
	}
}
