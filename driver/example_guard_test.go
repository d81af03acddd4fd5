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
	run, finish, _, _ := g.Start(context.Background(), h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer finish()
		<-run.Done() // a real Consume reads and dispatches here
	}()
	fmt.Println("closed:", g.Close())
	<-done
	_, _, _, err := g.Start(context.Background(), h)
	fmt.Println(errors.Is(err, courier.ErrClosed))
	// Output:
	// closed: true
	// true
}
