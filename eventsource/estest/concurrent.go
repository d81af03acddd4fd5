package estest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
)

// testCompetingWriters: 16 writers append to one stream at the same expected version, round
// after round. Each round has exactly one winner, and every loser gets a *ConflictError that
// carries the stream's actual version: never a raw driver error.
func testCompetingWriters(t *testing.T, b Backend) {
	const writers, rounds = 16, 200
	s := newStore(t, b)
	ctx := ctxFor(t, 2*time.Minute)
	stream := uniq("compete")
	for r := range int64(rounds) {
		start := make(chan struct{})
		errs := make([]error, writers)
		results := make([]eventsource.AppendResult, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				results[w], errs[w] = s.Append(ctx, stream, eventsource.Exact(r), evs("Round", 1)...)
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for w, err := range errs {
			if err == nil {
				winners++
				if results[w].Version != r+1 {
					t.Fatalf("round %d: winner got version %d, want %d", r, results[w].Version, r+1)
				}
				continue
			}
			var ce *eventsource.ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("round %d: writer %d got %v (%T), want a *ConflictError", r, w, err, err)
			}
			if ce.Actual != r+1 || ce.Stream != stream || ce.Expected != eventsource.Exact(r) {
				t.Fatalf("round %d: conflict %+v, want stream %q expected %d actual %d", r, ce, stream, r, r+1)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners, want exactly 1", r, winners)
		}
	}
	if got := readStream(t, s, stream, eventsource.ReadOptions{}); len(got) != rounds {
		t.Fatalf("stream has %d events after %d rounds", len(got), rounds)
	}
}

// testFollowLive: a ReadAll follower runs while 8 writers append, with random commit delays,
// to streams they share and to their own. The follower must see every appended event exactly
// once, in position order, and each stream's events in version order with no gap.
func testFollowLive(t *testing.T, b Backend) {
	const writers = 8
	s := newStore(t, b)
	ctx := ctxFor(t, b.FollowFor+time.Minute)
	prefix := uniq("follow")
	shared := []string{prefix + "-shared-0", prefix + "-shared-1", prefix + "-shared-2"}

	appendDelayed := b.AppendDelayed
	if appendDelayed == nil {
		appendDelayed = func(ctx context.Context, s eventsource.Store, delay time.Duration, stream string, exp eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return eventsource.AppendResult{}, ctx.Err()
			}
			return s.Append(ctx, stream, exp, events...)
		}
	}

	var mu sync.Mutex
	appended := map[string]string{} // event ID -> stream
	stopWriters := time.Now().Add(b.FollowFor)
	var wg sync.WaitGroup
	writerErr := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			own := fmt.Sprintf("%s-own-%d", prefix, w)
			for time.Now().Before(stopWriters) {
				stream := own
				if rand.IntN(2) == 0 {
					stream = shared[rand.IntN(len(shared))]
				}
				batch := evs("Tick", 1+rand.IntN(3))
				delay := time.Duration(rand.IntN(20)) * time.Millisecond
				if _, err := appendDelayed(ctx, s, delay, stream, eventsource.Any, batch...); err != nil {
					writerErr <- fmt.Errorf("writer %d: append to %q: %w", w, stream, err)
					return
				}
				mu.Lock()
				for _, e := range batch {
					appended[e.ID] = stream
				}
				mu.Unlock()
			}
		})
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	seen := map[string]int{}
	lastVersion := map[string]int64{}
	var pos eventsource.Position
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	done := false
	for {
		var changed <-chan struct{}
		if n, ok := s.(eventsource.Notifier); ok {
			changed = n.Changed()
		}
		read := 0
		for e, err := range s.ReadAll(ctx, pos, eventsource.ReadAllOptions{Filter: eventsource.Filter{StreamPrefix: prefix}}) {
			if err != nil {
				t.Fatalf("ReadAll from %v: %v", pos, err)
			}
			read++
			if e.Position.Compare(pos) <= 0 {
				report("event %s at %v is not after %v", e.ID, e.Position, pos)
			}
			pos = e.Position
			seen[e.ID]++
			if seen[e.ID] > 1 {
				report("event %s (%s v%d) seen %d times", e.ID, e.Stream, e.Version, seen[e.ID])
			}
			if want := lastVersion[e.Stream] + 1; e.Version != want {
				report("stream %s: read version %d after %d", e.Stream, e.Version, want-1)
			}
			lastVersion[e.Stream] = e.Version
		}
		if done && read == 0 {
			mu.Lock()
			n := len(appended)
			mu.Unlock()
			if len(seen) >= n {
				break
			}
		}
		if read > 0 {
			continue
		}
		select {
		case <-writersDone:
			done = true
			writersDone = nil
		case <-changed:
		case <-time.After(5 * time.Millisecond): // the poll interval of stores without Notifier
		case err := <-writerErr:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("follower: %v with %d events seen", ctx.Err(), len(seen))
		}
	}
	select {
	case err := <-writerErr:
		t.Fatal(err)
	default:
	}
	skipped := 0
	for id := range appended {
		if seen[id] == 0 {
			skipped++
			report("event %s of %s never read", id, appended[id])
		}
	}
	for id := range seen {
		if _, ok := appended[id]; !ok {
			report("read event %s that no writer appended", id)
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d events appended by %d writers in %v, %d skipped, %d problems", len(appended), writers, b.FollowFor, skipped, len(problems))
	if len(appended) < writers {
		t.Errorf("only %d events appended: the test proved little", len(appended))
	}
}
