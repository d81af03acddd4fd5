package memory_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/memory"
)

func harness() brokertest.Harness {
	return brokertest.Harness{NewBroker: func(t testing.TB) courier.Broker {
		b, err := memory.New(context.Background(), memory.Config{MaxMessageBytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}}
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, harness(), brokertest.Capabilities{Replay: true, NilValue: true, MaxMessageBytes: 4 << 20,
		KeyOrder:        brokertest.OrderAcrossGroup, // a key is held by one consumer of the group at a time
		RedeliveryCount: true,                        // the group counts each message's deliveries
	})
}

func BenchmarkMemory(b *testing.B) {
	brokertest.Bench(b, harness(), brokertest.BenchOptions{})
}

// TestSendAllocatesOnce: Send copies the Value and fills the ID in one allocation (it made two,
// and NewID a third, before); the delivery copy is the second of a message's two.
func TestSendAllocatesOnce(t *testing.T) {
	b, err := memory.New(context.Background(), memory.Config{MaxMessagesPerTopic: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 100)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := p.Send(ctx, courier.Message{Topic: "t", Value: value}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Send made %v allocations per message, want at most 1", allocs)
	}
}
