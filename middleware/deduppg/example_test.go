package deduppg_test

import (
	"context"
	"log"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware/deduppg"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A handler whose writes and inbox row commit together: each order is booked exactly once.
// (Not run by go test: it needs a PostgreSQL; TestOnBroker runs the same against
// COURIER_POSTGRES_URL.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://localhost:5432/app")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	inbox, err := deduppg.New(pool, deduppg.Config{Consumer: "billing"})
	if err != nil {
		log.Fatal(err)
	}
	if err := inbox.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := inbox.Handler(func(ctx context.Context, tx pgx.Tx, msg courier.Message) error {
		_, err := tx.Exec(ctx, `INSERT INTO bookings (order_id, body) VALUES ($1, $2)`, msg.ID, msg.Value)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = h // consumer.Consume(ctx, h)
}
