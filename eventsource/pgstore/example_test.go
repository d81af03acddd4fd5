package pgstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// An order and its first event are written in one transaction: both or neither.
// (Not run: it needs a PostgreSQL server.)
func ExampleStore_AppendTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/test")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pgstore.Migrate(ctx, pool, "shop"); err != nil {
		log.Fatal(err)
	}
	store, err := pgstore.New(pool, pgstore.Config{Schema: "shop"})
	if err != nil {
		log.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, total) VALUES ($1, $2)`, "o-1", 4200); err != nil {
		log.Fatal(err)
	}
	res, err := store.AppendTx(ctx, tx, "order-o-1", eventsource.NoStream,
		eventsource.EventData{ID: "o-1-placed", Type: "OrderPlaced", Data: []byte(`{"total":4200}`)})
	if err != nil {
		log.Fatal(err) // a *eventsource.ConflictError if order-o-1 already has events
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("order-o-1 at version", res.Version)
}
