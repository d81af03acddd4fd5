package rabbitmq

import (
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
)

// testMaxMessageBytes keeps the TooLarge case's allocation small.
const testMaxMessageBytes = 4 << 20

func harness() brokertest.Harness {
	var tp *topology
	return brokertest.Harness{
		NewBroker: func(t testing.TB) courier.Broker {
			// The suite sends to topics no group is bound to yet (StartNewest, ErrClosed),
			// which the mandatory flag rightly reports as unroutable: it runs with the flag off.
			// TestUnroutable covers the default.
			b, top := newTestBroker(t, Config{AllowUnroutable: true, MaxMessageBytes: testMaxMessageBytes})
			tp = top
			return trackedBroker{b, top}
		},
		NewTopic: func(t testing.TB, b courier.Broker) string {
			return tp.exchange(randomName("courier-test-"))
		},
	}
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, harness(), brokertest.Capabilities{
		// Replay: a queue only gets the messages published after it was bound.
		Replay: false,
		// NilValue: a "courier-nil" header marks a nil Value, so nil and empty stay apart.
		NilValue:        true,
		MaxMessageBytes: testMaxMessageBytes,
		// A queue round-robins its consumers; strict order across instances needs
		// Queue.SingleActiveConsumer, with which one consumer gets everything.
		KeyOrder: brokertest.OrderWithinConsumer,
		// Attempt is the quorum queue's x-delivery-count.
		RedeliveryCount: true,
	})
}
