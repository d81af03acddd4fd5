package redisstreams_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of the test's own, persisting every write to its
// append-only file before it replies (appendfsync always), so that an acknowledged XADD
// survives a SIGKILL.
type redisServer struct {
	t    *testing.T
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
	args []string // more options of redis-server
}

// startRedisServer starts a redis-server of the test's own, with the given extra options
// (such as "--requirepass", "secret").
func startRedisServer(t *testing.T, args ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unavailable(t, "redis-server is not on PATH: "+err.Error())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // a spare port, free again once closed
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &redisServer{t: t, bin: bin, port: port, dir: t.TempDir(), args: args}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start runs the server on s.port and s.dir and waits until it answers PING.
func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"))
	s.cmd.Args = append(s.cmd.Args, s.args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	if i := slices.Index(s.args, "--requirepass"); i >= 0 {
		c = redis.NewClient(&redis.Options{Addr: s.addr(), Password: s.args[i+1], DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	}
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server on %s not ready: %v\n%s", s.addr(), err, log)
		}
		time.Sleep(20 * time.Millisecond) // poll interval: the server has no way to tell us
	}
}

// kill ends the server with SIGKILL: no shutdown, no final save.
func (s *redisServer) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// TestRedisRestartLosesNoAcknowledgedMessage kills a Redis server (SIGKILL) while producers
// send and a consumer consumes, restarts it on the same port and data directory, and checks
// that every message whose Send returned nil is still in the stream and reaches the consumer,
// and that producers and consumer recover by themselves.
func TestRedisRestartLosesNoAcknowledgedMessage(t *testing.T) {
	srv := startRedisServer(t)
	ctx := context.Background()
	url := "redis://" + srv.addr() + "/0?claim_idle=2s&claim_interval=200ms&send_retry_timeout=30s"
	b, err := courier.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	const topic, group = "restart", "restart-group"

	// The consumer records every delivery.
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	consumed := map[string]int{}
	changed := make(chan struct{}, 1)
	consumeDone := make(chan error, 1)
	go func() {
		consumeDone <- c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
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

	// Two producers send until told to stop, recording what Send acknowledged.
	var acked sync.Map
	var nAcked, nFailed atomic.Int64
	stop := make(chan struct{})
	var producers sync.WaitGroup
	for i := range 2 {
		p, err := b.NewProducer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		producers.Add(1)
		go func() {
			defer producers.Done()
			defer p.Close()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("p%d-%06d", i, n)
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := p.Send(sctx, courier.Message{ID: id, Topic: topic, Value: []byte(id)})
				cancel()
				if err != nil {
					nFailed.Add(1)
					t.Logf("Send %s: %v", id, err)
					continue
				}
				acked.Store(id, true)
				nAcked.Add(1)
			}
		}()
	}
	stopProducers := sync.OnceFunc(func() { close(stop); producers.Wait() })
	t.Cleanup(stopProducers)

	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", timeout, what)
			}
			select {
			case <-changed:
			case <-time.After(20 * time.Millisecond): // the producers' progress has no signal
			}
		}
	}
	waitFor("500 acknowledged sends before the restart", 30*time.Second, func() bool { return nAcked.Load() >= 500 })

	srv.kill()
	var beforeKill []string
	acked.Range(func(k, _ any) bool { beforeKill = append(beforeKill, k.(string)); return true })
	t.Logf("killed Redis after %d acknowledged sends", len(beforeKill))

	// While Redis is down, Send gives up at its context's deadline.
	probe, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	err = probe.Send(pctx, courier.Message{Topic: topic, Value: []byte("probe")})
	cancel()
	if took := time.Since(start); err == nil || took > 2*time.Second {
		t.Errorf("Send with a 300ms deadline while Redis is down: err %v after %v; want an error at the deadline", err, took)
	} else {
		t.Logf("Send while Redis is down failed after %v: %v", took.Round(time.Millisecond), err)
	}
	_ = probe.Close()

	srv.start()
	restartedAt := nAcked.Load()
	t.Logf("Redis restarted on the same port and directory")

	// Every message acknowledged before the kill is in the stream Redis reloaded.
	admin := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer admin.Close()
	entries, err := admin.XRange(ctx, topic, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]bool, len(entries))
	for _, e := range entries {
		id, _ := e.Values["id"].(string)
		stored[id] = true
	}
	for _, id := range beforeKill {
		if !stored[id] {
			t.Errorf("message %s, acknowledged before the kill, is not in the reloaded stream", id)
		}
	}

	// Producers recover, then stop; the consumer receives every acknowledged message.
	waitFor("500 more acknowledged sends after the restart", 60*time.Second, func() bool { return nAcked.Load() >= restartedAt+500 })
	stopProducers()
	all := 0
	acked.Range(func(_, _ any) bool { all++; return true })
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		acked.Range(func(k, _ any) bool {
			if consumed[k.(string)] == 0 {
				ids = append(ids, k.(string))
			}
			return true
		})
		return ids
	}
	deadline := time.Now().Add(60 * time.Second)
	for m := missing(); len(m) > 0; m = missing() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged messages never consumed, e.g. %v", len(m), all, m[:min(len(m), 5)])
		}
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond):
		}
	}
	mu.Lock()
	deliveries := 0
	for _, n := range consumed {
		deliveries += n
	}
	mu.Unlock()
	t.Logf("%d acknowledged sends (%d before the kill), %d sends failed; all consumed in %d deliveries (%d duplicates)",
		all, len(beforeKill), nFailed.Load(), deliveries, deliveries-len(consumed))

	if err := c.Close(); err != nil {
		t.Errorf("consumer Close: %v", err)
	}
	if err := <-consumeDone; err != nil {
		t.Errorf("Consume: %v", err)
	}
}
