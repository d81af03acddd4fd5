package saga_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/saga"
)

// paymentService is a remote service on the broker: it handles payment commands once per
// message ID (its idempotency key) and replies to each delivery, failing the orders it is
// told to decline and staying silent for the first deliveries of the ones it is told to drop.
type paymentService struct {
	p       courier.Producer
	mu      sync.Mutex
	charged map[string]int // message ID -> charges applied (must stay <= 1)
	seen    map[string]int // message ID -> deliveries
	cmds    []courier.Message
	decline map[string]bool
	silent  map[string]int // saga ID -> deliveries to ignore
}

func (s *paymentService) HandleMessage(ctx context.Context, m courier.Message) error {
	s.mu.Lock()
	s.seen[m.ID]++
	s.cmds = append(s.cmds, m)
	id := m.Headers[saga.HeaderSagaID]
	if s.silent[id] >= s.seen[m.ID] {
		s.mu.Unlock()
		return nil
	}
	var failure error
	if s.decline[id] {
		failure = errors.New("card declined")
	} else if s.charged[m.ID] == 0 {
		s.charged[m.ID]++
	}
	s.mu.Unlock()
	reply, err := saga.Reply(m, []byte("receipt-"+id), failure)
	if err != nil {
		return err
	}
	return s.p.Send(ctx, reply)
}

// brokerRig runs a memory broker, the payment service and the orchestrator's reply consumer.
type brokerRig struct {
	b   *memory.Broker
	p   courier.Producer
	svc *paymentService
}

func newBrokerRig(t *testing.T) *brokerRig {
	t.Helper()
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := &brokerRig{b: b, p: p, svc: &paymentService{p: p, charged: map[string]int{}, seen: map[string]int{},
		decline: map[string]bool{}, silent: map[string]int{}}}
	r.consume(t, "payments-svc", "payments", r.svc)
	t.Cleanup(func() { b.Close() })
	return r
}

func (r *brokerRig) consume(t *testing.T, group, topic string, h courier.MessageHandler) {
	t.Helper()
	c, err := r.b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Consume(context.Background(), h) }()
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
}

func paymentSaga(l *ledger) saga.Definition {
	pay := saga.Step{Name: "pay", Timeout: 10 * time.Second, Retry: fastRetry,
		Command: func(_ context.Context, x *saga.Exec) (courier.Message, error) {
			return courier.Message{Topic: "payments", Key: x.SagaID, Value: x.Data, Headers: map[string]string{"amount": "42"}}, nil
		},
		OnReply: func(_ context.Context, x *saga.Exec, reply courier.Message) error {
			x.Data = reply.Value
			return nil
		},
		Compensate: func(_ context.Context, x *saga.Exec) error { l.undo(x.Key); return nil }}
	return saga.Definition{Name: "checkout", Steps: []saga.Step{l.step("reserve", nil), pay, l.step("ship", nil)}}
}

func TestMessageDrivenSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig, rec, l := newBrokerRig(t), newRecorder(), newLedger()
		rig.svc.decline["declined"] = true
		rig.svc.silent["slow"] = 1 // the first command goes unanswered: timeout, resend, reply
		o, err := saga.New(saga.Config{Store: saga.NewMemoryStore(), Definitions: []saga.Definition{paymentSaga(l)},
			Producer: rig.p, ReplyTopic: "checkout-replies", OnTransition: rec.record})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		rig.consume(t, "checkout", "checkout-replies", o.ReplyHandler())
		for _, id := range []string{"ok", "declined", "slow"} {
			if _, err := o.Start(t.Context(), "checkout", id, []byte("cart-"+id)); err != nil {
				t.Fatal(err)
			}
		}
		ended := map[string]saga.Instance{}
		for range 3 {
			inst := rec.wait(t)
			ended[inst.ID] = inst
		}
		if i := ended["ok"]; i.State != saga.Completed || string(i.Data) != "receipt-ok" {
			t.Errorf("ok: %s with data %q; want completed with the reply's receipt", i.State, i.Data)
		}
		if i := ended["declined"]; i.State != saga.Compensated || !strings.Contains(i.Error, "card declined") {
			t.Errorf("declined: %s (%q); want compensated with the service's error", i.State, i.Error)
		}
		if i := ended["slow"]; i.State != saga.Completed {
			t.Errorf("slow: %s (%q); want completed after a timeout and a resend", i.State, i.Error)
		}
		if ev := rec.of("slow"); !slices.Contains(ev, "retry-scheduled pay#1") || slices.Contains(ev, "retry-scheduled pay#2") {
			t.Errorf("slow transitions %v: want one timed-out attempt", ev)
		}
		rig.svc.mu.Lock()
		defer rig.svc.mu.Unlock()
		for _, m := range rig.svc.cmds {
			id := m.Headers[saga.HeaderSagaID]
			if m.ID != saga.IdempotencyKey(id, "pay") || m.Headers[saga.HeaderStep] != "pay" ||
				m.Headers[saga.HeaderReplyTo] != "checkout-replies" || m.Headers["amount"] != "42" || string(m.Value) != "cart-"+id {
				t.Errorf("command %+v lacks its key as ID, correlation headers or own fields", m)
			}
		}
		if rig.svc.seen["slow/pay"] != 2 || rig.svc.seen["ok/pay"] != 1 || rig.svc.seen["declined/pay"] != 3 {
			t.Errorf("deliveries per command: %v; want slow twice (resend after the timeout), ok once, declined three times (its retries)", rig.svc.seen)
		}
		for k, n := range rig.svc.charged {
			if n != 1 {
				t.Errorf("%s charged %d times", k, n)
			}
		}
		if !l.applied["ok/ship"] || l.applied["declined/reserve"] || !slices.Contains(l.undone, "declined/pay") {
			t.Errorf("local effects: applied %v undone %v", l.applied, l.undone)
		}
	})
}

// captureProducer keeps what is sent, for tests that play the remote service by hand.
type captureProducer struct {
	mu   sync.Mutex
	sent []courier.Message
	fail error
}

func (p *captureProducer) Send(_ context.Context, m courier.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.sent = append(p.sent, m)
	return nil
}

func (p *captureProducer) SendBatch(ctx context.Context, ms []courier.Message) error {
	for _, m := range ms {
		if err := p.Send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (p *captureProducer) Close() error { return nil }

func (p *captureProducer) commands() []courier.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent)
}

func TestConcurrentRepliesMakeOneTransition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, rec, p := newLedger(), newRecorder(), &captureProducer{}
		o := newRemoteOrchestrator(t, paymentSaga(l), p, rec)
		const n = 30
		for i := range n {
			if _, err := o.Start(t.Context(), "checkout", fmt.Sprintf("s%02d", i), nil); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait() // every saga has sent its command and awaits the reply
		cmds := p.commands()
		if len(cmds) != n {
			t.Fatalf("%d commands sent, want %d", len(cmds), n)
		}
		h := o.ReplyHandler()
		var wg sync.WaitGroup
		for _, c := range cmds {
			reply, err := saga.Reply(c, []byte("r"), nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				wg.Go(func() {
					if err := h.HandleMessage(t.Context(), reply); err != nil {
						t.Errorf("reply handler: %v", err)
					}
				})
			}
		}
		wg.Wait()
		for range n {
			if inst := rec.wait(t); inst.State != saga.Completed {
				t.Fatalf("%s ended %s", inst.ID, inst.State)
			}
		}
		for i := range n {
			id := fmt.Sprintf("s%02d", i)
			if got := countPrefix(rec.of(id), "step-done pay#"); got != 1 {
				t.Errorf("saga %s: %d transitions for the pay reply (of 3 concurrent replies), want 1: %v", id, got, rec.of(id))
			}
		}
		// Messages that are not replies are acknowledged and dropped, not retried forever.
		if err := h.HandleMessage(t.Context(), courier.Message{Topic: "replies"}); err != nil {
			t.Errorf("non-reply message: %v, want nil (dropped)", err)
		}
		if _, err := saga.Reply(courier.Message{ID: "x"}, nil, nil); !errors.Is(err, saga.ErrNotReply) {
			t.Errorf("Reply to a message without correlation headers: %v, want ErrNotReply", err)
		}
	})
}

func countPrefix(events []string, prefix string) int {
	n := 0
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// The reply deadline is a timer in the store: it fires once, in whichever orchestrator runs
// when it comes, even if the one that sent the command is gone.
func TestReplyTimeoutFiresOnceAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, p, s := newLedger(), &captureProducer{}, saga.NewMemoryStore()
		def := paymentSaga(l)
		def.Steps[1].Retry = saga.RetryPolicy{MaxAttempts: 1}
		cfg := saga.Config{Store: s, Definitions: []saga.Definition{def}, Producer: p, ReplyTopic: "replies"}
		first := newRecorder()
		cfg.OnTransition = first.record
		o1, err := saga.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o1.Start(t.Context(), "checkout", "s1", nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(p.commands()) != 1 {
			t.Fatalf("%d commands before the restart, want 1", len(p.commands()))
		}
		sentAt := time.Now()
		o1.Close()
		// Three orchestrators come up after the "restart" and compete for the timer.
		second := newRecorder()
		cfg.OnTransition = second.record
		for range 3 {
			o, err := saga.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
		}
		inst := second.wait(t)
		if inst.State != saga.Compensated || !strings.Contains(inst.Error, saga.ErrReplyTimeout.Error()) {
			t.Fatalf("saga ended %s (%q); want compensated after the reply timeout", inst.State, inst.Error)
		}
		if el := time.Since(sentAt); el < 10*time.Second {
			t.Fatalf("timeout fired after %v, before the step's 10s", el)
		}
		synctest.Wait()
		all := append(first.of("s1"), second.of("s1")...)
		if got := countPrefix(all, "step-failed pay#"); got != 1 {
			t.Fatalf("the timeout fired %d times, want once: %v", got, all)
		}
		if got := len(p.commands()); got != 1 {
			t.Fatalf("%d commands sent, want 1 (no retry allowed)", got)
		}
	})
}

// A Send failure fails the attempt at once; the retry sends the same command ID again.
func TestSendFailureRetriesWithSameID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, rec, p := newLedger(), newRecorder(), &captureProducer{fail: errors.New("broker down")}
		o := newRemoteOrchestrator(t, paymentSaga(l), p, rec)
		if _, err := o.Start(t.Context(), "checkout", "s1", nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		p.mu.Lock()
		p.fail = nil
		p.mu.Unlock()
		time.Sleep(2 * time.Second) // fake time: past the first backoff
		synctest.Wait()
		cmds := p.commands()
		if len(cmds) != 1 || cmds[0].ID != "s1/pay" {
			t.Fatalf("commands after the broker came back: %v; want one with ID s1/pay", cmds)
		}
		if ev := rec.of("s1"); !slices.Contains(ev, "retry-scheduled pay#1") {
			t.Fatalf("transitions %v: want the failed send as a failed attempt", ev)
		}
		reply, _ := saga.Reply(cmds[0], nil, nil)
		if err := o.ReplyHandler().HandleMessage(t.Context(), reply); err != nil {
			t.Fatal(err)
		}
		if inst := rec.wait(t); inst.State != saga.Completed {
			t.Fatalf("ended %s", inst.State)
		}
	})
}

// Cancel compensates a running saga, waiting while a worker runs one of its steps; the
// reply that comes afterwards is ignored.
func TestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, rec, p := newLedger(), newRecorder(), &captureProducer{}
		def := paymentSaga(l)
		def.Steps[0].Action = func(_ context.Context, x *saga.Exec) error {
			time.Sleep(5 * time.Second) // fake time: a slow reservation
			l.do(x.Key)
			return nil
		}
		o := newRemoteOrchestrator(t, def, p, rec)
		if _, err := o.Start(t.Context(), "checkout", "s1", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		start := time.Now()
		inst, err := o.Cancel(t.Context(), "s1", "customer changed their mind")
		if err != nil || inst.State != saga.Compensating && inst.State != saga.Compensated {
			t.Fatalf("Cancel = %s, %v; want compensating", inst.State, err)
		}
		if waited := time.Since(start); waited < 4*time.Second {
			t.Fatalf("Cancel returned after %v, while the reservation (5s) still ran", waited)
		}
		if ended := rec.wait(t); ended.State != saga.Compensated || ended.Error != "cancelled: customer changed their mind" {
			t.Fatalf("saga ended %s (%q); want compensated with the reason", ended.State, ended.Error)
		}
		if l.applied["s1/reserve"] || !slices.Contains(l.undone, "s1/pay") {
			t.Fatalf("after Cancel: applied %v, undone %v; want the reservation and the payment undone", l.applied, l.undone)
		}
		synctest.Wait()
		for _, c := range p.commands() { // the payment service answers late: ignored
			reply, _ := saga.Reply(c, nil, nil)
			if err := o.ReplyHandler().HandleMessage(t.Context(), reply); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := o.Get(t.Context(), "s1"); got.State != saga.Compensated {
			t.Fatalf("a late reply moved the cancelled saga to %s", got.State)
		}
		if _, err := o.Cancel(t.Context(), "s1", "again"); !errors.Is(err, saga.ErrNotRunning) {
			t.Fatalf("Cancel of a compensated saga: %v, want ErrNotRunning", err)
		}
		if ev := rec.of("s1"); !slices.Contains(ev, "cancelled pay#1") {
			t.Fatalf("transitions %v: want cancelled at the pay step", ev)
		}
	})
}

// newRemoteOrchestrator runs def on a memory store, sending commands through p and
// recording transitions in rec; the test's end closes it.
func newRemoteOrchestrator(t *testing.T, def saga.Definition, p courier.Producer, rec *recorder) *saga.Orchestrator {
	t.Helper()
	o, err := saga.New(saga.Config{Store: saga.NewMemoryStore(), Definitions: []saga.Definition{def},
		Producer: p, ReplyTopic: "replies", OnTransition: rec.record})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}
