package redisstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/redisstore"
	"github.com/redis/go-redis/v9"
)

// (Not run: it needs a Redis server.)
func ExampleNew() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.Config{Prefix: "shop"}) // keys {shop}:...
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.Append(ctx, "order-o-1", eventsource.NoStream,
		eventsource.EventData{ID: "o-1-placed", Type: "OrderPlaced", Data: []byte(`{"total":4200}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("order-o-1 at version", res.Version)
}
