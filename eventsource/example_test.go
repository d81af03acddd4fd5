package eventsource_test

import (
	"context"
	"fmt"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/memstore"
)

// A subscription catches up with the stored events, then follows new ones; with a
// CheckpointStore, the next Run resumes after the last event handled.
func ExampleSubscription() {
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	defer store.Close()
	_, _ = store.Append(ctx, "account-1", eventsource.NoStream,
		eventsource.EventData{Type: "Opened"}, eventsource.EventData{Type: "Deposited"})

	checkpoints := &eventsource.MemoryCheckpoints{}
	runCtx, stop := context.WithCancel(ctx)
	sub, err := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{Name: "balances", Checkpoints: checkpoints},
		func(_ context.Context, e eventsource.Event) error {
			fmt.Println(e.Stream, e.Version, e.Type)
			return nil
		})
	if err != nil {
		panic(err)
	}
	go func() {
		<-sub.CaughtUp()
		stop()
	}()
	if err := sub.Run(runCtx); err != nil {
		panic(err)
	}
	saved, _ := checkpoints.LoadCheckpoint(ctx, "balances")
	fmt.Println("checkpoint saved:", saved == sub.Position())
	// Output:
	// account-1 1 Opened
	// account-1 2 Deposited
	// checkpoint saved: true
}
