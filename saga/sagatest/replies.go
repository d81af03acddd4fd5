package sagatest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/saga"
)

// chanProducer hands the commands it is given to the test.
type chanProducer chan courier.Message

func (p chanProducer) Send(_ context.Context, m courier.Message) error { p <- m; return nil }
func (p chanProducer) SendBatch(ctx context.Context, ms []courier.Message) error {
	return sendEach(ctx, p, ms)
}

// sendEach sends ms one by one, for test producers that have no batches of their own.
func sendEach(ctx context.Context, p courier.Producer, ms []courier.Message) error {
	for _, m := range ms {
		if err := p.Send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
func (chanProducer) Close() error { return nil }

// testConcurrentReplies answers every command several times at once, through two
// orchestrators: each saga must make exactly one transition for its reply.
func testConcurrentReplies(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	const n, copies = 10, 4
	cmds := make(chanProducer, n)
	var mu sync.Mutex
	done := map[string]int{}
	ended := make(chan string, n)
	def := saga.Definition{Name: "remote", Steps: []saga.Step{{Name: "ask", Timeout: time.Minute,
		Command: func(context.Context, *saga.Exec) (courier.Message, error) { return courier.Message{Topic: "asks"}, nil }}}}
	cfg := saga.Config{Store: s, Definitions: []saga.Definition{def}, Producer: cmds, ReplyTopic: "answers",
		PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		OnTransition: func(tr saga.Transition) {
			if tr.Event == saga.EventCompleted {
				mu.Lock()
				done[tr.Instance.ID]++
				mu.Unlock()
				ended <- tr.Instance.ID
			}
		}}
	var handlers []courier.MessageHandler
	for range 2 {
		o, err := saga.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		handlers = append(handlers, o.ReplyHandler())
	}
	o, err := saga.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for i := range n {
		if _, err := o.Start(ctx, "remote", fmt.Sprintf("r%02d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range n {
		var cmd courier.Message
		select {
		case cmd = <-cmds:
		case <-ctx.Done():
			t.Fatal("commands not sent in time")
		}
		reply, err := saga.Reply(cmd, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for c := range copies {
			wg.Go(func() {
				if err := handlers[c%2].HandleMessage(ctx, reply); err != nil {
					t.Errorf("reply handler: %v", err)
				}
			})
		}
	}
	wg.Wait()
	for range n {
		select {
		case <-ended:
		case <-ctx.Done():
			t.Fatal("sagas did not complete in time")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id, c := range done {
		if c != 1 {
			t.Errorf("saga %s completed %d times from %d concurrent replies, want once", id, c, copies)
		}
	}
	if len(done) != n {
		t.Errorf("%d sagas completed, want %d", len(done), n)
	}
}

// testConcurrentStarts starts one saga ID from many goroutines and two orchestrators at
// once: every Start succeeds, one creates it, and its step runs once.
func testConcurrentStarts(t *testing.T, s saga.Store) {
	ctx := ctxFor(t)
	var mu sync.Mutex
	runs, started := 0, 0
	ended := make(chan struct{}, 1)
	def := saga.Definition{Name: "order", Steps: []saga.Step{{Name: "pay", Action: func(context.Context, *saga.Exec) error {
		mu.Lock()
		runs++
		mu.Unlock()
		return nil
	}}}}
	cfg := saga.Config{Store: s, Definitions: []saga.Definition{def}, PollInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		OnTransition: func(tr saga.Transition) {
			switch tr.Event {
			case saga.EventStarted:
				mu.Lock()
				started++
				mu.Unlock()
			case saga.EventCompleted:
				ended <- struct{}{}
			}
		}}
	var orchs []*saga.Orchestrator
	for range 2 {
		o, err := saga.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		orchs = append(orchs, o)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			inst, err := orchs[i%2].Start(ctx, "order", "once", []byte(fmt.Sprint(i)))
			if err != nil || inst.ID != "once" {
				t.Errorf("Start: %+v, %v", inst, err)
			}
		})
	}
	wg.Wait()
	select {
	case <-ended:
	case <-ctx.Done():
		t.Fatal("the saga did not complete")
	}
	mu.Lock()
	defer mu.Unlock()
	if started != 1 || runs != 1 {
		t.Fatalf("8 concurrent Starts of one ID: %d created it, its step ran %d times; want 1 and 1", started, runs)
	}
}
