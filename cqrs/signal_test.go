package cqrs_test

import (
	"context"
	"iter"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/cqrstest"
)

// quietSource hides the Source's own Notifier, so that only the Signal can wake Run.
type quietSource struct{ src *cqrstest.Source }

func (q quietSource) Read(ctx context.Context, after string) iter.Seq2[cqrs.Event, error] {
	return q.src.Read(ctx, after)
}

// A broker message on the events topic wakes the projection at once (its poll is an hour);
// the event itself comes from the Source.
func TestSignalFromBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := newBroker(t)
	src := cqrstest.NewSource()
	store := newLedgerStore(t)
	var sig cqrs.Signal
	commits := cqrs.Commits(store)
	p := newLedgerProjection(t, quietSource{src}, store, cqrs.ProjectionConfig{PollInterval: time.Hour, Notifier: &sig})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	consume(t, b, "projector", "events", &sig)
	pr := producer(t, b)

	for i := 1; i <= 3; i++ {
		src.Append("acc-1", "Deposited", Deposited{Amount: i})
		// The relay's message: twice, as at-least-once may deliver it.
		for range 2 {
			if err := pr.Send(ctx, courier.Message{Topic: "events", Key: "acc-1"}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, commits, func() bool {
			got, _ := live(store)
			return got.Balance["acc-1"] == i*(i+1)/2
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ := live(store)
	for id, n := range got.Applied {
		if n != 1 {
			t.Errorf("event %s applied %d times", id, n)
		}
	}
}

func TestSignalZeroValue(t *testing.T) {
	var s cqrs.Signal
	s.Notify() // nobody waits: nothing to do, no panic
	ch := s.Changed()
	select {
	case <-ch:
		t.Fatal("closed before Notify")
	default:
	}
	if err := s.HandleMessage(context.Background(), courier.Message{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("not closed by HandleMessage")
	}
}

// Status counts the events behind with the Source's Counter, or by reading without one: the
// same number either way.
func TestStatusBehind(t *testing.T) {
	ctx := context.Background()
	src := cqrstest.NewSource()
	for i := range 5 {
		src.Append("acc-1", "Deposited", Deposited{Amount: i})
	}
	store := newLedgerStore(t)
	counted := newLedgerProjection(t, src, store, cqrs.ProjectionConfig{BatchSize: 2})
	read := newLedgerProjection(t, quietSource{src}, store, cqrs.ProjectionConfig{BatchSize: 2})
	for _, want := range []int64{5, 0} {
		for _, p := range []*cqrs.Projection[*ledger]{counted, read} {
			st, err := p.Status(ctx)
			if err != nil || st.Behind != want {
				t.Fatalf("Behind = %d, %v; want %d", st.Behind, err, want)
			}
		}
		if _, err := counted.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := src.CountAfter(ctx, "x"); err == nil || n != 0 {
		t.Fatalf("CountAfter of a bad position = %d, %v", n, err)
	}
}
