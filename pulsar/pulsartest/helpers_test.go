package pulsartest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"go.uber.org/goleak"

	"github.com/courier-go/courier/pulsar/pulsartest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// After producer.Close the client leaves its send-timeout watcher
		// running until the next SendTimeout tick (pulsar-client-go v0.19.0);
		// it is the client's, not the server's, and ends on its own.
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages"),
		// After Unsubscribe the v0.19.0 client marks its consumer closed
		// without stopping it (internalUnsubscribe never closes closeCh), so
		// Close returns early and these three run until the process ends.
		// TestServerCloseLeavesNoGoroutine checks the server's own goroutines.
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.newAckGroupingTracker.func1"),
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).dispatcher"),
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).runEventsLoop"),
	)
}

// wait bounds every blocking step of a test.
const wait = 10 * time.Second

func newServer(t *testing.T, opts ...pulsartest.Option) *pulsartest.Server {
	t.Helper()
	srv, err := pulsartest.NewServer(opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
	})
	return srv
}

// clientLogger keeps the client quiet unless PULSARTEST_CLIENT_LOG is set.
func clientLogger() plog.Logger {
	if os.Getenv("PULSARTEST_CLIENT_LOG") == "" {
		return plog.DefaultNopLogger()
	}
	return plog.NewLoggerWithSlog(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func newClient(t *testing.T, srv *pulsartest.Server) pulsar.Client {
	t.Helper()
	return newClientWith(t, srv, pulsar.ClientOptions{OperationTimeout: 5 * time.Second})
}

// newClientWith fills URL, logger and a short connection timeout into opts.
func newClientWith(t *testing.T, srv *pulsartest.Server, opts pulsar.ClientOptions) pulsar.Client {
	t.Helper()
	opts.URL = srv.URL()
	opts.Logger = clientLogger()
	if opts.ConnectionTimeout == 0 {
		opts.ConnectionTimeout = 2 * time.Second
	}
	c, err := pulsar.NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// topicName gives each test its own topic.
func topicName(t *testing.T) string {
	r := strings.NewReplacer("/", "-", " ", "-", "=", "-")
	return "persistent://public/default/" + strings.ToLower(r.Replace(t.Name()))
}

func newProducer(t *testing.T, c pulsar.Client, opts pulsar.ProducerOptions) pulsar.Producer {
	t.Helper()
	if opts.SendTimeout == 0 {
		opts.SendTimeout = 5 * time.Second
	}
	p, err := c.CreateProducer(opts)
	if err != nil {
		t.Fatalf("CreateProducer(%s): %v", opts.Topic, err)
	}
	t.Cleanup(p.Close)
	return p
}

func subscribe(t *testing.T, c pulsar.Client, opts pulsar.ConsumerOptions) pulsar.Consumer {
	t.Helper()
	cons, err := c.Subscribe(opts)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", opts.SubscriptionName, err)
	}
	t.Cleanup(cons.Close)
	return cons
}

// send sends values one by one and returns their ids.
func send(t *testing.T, p pulsar.Producer, values ...string) []pulsar.MessageID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ids := make([]pulsar.MessageID, 0, len(values))
	for _, v := range values {
		id, err := p.Send(ctx, &pulsar.ProducerMessage{Payload: []byte(v)})
		if err != nil {
			t.Fatalf("Send(%q): %v", v, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// sendAsync sends all messages at once, so batching can group them, and
// waits for every receipt.
func sendAsync(t *testing.T, p pulsar.Producer, msgs []*pulsar.ProducerMessage) {
	t.Helper()
	errs := make(chan error, len(msgs))
	for _, m := range msgs {
		p.SendAsync(context.Background(), m, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			errs <- err
		})
	}
	if err := p.FlushWithCtx(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	deadline := time.After(wait)
	for range msgs {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("SendAsync: %v", err)
			}
		case <-deadline:
			t.Fatal("timed out waiting for send receipts")
		}
	}
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

func receive(t *testing.T, c pulsar.Consumer) pulsar.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive on %s: %v", c.Subscription(), err)
	}
	return m
}

// receiveValues receives n messages, acknowledging each, and returns payloads.
func receiveValues(t *testing.T, c pulsar.Consumer, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		m := receive(t, c)
		if err := c.Ack(m); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		out = append(out, string(m.Payload()))
	}
	return out
}

// expectNothing checks that no message arrives within d: a bounded wait for
// something that must not happen.
func expectNothing(t *testing.T, c pulsar.Consumer, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := c.Receive(ctx)
	if err == nil {
		t.Fatalf("unexpected message %q (redelivery count %d)", m.Payload(), m.RedeliveryCount())
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive: %v", err)
	}
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// waitFor polls cond until it holds, failing the test after the deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
