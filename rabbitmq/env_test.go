package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// amqpURL returns the broker under test: COURIER_AMQP_URL, or a container.
func amqpURL(t testing.TB) string {
	t.Helper()
	return testenv.Broker(t, testenv.AMQPURL, testenv.Container("rabbitmq"))
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// topology records the exchanges and queues a test creates, and deletes them at its end so
// the broker does not fill up across runs.
type topology struct {
	url string
	mu  sync.Mutex
	exs map[string]bool
	qs  map[string]bool
}

func newTopology(t testing.TB, url string) *topology {
	tp := &topology{url: url, exs: map[string]bool{}, qs: map[string]bool{}}
	t.Cleanup(func() { tp.deleteAll(t) })
	return tp
}

func (tp *topology) exchange(name string) string {
	tp.mu.Lock()
	tp.exs[name] = true
	tp.mu.Unlock()
	return name
}

func (tp *topology) queue(name string) string {
	tp.mu.Lock()
	tp.qs[name] = true
	tp.mu.Unlock()
	return name
}

func (tp *topology) deleteAll(t testing.TB) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.exs)+len(tp.qs) == 0 {
		return
	}
	c, err := amqp.Dial(tp.url)
	if err != nil {
		t.Errorf("cleanup: connect: %v", err)
		return
	}
	defer c.Close()
	var ch *amqp.Channel
	do := func(what string, f func(ch *amqp.Channel) error) {
		if ch == nil || ch.IsClosed() {
			if ch, err = c.Channel(); err != nil {
				t.Errorf("cleanup: channel: %v", err)
				return
			}
		}
		if err := f(ch); err != nil {
			t.Logf("cleanup: delete %s: %v", what, err)
		}
	}
	// A recorded name is a raw queue or a group: a group has a queue per topic (QueueName).
	// Deleting a queue that does not exist succeeds.
	for q := range tp.qs {
		do("queue "+q, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(q, false, false, false); return err })
		for x := range tp.exs {
			gq := QueueName(q, x)
			do("queue "+gq, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(gq, false, false, false); return err })
		}
	}
	for x := range tp.exs {
		do("exchange "+x, func(ch *amqp.Channel) error { return ch.ExchangeDelete(x, false, false) })
	}
}

// trackedBroker records the groups and topics its consumers use, for deletion.
type trackedBroker struct {
	*Broker
	tp *topology
}

func (b trackedBroker) NewConsumer(ctx context.Context, cfg courier.ConsumerConfig) (courier.Consumer, error) {
	if cfg.Group != "" {
		b.tp.queue(cfg.Group)
	}
	for _, t := range cfg.Topics {
		if t != "" {
			b.tp.exchange(t)
		}
	}
	return b.Broker.NewConsumer(ctx, cfg)
}

// newTestBroker connects to the broker under test with cfg (its URL filled in), and deletes
// what the test created when it ends.
func newTestBroker(t testing.TB, cfg Config) (*Broker, *topology) {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = amqpURL(t)
	}
	tp := newTopology(t, cfg.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, tp
}
