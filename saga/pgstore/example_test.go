package pgstore_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/courier-go/courier/saga"
	"github.com/courier-go/courier/saga/pgstore"
)

var orderSaga = saga.Definition{Name: "order", Steps: []saga.Step{{Name: "pay",
	Action: func(ctx context.Context, x *saga.Exec) error { return nil }}}}

// Sagas kept in PostgreSQL: create the table once, then give the store to the orchestrators
// of every process. (Not run by go test: it needs a database.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.Config{Table: "orders.sagas"})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	o, err := saga.New(saga.Config{Store: store, Definitions: []saga.Definition{orderSaga}})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()
	parked, err := o.List(ctx, saga.Query{State: saga.Parked})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(parked), "sagas wait for a person")
}

// A table name that is not an identifier is refused before any SQL is built with it.
func ExampleConfig_Validate() {
	fmt.Println(pgstore.Config{Table: "sagas; DROP TABLE users"}.Validate())
	fmt.Println(pgstore.Config{Table: "orders.sagas"}.Validate())
	// Output:
	// courier: invalid config: saga pgstore: Table "sagas; DROP TABLE users" is not a (schema-qualified) identifier of letters, digits and underscores
	// <nil>
}
