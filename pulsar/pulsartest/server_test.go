package pulsartest_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier/pulsar/pulsartest"
)

// serverGoroutines counts goroutines running the server's code.
func serverGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "courier/pulsar/pulsartest.(*") {
			n++
		}
	}
	return n
}

func TestServerCloseLeavesNoGoroutine(t *testing.T) {
	srv, err := pulsartest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	// The client's own Close waits an operation timeout for a gone server.
	c := newClientWith(t, srv, pulsar.ClientOptions{OperationTimeout: 300 * time.Millisecond})
	topic := topicName(t)
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "sub", Type: pulsar.Shared})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic})
	// A delayed message keeps a dispatch timer pending at Close.
	if _, err := p.Send(context.Background(), &pulsar.ProducerMessage{Payload: []byte("later"), DeliverAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	send(t, p, "now")
	equalStrings(t, "received", receiveValues(t, cons, 1), []string{"now"})
	if serverGoroutines() == 0 {
		t.Fatal("no server goroutine found while serving: the check itself is broken")
	}

	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitFor(t, "server goroutines to end", func() bool { return serverGoroutines() == 0 })
}

func TestNewServerBadAddress(t *testing.T) {
	if _, err := pulsartest.NewServer(pulsartest.WithAddr("256.0.0.1:bad")); err == nil {
		t.Fatal("NewServer accepted a malformed address")
	}
	if _, err := pulsartest.NewServer(pulsartest.WithPartitionedTopic("t", 0)); err == nil {
		t.Fatal("NewServer accepted a topic with 0 partitions")
	}
}
