package middleware_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courier-go/courier/middleware"
)

// TestMemoryStoreAgainstModel runs random claims, commits, releases and clock steps on a
// MemoryStore and on a plain map that states the Store contract, and compares every answer.
// The store is large enough never to evict; TestMemoryStoreBounded covers eviction.
func TestMemoryStoreAgainstModel(t *testing.T) {
	type entry struct {
		tok     middleware.Token
		done    bool
		expires time.Time
	}
	for seed := range uint64(20) {
		synctest.Test(t, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			s := newMemoryStore(t, 0)
			model := map[string]entry{}
			var tokens []middleware.Token // every token handed out, to commit or release with
			live := func(e entry, ok bool) bool { return ok && time.Now().Before(e.expires) }
			for step := range 400 {
				key := fmt.Sprint("k", rng.IntN(5))
				d := time.Duration(1+rng.IntN(5)) * time.Second
				var tok middleware.Token
				if len(tokens) > 0 {
					tok = tokens[rng.IntN(len(tokens))]
				}
				e, ok := model[key]
				switch op := rng.IntN(4); op {
				case 0:
					st, got, err := s.Claim(t.Context(), key, d)
					want := middleware.Claimed
					switch {
					case live(e, ok) && e.done:
						want = middleware.Done
					case live(e, ok):
						want = middleware.Busy
					}
					if err != nil || st != want {
						t.Fatalf("seed %d step %d: Claim(%s) = %v, %v; want %v", seed, step, key, st, err, want)
					}
					if st == middleware.Claimed {
						model[key] = entry{tok: got, expires: time.Now().Add(d)}
						tokens = append(tokens, got)
					}
				case 1:
					err := s.Commit(t.Context(), key, tok, d)
					lost := live(e, ok) && e.tok != tok
					if lost != errors.Is(err, middleware.ErrLeaseLost) || (!lost && err != nil) {
						t.Fatalf("seed %d step %d: Commit(%s, %d) = %v; want lost=%v (model %+v)", seed, step, key, tok, err, lost, e)
					}
					if !lost { // tok's claim, or none that is live: tok commits it
						model[key] = entry{tok: tok, done: true, expires: time.Now().Add(d)}
					}
				case 2:
					if err := s.Release(t.Context(), key, tok); err != nil {
						t.Fatal(err)
					}
					if ok && e.tok == tok && !e.done {
						delete(model, key)
					}
				case 3:
					time.Sleep(d)
				}
			}
		})
	}
}
