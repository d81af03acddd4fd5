package redisstreams_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/redis/go-redis/v9"
)

// Environment of the consumer process that TestKilledConsumerEntriesTakenOver kills.
const (
	killHelperEnv   = "COURIER_REDIS_KILL_HELPER" // "url|topic|group"
	killHandleOK    = 20                          // messages the helper handles before it hangs
	killConcurrency = 4                           // the helper's handlers, all of which end up hung
)

// killHelper is the consumer that TestKilledConsumerEntriesTakenOver runs in a process of its
// own (TestMain calls it) and kills with SIGKILL. It handles killHandleOK messages (printing
// "handled <id>" for each), then hangs in every handler call (printing "stuck <id>").
func killHelper(spec string) int {
	parts := strings.SplitN(spec, "|", 3)
	if len(parts) != 3 {
		fmt.Println("error bad", killHelperEnv)
		return 2
	}
	url, topic, group := parts[0], parts[1], parts[2]
	ctx := context.Background()
	b, err := courier.Open(ctx, url)
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: killConcurrency})
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	var mu sync.Mutex
	handled := 0
	err = c.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		mu.Lock()
		if handled < killHandleOK {
			handled++
			fmt.Println("handled", m.ID)
			mu.Unlock()
			return nil
		}
		fmt.Println("stuck", m.ID)
		mu.Unlock()
		select {} // hangs until the process is killed
	}))
	fmt.Println("error Consume returned", err) // not reached: the test kills the process
	return 3
}

// TestKilledConsumerEntriesTakenOver kills (SIGKILL) a consumer process in the middle of a
// batch: it has handled some entries, hangs in the handlers of others and holds more read but
// not handled, none of which it acknowledges. A second consumer of the group must then receive
// every entry the first did not finish; duplicates (entries handled by the first whose XACK
// had not gone out yet) are counted.
func TestKilledConsumerEntriesTakenOver(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	admin := adminClient(t, url)
	const n = 200
	topic, group := "kill", "kill-group"
	stream := prefix + topic
	ctx := context.Background()

	b, err := courier.Open(ctx, withParams(url, "prefix="+prefix, "claim_idle=500ms", "claim_interval=100ms"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []courier.Message
	for i := range n {
		msgs = append(msgs, courier.Message{ID: fmt.Sprintf("m-%03d", i), Topic: topic, Value: []byte{byte(i)}})
	}
	if err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}

	// The first consumer, in a process of its own, reads 50 entries at a time.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), killHelperEnv+"="+withParams(url, "prefix="+prefix, "read_count=50")+"|"+topic+"|"+group)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	firstHandled := map[string]bool{}
	stuck := 0
	lines := bufio.NewScanner(out)
	for stuck < killConcurrency || len(firstHandled) < killHandleOK {
		if !lines.Scan() {
			t.Fatalf("helper process ended early: %v", lines.Err())
		}
		switch f := strings.Fields(lines.Text()); {
		case len(f) == 2 && f[0] == "handled":
			firstHandled[f[1]] = true
		case len(f) == 2 && f[0] == "stuck":
			stuck++
		case len(f) > 0 && f[0] == "error":
			t.Fatalf("helper process: %s", lines.Text())
		}
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// What the killed consumer left: entries pending with it (read, not acknowledged).
	pending, err := admin.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: group, Start: "-", End: "+", Count: 10 * n}).Result()
	if err != nil {
		t.Fatal(err)
	}
	unacked := map[string]bool{} // stream entry IDs
	for _, e := range pending {
		unacked[e.ID] = true
	}
	if len(unacked) == 0 {
		t.Fatal("the killed consumer left no pending entry: it was not killed mid-batch")
	}
	t.Logf("killed after handling %d messages, with %d in hung handlers; %d entries pending with it", len(firstHandled), stuck, len(unacked))

	// The second consumer of the group, in this process.
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: killConcurrency})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	second := map[string][]courier.Message{}
	got := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			mu.Lock()
			second[m.ID] = append(second[m.ID], m)
			mu.Unlock()
			select {
			case got <- struct{}{}:
			default:
			}
			return nil
		}))
	}()
	t.Cleanup(func() {
		_ = c.Close()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
	// The second consumer must get every message the first did not handle, and every entry
	// it left pending: handled ones too, whose acknowledgement had not gone out.
	entryIDs, err := admin.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	mustReach := map[string]bool{}
	for _, m := range msgs {
		if !firstHandled[m.ID] {
			mustReach[m.ID] = true
		}
	}
	for _, e := range entryIDs {
		if id, _ := e.Values["id"].(string); unacked[e.ID] {
			mustReach[id] = true
		}
	}
	complete := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range mustReach {
			if len(second[id]) == 0 {
				return false
			}
		}
		return true
	}
	deadline := time.After(30 * time.Second)
	for !complete() {
		select {
		case <-got:
		case <-deadline:
			t.Fatal("timed out waiting for the second consumer to receive what the killed one did not finish")
		}
	}

	// Every entry left pending was handed to the second consumer, as a redelivery.
	mu.Lock()
	duplicates, redelivered := 0, 0
	for _, e := range entryIDs {
		id, _ := e.Values["id"].(string)
		deliveries := second[id]
		if unacked[e.ID] {
			if len(deliveries) == 0 {
				t.Errorf("entry %s (message %s), unacknowledged by the killed consumer, never reached the second", e.ID, id)
			} else if deliveries[0].Attempt < 2 {
				t.Errorf("message %s taken over from the killed consumer has Attempt %d, want >= 2", id, deliveries[0].Attempt)
			}
			redelivered++
		}
		if firstHandled[id] && len(deliveries) > 0 {
			duplicates++
		}
	}
	mu.Unlock()
	t.Logf("second consumer took over %d entries; %d messages handled by both (XACK not sent before the kill)", redelivered, duplicates)

	// And the group ends with nothing pending: everything was acknowledged.
	deadline = time.After(30 * time.Second)
	for {
		sum, err := admin.XPending(ctx, stream, group).Result()
		if err != nil {
			t.Fatal(err)
		}
		if sum.Count == 0 {
			break
		}
		select {
		case <-time.After(50 * time.Millisecond): // polling Redis, which cannot signal us
		case <-deadline:
			t.Fatalf("%d entries still pending in the group", sum.Count)
		}
	}
}
