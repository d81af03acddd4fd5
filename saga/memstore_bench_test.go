package saga_test

import (
	"testing"

	"github.com/courier-go/courier/saga"
	"github.com/courier-go/courier/saga/sagatest"
)

// BenchmarkMemoryStore: 3-step sagas on the memory store with 8 workers, in transitions/s
// (go test ./saga -run '^$' -bench MemoryStore -benchtime 200000x).
func BenchmarkMemoryStore(b *testing.B) {
	sagatest.Benchmark(b, saga.NewMemoryStore(), 8)
}
