package saga_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/courier-go/courier/saga"
)

// An order saga whose shipping step fails: the payment and the reservation are undone.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	step := func(name string, err error) saga.Step {
		return saga.Step{Name: name,
			Action: func(_ context.Context, x *saga.Exec) error {
				if err != nil {
					return saga.Permanent(err)
				}
				fmt.Println("do  ", x.Key)
				return nil
			},
			Compensate: func(_ context.Context, x *saga.Exec) error {
				fmt.Println("undo", x.Key)
				return nil
			}}
	}
	done := make(chan saga.Instance, 1)
	o, err := saga.New(saga.Config{
		Store:       saga.NewMemoryStore(),
		Definitions: []saga.Definition{{Name: "order", Steps: []saga.Step{step("reserve", nil), step("pay", nil), step("ship", errors.New("no courier"))}}},
		Workers:     1,
		Logger:      slog.New(slog.DiscardHandler),
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
	if _, err := o.Start(ctx, "order", "order-42", nil); err != nil {
		log.Fatal(err)
	}
	inst := <-done
	fmt.Println(inst.State, "-", inst.Error)
	// Output:
	// do   order-42/reserve
	// do   order-42/pay
	// undo order-42/ship
	// undo order-42/pay
	// undo order-42/reserve
	// compensated - no courier
}
