package redisstore_test

import (
	"fmt"
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier/saga/redisstore"
)

// A store under its own prefix; the hash tag ({orders}) keeps its keys in one cluster slot.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}) // connects on first use
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.Config{Prefix: "{orders}:sagas:"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(store.KeyPattern())
	// Output:
	// {orders}:sagas:*
}
