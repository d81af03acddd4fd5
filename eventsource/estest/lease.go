package estest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
)

// RunLease checks a Lease: a second holder waits until the first releases; after lose(name)
// (which takes the lease from its holder the way a failure would: a dead connection, a key
// taken over) the holder's context ends, with a cause that says lostSays; and the lease can
// be taken again.
func RunLease(t *testing.T, l eventsource.Lease, lose func(t *testing.T, name string), lostSays string) {
	ctx := t.Context()
	name := fmt.Sprintf("lease-%x", rand.Uint64())
	held, release, err := l.Acquire(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, _, err := l.Acquire(waitCtx, name); err == nil {
		t.Fatal("a second holder acquired a held lease")
	}
	if held.Err() != nil {
		t.Fatalf("the lease ended while held: %v", context.Cause(held))
	}
	release()
	held2, release2, err := l.Acquire(ctx, name)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	lose(t, name)
	select {
	case <-held2.Done():
		if cause := context.Cause(held2); cause == nil || !strings.Contains(cause.Error(), lostSays) {
			t.Errorf("lease ended with %v, want a cause saying %q", cause, lostSays)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the holder never noticed that it lost the lease")
	}
	release2()
	if _, _, err := l.Acquire(ctx, ""); err == nil {
		t.Error("Acquire with an empty name accepted")
	}
}
