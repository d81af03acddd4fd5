package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
)

// rabbitmqctl runs rabbitmqctl, failing the test on error.
func rabbitmqctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// isolatedVhost makes a vhost of its own for the test, so that closing "all connections" of it
// touches nobody else's; deleting it at the end deletes everything the test declared.
func isolatedVhost(t *testing.T) string {
	t.Helper()
	base := amqpURL(t)
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		testenv.Unavailable(t, "rabbitmqctl is not installed: cannot force connections closed")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.Host, "127.0.0.1") && !strings.Contains(u.Host, "localhost") {
		testenv.Unavailable(t, "the broker under test is not local: rabbitmqctl cannot reach it")
	}
	vhost := randomName("courier-test-")
	rabbitmqctl(t, "add_vhost", vhost)
	t.Cleanup(func() { rabbitmqctl(t, "delete_vhost", vhost) })
	rabbitmqctl(t, "set_permissions", "-p", vhost, u.User.Username(), ".*", ".*", ".*")
	u.Path = "/" + vhost
	u.RawPath = ""
	return u.String()
}

// TestReconnectLosesNothing closes every connection of the broker (rabbitmqctl
// close_all_connections) three times during a steady produce and consume run, and checks that
// every Send returned success (Sends ride over the outage) and every confirmed message was
// consumed.
func TestReconnectLosesNothing(t *testing.T) {
	vurl := isolatedVhost(t)
	logs := &logRecorder{}
	b, _ := newTestBroker(t, Config{URL: vurl, Logger: slog.New(logs),
		ReconnectBackoff: courier.Backoff{Initial: 50 * time.Millisecond, Max: time.Second, Multiplier: 2}})
	topic, group := randomName("courier-test-"), randomName("group-")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: 4,
		DrainTimeout: 5 * time.Second, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	consumed := map[string]int{}
	changed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			mu.Lock()
			consumed[m.ID]++
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
			return nil
		}))
	}()

	// Producers send until told to stop, so that every kill lands in the middle of the run.
	const producers = 4
	var sent, stopAt atomic.Int64
	var idsMu sync.Mutex
	var ids []string
	sendErrs := make(chan error, producers)
	var wg sync.WaitGroup
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := b.NewProducer(ctx)
			if err != nil {
				sendErrs <- err
				return
			}
			defer p.Close()
			for j := 0; ; j++ {
				if s := stopAt.Load(); s != 0 && sent.Load() >= s {
					return
				}
				id := fmt.Sprintf("p%d-%06d", i, j)
				if err := p.Send(ctx, courier.Message{ID: id, Topic: topic, Key: fmt.Sprint("k", j%7), Value: []byte(id)}); err != nil {
					sendErrs <- fmt.Errorf("send %s: %w", id, err)
					return
				}
				sent.Add(1)
				idsMu.Lock()
				ids = append(ids, id)
				idsMu.Unlock()
			}
		}()
	}

	// Kill the connections three times, each once the run has made progress since the last,
	// which shows that it recovered.
	gen0 := b.pub.generation() + b.sub.generation()
	for k := 1; k <= 3; k++ {
		target := sent.Load() + 1000
		waitFor(t, time.Minute, fmt.Sprintf("%d messages sent before kill %d", target, k), func() bool { return sent.Load() >= target })
		rabbitmqctl(t, "close_all_connections", "-p", strings.TrimPrefix(mustPath(t, vurl), "/"), "test")
		t.Logf("kill %d: closed all connections after %d sends", k, sent.Load())
	}
	stopAt.Store(sent.Load() + 1000)
	wg.Wait()
	close(sendErrs)
	for err := range sendErrs {
		t.Fatal(err) // a Send failed instead of riding over the outage
	}
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var m []string
		for _, id := range ids {
			if consumed[id] == 0 {
				m = append(m, id)
			}
		}
		return m
	}
	deadline := time.After(time.Minute)
	for len(missing()) > 0 {
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			m := missing()
			t.Fatalf("%d confirmed messages never consumed, e.g. %v", len(m), m[:min(len(m), 5)])
		}
	}
	if gens := b.pub.generation() + b.sub.generation(); gens-gen0 < 2*3 {
		t.Errorf("connections were dialled %d times after the start, want at least 6 (3 kills x 2 connections)", gens-gen0)
	}
	// Each kill costs the consumer its channel once. More losses would mean it settled a
	// delivery of a dead channel on the new one (PRECONDITION_FAILED: unknown delivery tag).
	if lost := logs.matching("consuming channel lost"); len(lost) != 3 {
		t.Errorf("consumer lost its channel %d times for 3 kills: %q", len(lost), lost)
	}
	mu.Lock()
	dups := 0
	for _, n := range consumed {
		dups += n - 1
	}
	mu.Unlock()
	t.Logf("all %d confirmed messages consumed across 3 forced disconnects; %d duplicates", len(ids), dups)
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Consume: %v", err)
	}
}

// logRecorder keeps the messages and errors logged, for assertions.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			line += ": " + a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, line)
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) matching(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if strings.Contains(r, substr) {
			out = append(out, r)
		}
	}
	return out
}

func mustPath(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// waitFor polls cond every 10ms until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSendWaitsOutOutage makes the broker refuse reconnects (the user loses its permissions
// on the vhost, then all connections are closed): a Send then fails at its context deadline,
// not before and not with a silent success; a Send started during the outage succeeds once
// the permissions are back, and its message is consumed.
func TestSendWaitsOutOutage(t *testing.T) {
	vurl := isolatedVhost(t)
	vhost := strings.TrimPrefix(mustPath(t, vurl), "/")
	user := mustUser(t, vurl)
	b, _ := newTestBroker(t, Config{URL: vurl, Logger: slog.New(&logRecorder{}),
		ReconnectBackoff: courier.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Multiplier: 2}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic, group := randomName("courier-test-"), randomName("group-")
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Send(ctx, courier.Message{ID: "before", Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	rabbitmqctl(t, "clear_permissions", "-p", vhost, user)
	restored := false
	restore := func() {
		if !restored {
			rabbitmqctl(t, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
			restored = true
		}
	}
	defer restore()
	rabbitmqctl(t, "close_all_connections", "-p", vhost, "outage")
	waitFor(t, 30*time.Second, "the producers' connection to drop", func() bool { return !b.pub.up() })

	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	start := time.Now()
	err = p.Send(short, courier.Message{ID: "during", Topic: topic, Value: []byte("x")})
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send during the outage: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("Send gave up after %v, before its deadline", d)
	}
	t.Logf("Send during the outage: %v", err)

	result := make(chan error, 1)
	go func() { result <- p.Send(ctx, courier.Message{ID: "waited", Topic: topic, Value: []byte("x")}) }()
	restore()
	if err := <-result; err != nil {
		t.Fatalf("Send started during the outage: %v", err)
	}
	got := make(chan string, 4)
	consume(t, c, func(_ context.Context, m courier.Message) error { got <- m.ID; return nil })
	seen := map[string]bool{}
	for !seen["waited"] {
		select {
		case id := <-got:
			seen[id] = true
		case <-ctx.Done():
			t.Fatalf("the message sent across the outage was not consumed (got %v)", seen)
		}
	}
}

func mustUser(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		t.Fatalf("URL %q has no user", raw)
	}
	return u.User.Username()
}
