package memory_test

import (
	"context"
	"fmt"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

// The memory broker in a unit test: send, then consume what the group has.
func Example() {
	ctx := context.Background()
	b, _ := memory.New(context.Background(), memory.Config{})
	defer b.Close()

	p, _ := b.NewProducer(ctx)
	for _, v := range []string{"a", "b", "c"} {
		_ = p.Send(ctx, courier.Message{Topic: "letters", Key: "k", Value: []byte(v)})
	}
	// A new group starts at the oldest message, as on Kafka with "earliest".
	c, _ := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "reader", Topics: []string{"letters"}})
	n := 0
	_ = c.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		fmt.Printf("%s at offset %d\n", m.Value, m.Offset)
		if n++; n == 3 {
			go c.Close()
		}
		return nil
	}))
	st, _ := b.TopicStats("letters")
	fmt.Println("messages kept:", st.Messages)
	// Output:
	// a at offset 0
	// b at offset 1
	// c at offset 2
	// messages kept: 3
}
