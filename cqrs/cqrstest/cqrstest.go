// Package cqrstest holds checks of package cqrs that take any courier.Broker, so that every
// adapter (memory here, the others in the integration module) runs the same ones.
package cqrstest

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs"
)

// OrderConfig sizes CommandOrder. Zero fields take the defaults given.
type OrderConfig struct {
	Aggregates   int           // aggregates commands go to; 0 means 16
	PerAggregate int           // commands sent to each; 0 means 50
	Concurrency  int           // the consumer's Concurrency; 0 means 8
	Timeout      time.Duration // for all commands to be handled; 0 means 30s
	// Topic and Group name the topic and consumer group CommandOrder uses; "" means a name
	// of its own ("cqrstest-commands-<random>", "cqrstest-handlers-<random>"). Set them to
	// delete what a broker keeps of them after the test.
	Topic, Group string
}

// OrderResult says what CommandOrder saw.
type OrderResult struct {
	Handled     int // handler calls
	Duplicates  int // calls for a command already handled (at-least-once allows them)
	MaxInFlight int // most handler calls running at once, across aggregates
}

// orderCommand is the command CommandOrder sends.
type orderCommand struct {
	Aggregate string `json:"aggregate"`
	Seq       int    `json:"seq"`
}

func (c orderCommand) AggregateID() string { return c.Aggregate }

// CommandOrder sends cfg.PerAggregate commands to each of cfg.Aggregates aggregates,
// interleaved, through a cqrs.CommandBus over b, and consumes them with a consumer of
// Concurrency cfg.Concurrency whose handler is the bus. It fails t unless every aggregate's
// commands reach the handler in the order they were sent, one at a time, each at least once.
// It closes what it opens, but not b.
func CommandOrder(t testing.TB, b courier.Broker, cfg OrderConfig) OrderResult {
	t.Helper()
	if cfg.Aggregates == 0 {
		cfg.Aggregates = 16
	}
	if cfg.PerAggregate == 0 {
		cfg.PerAggregate = 50
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	suffix := rand.Text()[:10]
	topic, group := cfg.Topic, cfg.Group
	if topic == "" {
		topic = "cqrstest-commands-" + suffix
	}
	if group == "" {
		group = "cqrstest-handlers-" + suffix
	}

	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	defer p.Close()
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: cfg.Concurrency})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	bus, err := cqrs.NewCommandBus(cqrs.CommandBusConfig{Producer: p, Topic: topic})
	if err != nil {
		t.Fatalf("NewCommandBus: %v", err)
	}

	var (
		mu       sync.Mutex
		last     = make(map[string]int)
		busy     = make(map[string]bool)
		inFlight int
		res      OrderResult
		problems []string
		done     = make(chan struct{})
		total    = cfg.Aggregates * cfg.PerAggregate
		firsts   int
	)
	err = cqrs.HandleCommand(bus, func(ctx context.Context, cmd orderCommand) error {
		mu.Lock()
		if busy[cmd.Aggregate] {
			problems = append(problems, fmt.Sprintf("%s: command %d ran while another of its commands was running", cmd.Aggregate, cmd.Seq))
		}
		busy[cmd.Aggregate] = true
		inFlight++
		res.MaxInFlight = max(res.MaxInFlight, inFlight)
		mu.Unlock()

		runtime.Gosched() // give the other workers a chance to overlap

		mu.Lock()
		defer mu.Unlock()
		busy[cmd.Aggregate] = false
		inFlight--
		res.Handled++
		switch prev := last[cmd.Aggregate]; {
		case cmd.Seq <= prev:
			res.Duplicates++
		case cmd.Seq == prev+1:
			last[cmd.Aggregate] = cmd.Seq
			if firsts++; firsts == total {
				close(done)
			}
		default:
			problems = append(problems, fmt.Sprintf("%s: command %d handled after %d", cmd.Aggregate, cmd.Seq, prev))
			last[cmd.Aggregate] = cmd.Seq
		}
		return nil
	})
	if err != nil {
		t.Fatalf("HandleCommand: %v", err)
	}

	consumed := make(chan error, 1)
	go func() { consumed <- c.Consume(ctx, bus) }()
	for seq := 1; seq <= cfg.PerAggregate; seq++ {
		for a := range cfg.Aggregates {
			if err := cqrs.SendCommand(ctx, bus, orderCommand{Aggregate: fmt.Sprintf("agg-%02d", a), Seq: seq}); err != nil {
				c.Close()
				<-consumed
				t.Fatalf("SendCommand: %v", err)
			}
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	if err := c.Close(); err != nil {
		t.Errorf("consumer Close: %v", err)
	}
	if err := <-consumed; err != nil {
		t.Errorf("Consume: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
	if firsts != total {
		t.Errorf("%d of %d commands handled within %v", firsts, total, cfg.Timeout)
	}
	if s := bus.Stats(); s.Skipped != 0 || s.Failed != 0 {
		t.Errorf("bus stats %+v: nothing should be skipped or fail", s)
	}
	return res
}
