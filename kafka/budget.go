package kafka

import (
	"context"
	"sync"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/wake"
)

// queueBytes bounds the bytes of the records (values and keys) a consumer holds fetched and
// handed to its engine but not yet settled: with large records the queue's 1024 records
// would otherwise be as many megabytes or more.
const queueBytes = 64 << 20

// budget bounds the bytes of records handed over and not yet settled. Safe for concurrent
// use.
type budget struct {
	max int64

	mu    sync.Mutex
	used  int64
	freed wake.Signal // broadcast when bytes come back
}

func newBudget(max int64) *budget { return &budget{max: max} }

// take waits until n more bytes fit, or, for n over the whole budget, until none are held,
// and takes them. It returns ctx's error if ctx ends first, having taken nothing.
func (b *budget) take(ctx context.Context, n int64) error {
	b.mu.Lock()
	for b.used > 0 && b.used+n > b.max {
		if err := b.freed.Wait(ctx, &b.mu, nil); err != nil {
			return err
		}
	}
	b.used += n
	b.mu.Unlock()
	return nil
}

// give returns n bytes taken before.
func (b *budget) give(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.freed.Broadcast() // whoever waits looks again (bytes come back a batch at a time)
	b.mu.Unlock()
}

// held returns the bytes taken and not given back.
func (b *budget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// recordBytes is what a delivered message counts against a budget.
func recordBytes(msg *courier.Message) int64 { return int64(len(msg.Value) + len(msg.Key)) }
