package pgprojection_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/pgprojection"
)

type OrderPlaced struct {
	OrderID string
	Total   int
}

// A projection of orders into the table orders_view.orders, fed by src (an event store's
// global order). Queries read orders_view.orders; Rebuild replaces it atomically.
func Example() {
	ctx := context.Background()
	var src cqrs.Source // e.g. an adapter over an eventsource.Store's ReadAll
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgprojection.New(ctx, pool, pgprojection.Config{})
	if err != nil {
		log.Fatal(err)
	}
	err = store.Define(ctx, "orders", pgprojection.ReadModel{Schema: "orders_view", Setup: func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE orders (id text PRIMARY KEY, total bigint NOT NULL)`)
		return err
	}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := cqrs.NewProjection("orders", src, store, cqrs.ProjectionConfig{})
	if err != nil {
		log.Fatal(err)
	}
	_ = cqrs.Project(p, func(ctx context.Context, tx pgx.Tx, e OrderPlaced, _ cqrs.Event) error {
		_, err := tx.Exec(ctx, `INSERT INTO orders VALUES ($1, $2)`, e.OrderID, e.Total)
		return err
	})
	go func() { _ = p.Run(ctx) }() // follows src until ctx ends
}
