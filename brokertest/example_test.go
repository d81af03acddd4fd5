package brokertest_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/memory"
)

// An adapter's conformance test: a harness that makes a fresh broker per case, and the
// capabilities the broker declares. Cases it cannot run are skipped with the reason.
func ExampleRun() {
	harness := brokertest.Harness{
		NewBroker: func(t testing.TB) courier.Broker {
			b, err := memory.New(context.Background(), memory.Config{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	caps := brokertest.Capabilities{Replay: true, NilValue: true, MaxMessageBytes: memory.DefaultMaxMessageBytes}
	// In a _test.go file:
	//	func TestConformance(t *testing.T) { brokertest.Run(t, harness, caps) }
	//	func BenchmarkBroker(b *testing.B) { brokertest.Bench(b, harness, brokertest.BenchOptions{}) }
	_, _ = harness, caps
	// Output:
}
