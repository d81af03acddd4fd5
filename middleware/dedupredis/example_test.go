package dedupredis_test

import (
	"log"

	"github.com/courier-go/courier/middleware"
	"github.com/courier-go/courier/middleware/dedupredis"
	"github.com/redis/go-redis/v9"
)

// Deduplication shared by every process of the billing service. (Not run by go test: it
// needs a Redis; TestDedupAcrossProcesses runs the same against COURIER_REDIS_URL.)
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()
	store, err := dedupredis.New(rdb, dedupredis.Config{Prefix: "billing:dedup:"})
	if err != nil {
		log.Fatal(err)
	}
	dedup, err := middleware.Dedup(middleware.DedupConfig{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	_ = dedup // courier.Chain(handler, dedup)
}
