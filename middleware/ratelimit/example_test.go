package ratelimit_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware/ratelimit"
	"golang.org/x/time/rate"
)

// A handler that calls a partner's API at most 50 times a second, in bursts of up to 5.
func Example() {
	limit, err := ratelimit.Middleware(rate.NewLimiter(50, 5))
	if err != nil {
		log.Fatal(err)
	}
	h := courier.Chain(courier.HandlerFunc(func(context.Context, courier.Message) error {
		return nil // call the partner
	}), limit)
	start := time.Now()
	for range 10 {
		if err := h.HandleMessage(context.Background(), courier.Message{Topic: "orders"}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("10 messages took at least 100ms:", time.Since(start) >= 100*time.Millisecond-time.Millisecond)

	_, err = ratelimit.Middleware(rate.NewLimiter(50, 0))
	fmt.Println(err)
	// Output:
	// 10 messages took at least 100ms: true
	// courier: invalid config: ratelimit: burst 0: must be at least 1, or every wait fails
}
