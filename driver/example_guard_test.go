package driver_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// An adapter's consumer: Consume runs under the guard's context, Close ends it.
func ExampleGuard() {
	g := &driver.Guard{Name: `example: group "g"`}
	h := courier.HandlerFunc(func(context.Context, courier.Message) error { return nil })
	started := make(chan struct{})
	consume := func(ctx context.Context) (err error) {
		ctx, finish, _, err := g.Start(ctx, h)
		if err != nil {
			return err
		}
		defer finish(&err) // returns the engine's stop error, if OnExhausted stopped it
		close(started)
		<-ctx.Done() // a real Consume reads and dispatches here
		return nil
	}
	done := make(chan error)
	go func() { done <- consume(context.Background()) }()
	<-started
	fmt.Println("closed:", g.Close())
	fmt.Println("Consume returned:", <-done)
	fmt.Println("after Close:", errors.Is(consume(context.Background()), courier.ErrClosed))
	// Output:
	// closed: true
	// Consume returned: <nil>
	// after Close: true
}
