package driver_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// printSettler is an adapter's side in miniature: it prints what the engine decides.
type printSettler struct{ wg *sync.WaitGroup }

func (s printSettler) Ack(_ context.Context, d driver.Delivery) error {
	fmt.Println("ack", d.Msg.ID, "attempt", d.Msg.Attempt)
	s.wg.Done()
	return nil
}

func (printSettler) Retry(_ context.Context, d driver.Delivery) (driver.Delivery, error) {
	d.Msg.Attempt++ // a broker with a delivery count would report it here
	return d, nil
}

func (printSettler) Release(d driver.Delivery) { fmt.Println("release", d.Msg.ID) }

func ExampleEngine() {
	var wg sync.WaitGroup
	wg.Add(2)
	h := courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		if m.ID == "a" && m.Attempt == 1 {
			return errors.New("try again") // "b" has the same key: it waits for "a"
		}
		return nil
	})
	e := driver.NewEngine(context.Background(), h, printSettler{&wg}, driver.EngineConfig{
		Concurrency: 4,
		Backoff:     courier.Backoff{Initial: 1, Max: 1, Multiplier: 1},
	})
	for _, id := range []string{"a", "b"} {
		_ = e.Submit(context.Background(), driver.Delivery{Msg: courier.Message{ID: id, Key: "k", Attempt: 1}})
	}
	wg.Wait()
	e.Close()
	// Output:
	// ack a attempt 2
	// ack b attempt 1
}
