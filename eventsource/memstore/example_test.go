package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/memstore"
)

func Example() {
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	defer store.Close()

	_, _ = store.Append(ctx, "account-1", eventsource.NoStream,
		eventsource.EventData{ID: "ev-1", Type: "Opened", Data: []byte(`{"owner":"ana"}`)},
		eventsource.EventData{ID: "ev-2", Type: "Deposited", Data: []byte(`{"amount":100}`)})

	// A writer that read version 1 loses to the one that moved the stream to 2.
	_, err := store.Append(ctx, "account-1", eventsource.Exact(1), eventsource.EventData{Type: "Withdrawn"})
	var conflict *eventsource.ConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict, actual version", conflict.Actual)
	}

	for e, err := range store.ReadStream(ctx, "account-1", eventsource.ReadOptions{}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(e.Version, e.Type, string(e.Data))
	}
	// Output:
	// conflict, actual version 2
	// 1 Opened {"owner":"ana"}
	// 2 Deposited {"amount":100}
}
