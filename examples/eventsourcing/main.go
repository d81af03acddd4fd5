// Command eventsourcing keeps bank accounts as events: it opens accounts, moves money with
// optimistic concurrency (concurrent deposits retry on conflict, an overdraft is refused),
// keeps a balance read model up to date with a subscription, and publishes every event to a
// broker through the outbox relay. It runs on the in-memory store and broker by default:
//
//	go run ./examples/eventsourcing
//	go run ./examples/eventsourcing -postgres postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	go run ./examples/eventsourcing -broker redis://127.0.0.1:6379/0
//
// (from the examples/eventsourcing directory: go run .)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"sync"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/aggregate"
	"github.com/courier-go/courier/eventsource/memstore"
	"github.com/courier-go/courier/eventsource/pgstore"
	_ "github.com/courier-go/courier/memory"       // registers memory://
	_ "github.com/courier-go/courier/redisstreams" // registers redis://
	"github.com/jackc/pgx/v5/pgxpool"
)

// The events of an account.
type (
	AccountOpened  struct{ Owner string }
	MoneyDeposited struct{ Amount int64 }
	MoneyWithdrawn struct{ Amount int64 }
)

// Account is an account's state, folded from its events.
type Account struct {
	Owner   string
	Balance int64
}

func evolve(a Account, e any) Account {
	switch e := e.(type) {
	case AccountOpened:
		a.Owner = e.Owner
	case MoneyDeposited:
		a.Balance += e.Amount
	case MoneyWithdrawn:
		a.Balance -= e.Amount
	}
	return a
}

var (
	errExists       = errors.New("account already open")
	errNoAccount    = errors.New("no such account")
	errInsufficient = errors.New("insufficient funds")
)

// The commands: each decides from the current state which events happen.
func open(owner string) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if a.Owner != "" {
			return nil, errExists
		}
		return []any{AccountOpened{Owner: owner}}, nil
	}
}

func deposit(n int64) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if a.Owner == "" {
			return nil, errNoAccount
		}
		return []any{MoneyDeposited{Amount: n}}, nil
	}
}

func withdraw(n int64) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if a.Balance < n {
			return nil, fmt.Errorf("withdraw %d from a balance of %d: %w", n, a.Balance, errInsufficient)
		}
		return []any{MoneyWithdrawn{Amount: n}}, nil
	}
}

type config struct {
	prefix   string // of this run's streams and topic; "" means one made from the time
	postgres string // "" means memstore
	schema   string
	broker   string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL URL for the event store (default: in memory)")
	flag.StringVar(&cfg.schema, "schema", "bank_example", "PostgreSQL schema of the event store")
	flag.StringVar(&cfg.broker, "broker", "memory://", "broker URL the events are published to (memory://, redis://)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// openStore returns the event store and the checkpoint store and lease that go with it.
func openStore(ctx context.Context, cfg config) (eventsource.Store, eventsource.CheckpointStore, eventsource.Lease, func(), error) {
	if cfg.postgres == "" {
		return memstore.New(memstore.Config{}), &eventsource.MemoryCheckpoints{}, &eventsource.LocalLease{}, func() {}, nil
	}
	pool, err := pgxpool.New(ctx, cfg.postgres)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := pgstore.Migrate(ctx, pool, cfg.schema); err != nil {
		pool.Close()
		return nil, nil, nil, nil, err
	}
	s, err := pgstore.New(pool, pgstore.Config{Schema: cfg.schema})
	if err != nil {
		pool.Close()
		return nil, nil, nil, nil, err
	}
	return s, s, pgstore.AdvisoryLease{Pool: pool}, pool.Close, nil
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	store, checkpoints, lease, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	defer closeStore()
	defer store.Close()

	reg, err := eventsource.NewRegistry(eventsource.RegistryConfig{})
	if err != nil {
		return err
	}
	for _, err := range []error{
		eventsource.Register[AccountOpened](reg, "AccountOpened"),
		eventsource.Register[MoneyDeposited](reg, "MoneyDeposited"),
		eventsource.Register[MoneyWithdrawn](reg, "MoneyWithdrawn"),
	} {
		if err != nil {
			return err
		}
	}
	// Streams of this run get a prefix of their own, so that runs on a shared database do
	// not meet.
	run := cfg.prefix
	if run == "" {
		run = fmt.Sprintf("bank-%d-", time.Now().UnixNano())
	}
	accounts, err := aggregate.New(aggregate.Config[Account]{
		Store: store, Registry: reg, Evolve: evolve, MaxRetries: 20,
		Stream:    func(id string) string { return run + id },
		Snapshots: &aggregate.MemorySnapshots{}, SnapshotEvery: 5,
	})
	if err != nil {
		return err
	}

	// The outbox relay publishes every event of this run; a consumer counts them.
	broker, err := courier.Open(ctx, cfg.broker)
	if err != nil {
		return err
	}
	defer broker.Close()
	topic := run + "events"
	consumer, err := broker.NewConsumer(ctx, courier.ConsumerConfig{Group: "bank-audit", Topics: []string{topic}})
	if err != nil {
		return err
	}
	defer consumer.Close()
	producer, err := broker.NewProducer(ctx)
	if err != nil {
		return err
	}
	defer producer.Close()
	relay, err := eventsource.NewRelay(store, producer, eventsource.RelayConfig{
		Name: run + "outbox", Topic: func(eventsource.Event) string { return topic },
		Checkpoints: checkpoints, Lease: lease, Filter: eventsource.Filter{StreamPrefix: run},
		PollInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}

	// A read model of balances, kept by a subscription.
	var mu sync.Mutex
	balances := map[string]int64{}
	projected := 0
	progress := make(chan struct{}, 1)
	sub, err := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{
		Name: run + "balances", Checkpoints: checkpoints, Filter: eventsource.Filter{StreamPrefix: run}, PollInterval: 20 * time.Millisecond,
	}, func(_ context.Context, e eventsource.Event) error {
		v, err := reg.Decode(e)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		id := e.Stream[len(run):]
		switch v := v.(type) {
		case MoneyDeposited:
			balances[id] += v.Amount
		case MoneyWithdrawn:
			balances[id] -= v.Amount
		}
		projected++
		select {
		case progress <- struct{}{}:
		default:
		}
		return nil
	})
	if err != nil {
		return err
	}

	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	published := make(chan courier.Message, 1024)
	wg.Go(func() { errs <- relay.Run(bg) })
	wg.Go(func() { errs <- sub.Run(bg) })
	wg.Go(func() {
		errs <- consumer.Consume(bg, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			published <- m
			return nil
		}))
	})
	defer func() { stopBG(); wg.Wait() }()

	// The story.
	for _, id := range []string{"alice", "bob"} {
		if _, err := accounts.Handle(ctx, id, open(id)); err != nil {
			return err
		}
		fmt.Fprintf(out, "opened account %s\n", id)
	}
	if _, err := accounts.Handle(ctx, "alice", deposit(100)); err != nil {
		return err
	}
	fmt.Fprintln(out, "alice deposited 100")
	if _, err := accounts.Handle(ctx, "bob", withdraw(50)); errors.Is(err, errInsufficient) {
		fmt.Fprintf(out, "bob's withdrawal refused: %v\n", err)
	} else {
		return fmt.Errorf("bob's overdraft was not refused: %v", err)
	}
	// Four tellers deposit into bob's account at once: they collide, and retry.
	var tellers sync.WaitGroup
	tellerErrs := make(chan error, 4)
	for range 4 {
		tellers.Go(func() {
			for range 5 {
				if _, err := accounts.Handle(ctx, "bob", deposit(10)); err != nil {
					tellerErrs <- err
					return
				}
			}
		})
	}
	tellers.Wait()
	close(tellerErrs)
	if err := <-tellerErrs; err != nil {
		return err
	}
	fmt.Fprintln(out, "4 tellers deposited 5 x 10 into bob's account concurrently")
	if _, err := accounts.Handle(ctx, "alice", withdraw(30)); err != nil {
		return err
	}
	fmt.Fprintln(out, "alice withdrew 30")

	// Every event reaches the read model and the broker.
	const total = 2 + 1 + 20 + 1
	seen := map[string]bool{}
	for len(seen) < total {
		select {
		case m := <-published:
			seen[m.ID] = true
		case err := <-errs:
			return fmt.Errorf("stopped early: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("%d of %d events published: %w", len(seen), total, ctx.Err())
		}
	}
	fmt.Fprintf(out, "outbox relay published %d events to %s\n", len(seen), cfg.broker)
	for {
		mu.Lock()
		n := projected
		mu.Unlock()
		if n >= total {
			break
		}
		select {
		case <-progress:
		case err := <-errs:
			return fmt.Errorf("stopped early: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("read model has %d of %d events: %w", n, total, ctx.Err())
		}
	}
	mu.Lock()
	ids := make([]string, 0, len(balances))
	for id := range balances {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a, err := accounts.Load(ctx, id)
		if err != nil {
			mu.Unlock()
			return err
		}
		fmt.Fprintf(out, "%s: balance %d (read model %d), version %d\n", id, a.State.Balance, balances[id], a.Version)
	}
	mu.Unlock()
	return nil
}
