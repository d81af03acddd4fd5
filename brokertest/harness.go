// Package brokertest is courier's conformance suite: the delivery contract every adapter keeps,
// as tests any adapter can run, including third-party ones.
//
//	func TestConformance(t *testing.T) {
//		brokertest.Run(t, brokertest.Harness{
//			NewBroker: func(t testing.TB) courier.Broker { ... },
//		}, brokertest.Capabilities{Replay: true})
//	}
//
// Each case runs against a fresh broker from the harness and checks that no goroutine is left
// behind once it is closed. Capabilities declare what a broker cannot do; a case skipped for
// that says so in the test output. Bench runs the same harness as benchmarks.
package brokertest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"go.uber.org/goleak"
)

// Harness connects the suite to an adapter.
type Harness struct {
	// NewBroker returns a broker for one test case; the suite closes it at the case's end.
	// Required. Adapters that need tuning for tests (a short claim time, say) set it here.
	NewBroker func(t testing.TB) courier.Broker
	// NewTopic returns a topic name no other case uses, creating the topic where the broker
	// needs that first. Optional: the default is a random name.
	NewTopic func(t testing.TB, b courier.Broker) string
	// Configure adjusts each consumer config the suite makes. Optional.
	Configure func(cfg *courier.ConsumerConfig)
	// IgnoreGoroutines lists goroutines the adapter's client library leaves behind by design,
	// for goleak; each must come with a comment saying why.
	IgnoreGoroutines []goleak.Option
}

// Capabilities declares what a broker can and cannot do. The zero value claims the least.
type Capabilities struct {
	// Replay: a group created after messages were sent receives them (with StartOldest).
	Replay bool
	// NilValue: a nil Value is delivered as nil and an empty one as empty; without it both
	// may arrive as either, but always with length 0.
	NilValue bool
	// KeyOrder is how far the order of a key's messages reaches on this broker: within one
	// consumer (the zero value, the least claim) or across all the consumers of a group. The
	// KeyOrderAcrossGroup case runs only when it is OrderAcrossGroup.
	KeyOrder OrderScope
	// RedeliveryCount: Attempt counts the deliveries to any consumer of the group, so a
	// message that one consumer hands back (its Close, a crash) comes to the next with
	// Attempt raised, and ConsumerConfig.MaxAttempts bounds its attempts in all. Without it,
	// the count may restart on another consumer (Kafka keeps no count; Pulsar counts
	// negative acknowledgements, not a consumer's leaving), and MaxAttempts bounds the
	// attempts of one consumer.
	RedeliveryCount bool
	// MaxMessageBytes is the broker's size limit: a larger message must fail with
	// courier.ErrMessageTooLarge. 0 skips that case.
	MaxMessageBytes int
	// Messages is how many messages the load cases send; default 2000.
	Messages int
	// Timeout bounds each wait for a delivery; default 30s.
	Timeout time.Duration
}

// OrderScope is how far per-key order reaches (see Capabilities.KeyOrder).
type OrderScope int

const (
	// OrderWithinConsumer: each consumer handles the messages of a key it gets one at a time,
	// in send order (and a message being retried keeps its place), but the consumers of one
	// group may each get messages of one key and handle them side by side: Redis Streams
	// hands entries out in turn, a RabbitMQ queue round-robins its consumers.
	OrderWithinConsumer OrderScope = iota
	// OrderAcrossGroup: the messages of a key reach the group's handlers one at a time and in
	// send order whichever consumer gets them, also while consumers join and leave (a key
	// moves to another consumer only once what it was given of the key is settled): Kafka
	// partitions, Pulsar Key_Shared, the memory broker.
	OrderAcrossGroup
)

func (s OrderScope) String() string {
	switch s {
	case OrderWithinConsumer:
		return "within one consumer"
	case OrderAcrossGroup:
		return "across a group's consumers"
	}
	return fmt.Sprintf("OrderScope(%d)", int(s))
}

func (c Capabilities) withDefaults() Capabilities {
	if c.Messages <= 0 {
		c.Messages = 2000
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return c
}

// env is one test case's broker and helpers.
type env struct {
	t    *testing.T
	h    Harness
	caps Capabilities
	b    courier.Broker
}

// setup makes a broker for one case and arranges its close and the goroutine check.
func setup(t *testing.T, h Harness, caps Capabilities) *env {
	t.Helper()
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, h.IgnoreGoroutines...)
	// Registered first, so it runs last: after the broker and the harness's own cleanups.
	t.Cleanup(func() {
		if !t.Failed() {
			goleak.VerifyNone(t, opts...)
		}
	})
	b := h.NewBroker(t)
	if b == nil {
		t.Fatal("brokertest: Harness.NewBroker returned nil")
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("broker Close: %v", err)
		}
	})
	return &env{t: t, h: h, caps: caps, b: b}
}

func (e *env) topic() string {
	if e.h.NewTopic != nil {
		return e.h.NewTopic(e.t, e.b)
	}
	return "courier-test-" + randomName()
}

func (e *env) group() string { return "group-" + randomName() }

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fastBackoff keeps redelivery cases quick.
var fastBackoff = courier.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Jitter: 0.1}

// config returns a consumer config for group on topics, as the harness adjusts it.
func (e *env) config(group string, concurrency int, topics ...string) courier.ConsumerConfig {
	cfg := courier.ConsumerConfig{
		Group:        group,
		Topics:       topics,
		Concurrency:  concurrency,
		Backoff:      fastBackoff,
		DrainTimeout: 5 * time.Second,
	}
	if e.h.Configure != nil {
		e.h.Configure(&cfg)
	}
	return cfg
}
