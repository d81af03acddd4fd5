// Package deduptest is the acceptance suite of middleware.Store implementations: the memory
// store, dedupredis and deduppg run it, and so can a store written elsewhere.
package deduptest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier/middleware"
)

// Options tunes Run to a store.
type Options struct {
	// Lease is the short lease the expiry tests use; it must be long enough for a few store
	// calls to finish within it. 0 means 200ms.
	Lease time.Duration
	// Bubble runs each case; nil runs it as it is. A store that reads the time in the process
	// passes synctest.Test, so that leases and TTLs run out on the bubble's fake clock without
	// the test waiting. The suite sleeps only to let a lease or TTL run out, never to wait
	// for a result.
	Bubble func(t *testing.T, f func(t *testing.T))
}

// Run checks the contract of middleware.Store on stores made by newStore: one fresh, empty
// store (or key space) per call.
func Run(t *testing.T, newStore func(t *testing.T) middleware.Store, opts Options) {
	if opts.Lease == 0 {
		opts.Lease = 200 * time.Millisecond
	}
	if opts.Bubble == nil {
		opts.Bubble = func(t *testing.T, f func(t *testing.T)) { f(t) }
	}
	long := time.Hour
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s middleware.Store)
	}{
		{"ClaimThenBusy", func(t *testing.T, s middleware.Store) {
			tok := mustClaim(t, s, "k", long, middleware.Claimed)
			if tok == 0 {
				t.Error("Claimed with a zero token")
			}
			mustClaim(t, s, "k", long, middleware.Busy)
			mustClaim(t, s, "other", long, middleware.Claimed)
		}},
		{"CommitThenDone", func(t *testing.T, s middleware.Store) {
			tok := mustClaim(t, s, "k", long, middleware.Claimed)
			mustNil(t, s.Commit(t.Context(), "k", tok, long))
			mustClaim(t, s, "k", long, middleware.Done)
			mustNil(t, s.Commit(t.Context(), "k", tok, long)) // a repeated commit is harmless
			mustClaim(t, s, "k", long, middleware.Done)
		}},
		{"ReleaseThenClaimable", func(t *testing.T, s middleware.Store) {
			old := mustClaim(t, s, "k", long, middleware.Claimed)
			mustNil(t, s.Release(t.Context(), "k", old))
			tok := mustClaim(t, s, "k", long, middleware.Claimed)
			if tok == old {
				t.Fatalf("second claim has the first claim's token %d", tok)
			}
			mustNil(t, s.Release(t.Context(), "k", old)) // the old token no longer holds the key
			mustClaim(t, s, "k", long, middleware.Busy)
			if err := s.Commit(t.Context(), "k", old, long); !errors.Is(err, middleware.ErrLeaseLost) {
				t.Fatalf("Commit with a released token = %v, want ErrLeaseLost", err)
			}
			mustClaim(t, s, "k", long, middleware.Busy)
		}},
		{"ReleaseOfCommittedKeyKeepsIt", func(t *testing.T, s middleware.Store) {
			tok := mustClaim(t, s, "k", long, middleware.Claimed)
			mustNil(t, s.Commit(t.Context(), "k", tok, long))
			mustNil(t, s.Release(t.Context(), "k", tok))
			mustClaim(t, s, "k", long, middleware.Done)
		}},
		{"LeaseRunsOut", func(t *testing.T, s middleware.Store) {
			old := mustClaim(t, s, "k", opts.Lease, middleware.Claimed)
			time.Sleep(opts.Lease + opts.Lease/2)
			tok := mustClaim(t, s, "k", long, middleware.Claimed)
			if err := s.Commit(t.Context(), "k", old, long); !errors.Is(err, middleware.ErrLeaseLost) {
				t.Fatalf("Commit after the lease ran out and the key was claimed again = %v, want ErrLeaseLost", err)
			}
			mustClaim(t, s, "k", long, middleware.Busy)
			mustNil(t, s.Commit(t.Context(), "k", tok, long))
			mustClaim(t, s, "k", long, middleware.Done)
		}},
		{"LateCommitWithoutRival", func(t *testing.T, s middleware.Store) {
			tok := mustClaim(t, s, "k", opts.Lease, middleware.Claimed)
			time.Sleep(opts.Lease + opts.Lease/2)
			mustNil(t, s.Commit(t.Context(), "k", tok, long))
			mustClaim(t, s, "k", long, middleware.Done)
		}},
		{"LateCommitAfterRivalRanOut", func(t *testing.T, s middleware.Store) {
			old := mustClaim(t, s, "k", opts.Lease, middleware.Claimed)
			time.Sleep(opts.Lease + opts.Lease/2)
			mustClaim(t, s, "k", opts.Lease, middleware.Claimed) // a rival that dies too
			time.Sleep(opts.Lease + opts.Lease/2)
			mustNil(t, s.Commit(t.Context(), "k", old, long))
			mustClaim(t, s, "k", long, middleware.Done)
			mustNil(t, s.Commit(t.Context(), "k", old, long)) // the key is old's now
		}},
		{"TTLRunsOut", func(t *testing.T, s middleware.Store) {
			tok := mustClaim(t, s, "k", long, middleware.Claimed)
			mustNil(t, s.Commit(t.Context(), "k", tok, opts.Lease))
			mustClaim(t, s, "k", long, middleware.Done)
			time.Sleep(opts.Lease + opts.Lease/2)
			mustClaim(t, s, "k", long, middleware.Claimed)
		}},
		{"OneOfManyClaims", func(t *testing.T, s middleware.Store) {
			const n = 16
			for round := range 10 {
				key := fmt.Sprintf("race-%d", round)
				var wg sync.WaitGroup
				statuses := make([]middleware.ClaimStatus, n)
				errs := make([]error, n)
				for i := range n {
					wg.Go(func() { statuses[i], _, errs[i] = s.Claim(t.Context(), key, long) })
				}
				wg.Wait()
				claimed := 0
				for i := range n {
					mustNil(t, errs[i])
					switch statuses[i] {
					case middleware.Claimed:
						claimed++
					case middleware.Busy:
					default:
						t.Fatalf("concurrent claim %d of a fresh key: %v", i, statuses[i])
					}
				}
				if claimed != 1 {
					t.Fatalf("round %d: %d of %d concurrent claims won, want 1", round, claimed, n)
				}
			}
		}},
		{"KeysWithOddBytes", func(t *testing.T, s middleware.Store) {
			for _, key := range []string{"a:b", "a b", "ü\x00\xff", "x/../y", "%s"} {
				tok := mustClaim(t, s, key, long, middleware.Claimed)
				mustNil(t, s.Commit(t.Context(), key, tok, long))
			}
			for _, key := range []string{"a:b", "a b", "ü\x00\xff", "x/../y", "%s"} {
				mustClaim(t, s, key, long, middleware.Done)
			}
			mustClaim(t, s, "a", long, middleware.Claimed)
		}},
		{"CancelledContext", func(t *testing.T, s middleware.Store) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			// A store may answer from memory without looking at ctx; one that does I/O must
			// return an error that says the context ended rather than hang or claim silently.
			st, _, err := s.Claim(ctx, "k", long)
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("Claim with a cancelled context = %v, want nil or context.Canceled", err)
			}
			if err == nil && st != middleware.Claimed {
				t.Fatalf("Claim with a cancelled context = %v, want Claimed", st)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { opts.Bubble(t, func(t *testing.T) { tc.run(t, newStore(t)) }) })
	}
}

func mustClaim(t *testing.T, s middleware.Store, key string, lease time.Duration, want middleware.ClaimStatus) middleware.Token {
	t.Helper()
	st, tok, err := s.Claim(t.Context(), key, lease)
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	if st != want {
		t.Fatalf("Claim(%q) = %v, want %v", key, st, want)
	}
	return tok
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
