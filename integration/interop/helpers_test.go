package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
)

const timeout = 30 * time.Second

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// tool returns the path of a command-line tool, or skips (fails under
// COURIER_REQUIRE_BROKERS=1) when it is not installed.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		testenv.Unavailable(t, name+" is not installed (Debian package "+pkg+")")
	}
	return path
}

// run runs a command with stdin and returns its standard output, failing the test on an
// error (with its standard error).
func run(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, stderr.String())
	}
	return out
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// binaryValue is a value with every byte value in it, not valid UTF-8.
func binaryValue() []byte {
	v := make([]byte, 256)
	for i := range v {
		v[i] = byte(255 - i)
	}
	return v
}

// receiveOne consumes group on topic until one message arrives, and returns it.
func receiveOne(t *testing.T, b courier.Broker, c courier.Consumer) courier.Message {
	t.Helper()
	got := make(chan courier.Message, 1)
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(context.Background(), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			once.Do(func() { got <- m })
			return nil
		}))
	}()
	defer func() {
		_ = c.Close()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	}()
	select {
	case m := <-got:
		return m
	case <-time.After(timeout):
		t.Fatal("no message delivered")
	}
	return courier.Message{}
}

func newConsumer(t *testing.T, b courier.Broker, group, topic string) courier.Consumer {
	t.Helper()
	c, err := b.NewConsumer(context.Background(), courier.ConsumerConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func send(t *testing.T, b courier.Broker, m courier.Message) {
	t.Helper()
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// checkDerivedID checks that id is a UUIDv7 carrying ts's millisecond.
func checkDerivedID(t *testing.T, id string, ts time.Time) {
	t.Helper()
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		t.Errorf("ID %q is not a UUIDv7 (%v)", id, err)
		return
	}
	if sec, nsec := u.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != ts.UnixMilli() {
		t.Errorf("ID %q carries %v, want the Timestamp %v", id, time.Unix(sec, nsec), ts)
	}
}

// between checks that ts lies in [from, to], to the millisecond.
func between(t *testing.T, what string, ts, from, to time.Time) {
	t.Helper()
	if ts.Before(from.Truncate(time.Millisecond)) || ts.After(to) {
		t.Errorf("%s %v, want between %v and %v", what, ts, from, to)
	}
}
