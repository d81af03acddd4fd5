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
	brokertest.Run(t, harness(), brokertest.Capabilities{Replay: true, NilValue: true, MaxMessageBytes: 4 << 20})
}

func BenchmarkMemory(b *testing.B) {
	brokertest.Bench(b, harness(), brokertest.BenchOptions{})
}
