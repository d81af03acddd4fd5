package wake

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestSignal: Broadcast wakes every waiter with the mutex held again; a waiter whose context
// ends or whose stop channel closes returns its reason with the mutex released.
func TestSignal(t *testing.T) {
	var mu sync.Mutex
	var s Signal
	ready := false
	woken := make(chan error, 3)
	for range 3 {
		go func() {
			mu.Lock()
			for !ready {
				if err := s.Wait(context.Background(), &mu, nil); err != nil {
					woken <- err
					return
				}
			}
			mu.Unlock() // held again after a nil Wait, or this would panic
			woken <- nil
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no goroutine ever waited")
		}
		mu.Lock()
		waiting := s.Waiting()
		if waiting {
			ready = true
			s.Broadcast()
		}
		mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond) // polling for the first waiter, not standing in for one
	}
	for range 3 {
		if err := <-woken; err != nil {
			t.Fatalf("waiter: %v", err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mu.Lock()
	if err := s.Wait(ctx, &mu, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended context: %v", err)
	}
	if !mu.TryLock() {
		t.Fatal("mutex still held after a cancelled Wait")
	}
	stop := make(chan struct{})
	close(stop)
	if err := s.Wait(context.Background(), &mu, stop); !errors.Is(err, ErrStopped) {
		t.Fatalf("Wait with a closed stop channel: %v", err)
	}
	if !mu.TryLock() {
		t.Fatal("mutex still held after a stopped Wait")
	}
}

func Example() {
	var mu sync.Mutex
	var room Signal
	free := 0

	go func() {
		mu.Lock()
		free = 1
		room.Broadcast() // whoever waits looks again
		mu.Unlock()
	}()

	mu.Lock()
	for free == 0 {
		if err := room.Wait(context.Background(), &mu, nil); err != nil {
			return // the context ended; mu is released
		}
	}
	mu.Unlock()
	// Output:
}
