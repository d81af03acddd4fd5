package saga_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/saga"
)

// A message-driven step: the payment runs in another service, reached through a broker. The
// command's ID is the step's idempotency key; the service answers with saga.Reply, and the
// orchestrator's ReplyHandler, fed by a consumer of the reply topic, moves the saga on.
func Example_messageDriven() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := memory.New(context.Background(), memory.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	p, err := b.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}

	// The payment service: charges once per command ID, then replies.
	payments, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "payments", Topics: []string{"payment-commands"}})
	if err != nil {
		log.Fatal(err)
	}
	go payments.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		fmt.Printf("payment service: charge %s (command %s)\n", m.Value, m.ID)
		reply, err := saga.Reply(m, []byte("receipt-7"), nil)
		if err != nil {
			return err
		}
		return p.Send(ctx, reply)
	}))
	defer payments.Close()

	done := make(chan saga.Instance, 1)
	o, err := saga.New(saga.Config{
		Store: saga.NewMemoryStore(),
		Definitions: []saga.Definition{{Name: "checkout", Steps: []saga.Step{{
			Name:    "pay",
			Timeout: 5 * time.Second, // reply deadline
			Command: func(_ context.Context, x *saga.Exec) (courier.Message, error) {
				return courier.Message{Topic: "payment-commands", Key: x.SagaID, Value: x.Data}, nil
			},
			OnReply: func(_ context.Context, x *saga.Exec, reply courier.Message) error {
				x.Data = reply.Value
				return nil
			},
		}}}},
		Producer:   p,
		ReplyTopic: "checkout-replies",
		Logger:     slog.New(slog.DiscardHandler),
		OnTransition: func(tr saga.Transition) {
			if tr.Instance.State.Final() {
				done <- tr.Instance
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()
	replies, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "checkout", Topics: []string{"checkout-replies"}})
	if err != nil {
		log.Fatal(err)
	}
	go replies.Consume(ctx, o.ReplyHandler())
	defer replies.Close()

	if _, err := o.Start(ctx, "checkout", "cart-9", []byte("42 EUR")); err != nil {
		log.Fatal(err)
	}
	inst := <-done
	fmt.Printf("%s %s with %s\n", inst.ID, inst.State, inst.Data)
	// Output:
	// payment service: charge 42 EUR (command cart-9/pay)
	// cart-9 completed with receipt-7
}
