package sagatest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/courier-go/courier/saga"
	"github.com/courier-go/courier/saga/sagatest"
)

// A store's own tests run the suite, for instance:
//
//	func TestStore(t *testing.T) {
//		sagatest.Run(t, func(t *testing.T) saga.Store { return newStore(t) })
//	}
//	func TestCrash(t *testing.T) {
//		sagatest.RunCrash(t, sagatest.CrashStore{Create: newPlace, Open: openStore})
//	}
//
// Throughput measures a store with 3-step sagas:
func ExampleThroughput() {
	store := saga.NewMemoryStore()
	if _, err := sagatest.Throughput(context.Background(), store, 8, 100); err != nil {
		log.Fatal(err)
	}
	done, err := store.List(context.Background(), saga.Query{State: saga.Completed})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(done), "sagas completed")
	// Output:
	// 100 sagas completed
}
