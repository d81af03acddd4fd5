package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware/breaker"
	"github.com/sony/gobreaker/v2"
)

// A producer that stops calling a broken downstream after three failures in a row and fails
// fast until the breaker half-opens.
func Example() {
	b, err := breaker.New(gobreaker.Settings{Name: "payments", Timeout: time.Minute,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 }})
	if err != nil {
		log.Fatal(err)
	}
	p, err := b.Producer(downProducer{})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 4 {
		err := p.Send(context.Background(), courier.Message{Topic: "payments"})
		fmt.Println(i+1, errors.Is(err, breaker.ErrOpen), err)
	}
	fmt.Println(b.State())
	// Output:
	// 1 false connection refused
	// 2 false connection refused
	// 3 false connection refused
	// 4 true breaker: open: breaker "payments": send to "payments": circuit breaker is open
	// open
}

type downProducer struct{}

func (downProducer) Send(context.Context, courier.Message) error {
	return errors.New("connection refused")
}
func (downProducer) SendBatch(context.Context, []courier.Message) error {
	return errors.New("connection refused")
}
func (downProducer) Close() error { return nil }
