package redisstate_test

import (
	"context"
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier/stream"
	"github.com/courier-go/courier/stream/redisstate"
)

// Count clicks per page in Redis, so that every consumer of the group, in any process, adds
// to the same exact counts.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	store, err := redisstate.New(rdb, redisstate.Config{Prefix: "shop:stream:"})
	if err != nil {
		log.Fatal(err)
	}
	p := stream.New(stream.Config{Name: "page-views"})
	pages := stream.SelectKey(stream.From(p, stream.String), func(r stream.Record[string]) string { return r.Value })
	stream.Count(pages, store, "views")
	if err := p.Validate(); err != nil {
		log.Fatal(err)
	}
	// Give p to the consumers: c.Consume(ctx, p). Read a count back:
	st, err := store.Get(context.Background(), "page-views/views", "/home")
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("/home: %s views", st.Value)
}
