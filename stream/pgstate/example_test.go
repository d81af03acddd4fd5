package pgstate_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/courier-go/courier/stream"
	"github.com/courier-go/courier/stream/pgstate"
)

// Count orders per customer in PostgreSQL, exactly, whichever consumers handle them.
func Example() {
	ctx := context.Background()
	db, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := pgstate.New(db, pgstate.Config{Schema: "shop"})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	p := stream.New(stream.Config{Name: "orders-per-customer"})
	stream.Count(stream.From(p, stream.Bytes), store, "orders")
	if err := p.Validate(); err != nil {
		log.Fatal(err)
	}
	// Give p to the consumers: c.Consume(ctx, p).
}
