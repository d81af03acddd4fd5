// Command saga runs an order saga: reserve stock, charge the payment (a message-driven step:
// a command to a payment service over the broker, and its reply), ship. The second order's
// shipping fails, so its payment is refunded and its stock released, last step first.
//
//	go run . [-broker memory://] [-pg postgres://user@host:5432/db]
//
// By default sagas live in memory; with -pg they are kept in PostgreSQL (table -pg-table, created
// if missing) and would survive a crash of this program. -broker takes any broker URL whose
// adapter is imported (memory://, redis://host:6379/0).
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
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/memory"
	_ "github.com/courier-go/courier/redisstreams"
	"github.com/courier-go/courier/saga"
	"github.com/courier-go/courier/saga/pgstore"
)

type options struct {
	broker, pg, pgTable string
	runID               string // suffix of topics and saga IDs; "" means a fresh one
}

func main() {
	var opt options
	flag.StringVar(&opt.broker, "broker", "memory://", "broker URL")
	flag.StringVar(&opt.pg, "pg", "", "PostgreSQL URL to keep the sagas in (default: in memory)")
	flag.StringVar(&opt.pgTable, "pg-table", "saga_example", "PostgreSQL table for -pg")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout, opt); err != nil {
		log.Fatal(err)
	}
}

// shop is the local side of the example: stock and shipping, and the payment service's ledger
// (which the payment service on the broker writes and the refund compensation reads).
type shop struct {
	out      io.Writer
	mu       sync.Mutex
	reserved map[string]bool // idempotency key -> stock reserved
	charged  map[string]bool // idempotency key -> payment taken
}

func (s *shop) say(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, format+"\n", args...)
}

func run(ctx context.Context, out io.Writer, opt options) error {
	sh := &shop{out: out, reserved: map[string]bool{}, charged: map[string]bool{}}
	store, closeStore, err := openStore(ctx, opt)
	if err != nil {
		return err
	}
	defer closeStore()
	b, err := courier.Open(ctx, opt.broker)
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := b.NewProducer(ctx)
	if err != nil {
		return err
	}
	defer p.Close()

	suffix := "" // fresh topics and saga IDs on a real broker or database
	if opt.runID != "" {
		suffix = "-" + opt.runID
	} else if opt.pg != "" || !strings.HasPrefix(opt.broker, "memory:") {
		suffix = fmt.Sprint("-", time.Now().UnixNano())
	}
	commands, replies := "payments"+suffix, "order-replies"+suffix

	ended := make(chan saga.Instance, 4)
	o, err := saga.New(saga.Config{
		Store:        store,
		Definitions:  []saga.Definition{orderSaga(sh, commands)},
		Producer:     p,
		ReplyTopic:   replies,
		Workers:      2,
		PollInterval: 50 * time.Millisecond,
		OnTransition: func(tr saga.Transition) {
			if tr.Instance.State.Final() || tr.Instance.State == saga.Parked {
				ended <- tr.Instance
			}
		},
	})
	if err != nil {
		return err
	}
	defer o.Close()

	stopPayments, err := consume(ctx, b, courier.ConsumerConfig{Group: "payment-service", Topics: []string{commands}}, paymentService(sh, p))
	if err != nil {
		return err
	}
	defer stopPayments()
	stopReplies, err := consume(ctx, b, courier.ConsumerConfig{Group: "orders", Topics: []string{replies}}, o.ReplyHandler())
	if err != nil {
		return err
	}
	defer stopReplies()

	for _, order := range []string{"order-1", "order-2-bad-address"} {
		id := order + suffix
		fmt.Fprintf(out, "== %s\n", order)
		if _, err := o.Start(ctx, "order", id, []byte(order)); err != nil {
			return err
		}
		select {
		case inst := <-ended:
			fmt.Fprintf(out, "%s: %s", order, inst.State)
			if inst.Error != "" {
				fmt.Fprintf(out, " (%s)", inst.Error)
			}
			fmt.Fprintln(out)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", order, ctx.Err())
		}
	}
	return nil
}

// orderSaga is reserve -> charge (by message to the payment service) -> ship.
func orderSaga(sh *shop, paymentTopic string) saga.Definition {
	return saga.Definition{Name: "order", Steps: []saga.Step{
		{
			Name: "reserve-stock",
			Action: func(_ context.Context, x *saga.Exec) error {
				sh.mu.Lock()
				sh.reserved[x.Key] = true
				sh.mu.Unlock()
				sh.say("  stock reserved for %s", x.Data)
				return nil
			},
			Compensate: func(_ context.Context, x *saga.Exec) error {
				sh.mu.Lock()
				delete(sh.reserved, saga.IdempotencyKey(x.SagaID, "reserve-stock"))
				sh.mu.Unlock()
				sh.say("  stock released for %s", x.Data)
				return nil
			},
		},
		{
			Name:    "charge-payment",
			Timeout: 5 * time.Second, // the reply deadline
			Command: func(_ context.Context, x *saga.Exec) (courier.Message, error) {
				return courier.Message{Topic: paymentTopic, Key: x.SagaID, Value: x.Data}, nil
			},
			Compensate: func(_ context.Context, x *saga.Exec) error {
				sh.mu.Lock()
				was := sh.charged[x.Key] // refunds are keyed too: a second one finds nothing to do
				delete(sh.charged, x.Key)
				sh.mu.Unlock()
				if was {
					sh.say("  payment refunded for %s", x.Data)
				}
				return nil
			},
		},
		{
			Name: "ship",
			Action: func(_ context.Context, x *saga.Exec) error {
				if string(x.Data) == "order-2-bad-address" {
					sh.say("  shipping refused %s", x.Data)
					return saga.Permanent(errors.New("address not deliverable"))
				}
				sh.say("  shipped %s", x.Data)
				return nil
			},
		},
	}}
}

// paymentService charges once per command ID (the step's idempotency key) and replies.
func paymentService(sh *shop, p courier.Producer) courier.MessageHandler {
	return courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		sh.mu.Lock()
		already := sh.charged[m.ID]
		sh.charged[m.ID] = true
		sh.mu.Unlock()
		if !already {
			sh.say("  payment service charged %s (command ID %s)", m.Value, m.ID)
		}
		reply, err := saga.Reply(m, nil, nil)
		if err != nil {
			return err
		}
		return p.Send(ctx, reply)
	})
}

func openStore(ctx context.Context, opt options) (saga.Store, func(), error) {
	if opt.pg == "" {
		return saga.NewMemoryStore(), func() {}, nil
	}
	pool, err := pgxpool.New(ctx, opt.pg)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	s, err := pgstore.New(pool, pgstore.Config{Table: opt.pgTable})
	if err == nil {
		err = s.Migrate(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return s, pool.Close, nil
}

// consume runs a consumer in the background; the returned func stops it.
func consume(ctx context.Context, b courier.Broker, cfg courier.ConsumerConfig, h courier.MessageHandler) (func(), error) {
	c, err := b.NewConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, h) }()
	return func() {
		c.Close()
		if err := <-done; err != nil {
			slog.Error("consumer stopped with an error", "group", cfg.Group, "error", err)
		}
	}, nil
}
