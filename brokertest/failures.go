package brokertest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

// Checks of how an adapter fails to connect and how it reports a message too large, which
// every adapter runs alike on brokers of its own making.

// ClosedAddr returns the address of a port that was free a moment ago: nothing listens on it.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// GarbageAddr serves a TCP port that answers every connection with bytes of no protocol,
// then keeps it open without a word: the worst a wrong port can do.
func GarbageAddr(t testing.TB) string {
	t.Helper()
	return ServeAddr(t, []byte("\x7fHELLO this is not the protocol you are looking for\r\n"))
}

// ServeAddr serves a TCP port that writes greeting (nothing, when nil) on every connection,
// then keeps it open without a word. Its connections close when the test ends.
func ServeAddr(t testing.TB, greeting []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_, _ = c.Write(greeting)
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// ConnectFails calls open, which makes a broker (with a context without deadline) that logs
// to logger and connects within timeout, and checks that it fails within timeout (and a
// second's slack) with an error that names addr and contains want, and that neither the
// error nor the logs show password (when not empty). It returns the logs and the error.
func ConnectFails(t *testing.T, open func(logger *slog.Logger, timeout time.Duration) (courier.Broker, error),
	timeout time.Duration, addr, want, password string) (string, error) {
	t.Helper()
	logs := NewLogBuffer()
	start := time.Now()
	b, err := open(slog.New(slog.NewTextHandler(logs, nil)), timeout)
	took := time.Since(start)
	if err == nil {
		_ = b.Close()
		t.Fatalf("New(%s) succeeded", addr)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
	if took > timeout+time.Second {
		t.Errorf("New took %v, its connect timeout is %v", took, timeout)
	}
	if msg := err.Error(); !strings.Contains(msg, addr) || !strings.Contains(msg, want) {
		t.Errorf("error %q does not name %s and %q", msg, addr, want)
	}
	if password != "" && (strings.Contains(err.Error(), password) || strings.Contains(logs.String(), password)) {
		t.Errorf("the password shows in the error or the logs:\n%v\n%s", err, logs)
	}
	return logs.String(), err
}

// CheckTooLargeSizes sends, through a producer of b whose size limit is limit bytes, a
// message too large for it whose ID Send fills in and one with an ID of the caller's, and
// checks each error with CheckTooLarge.
func CheckTooLargeSizes(t *testing.T, b courier.Broker, limit int) {
	t.Helper()
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	for _, msg := range []courier.Message{
		{Topic: "too-large", Key: "k", Value: make([]byte, limit), Headers: map[string]string{"h": "v"}},
		{Topic: "too-large", ID: "my-id", Key: "k", Value: make([]byte, limit)},
	} {
		CheckTooLarge(t, p.Send(context.Background(), msg), msg, limit)
	}
}

var sizeInError = regexp.MustCompile(`(\d+) bytes`)

// CheckTooLarge checks that err, an adapter's answer to Send of msg over a limit of limit
// bytes, wraps courier.ErrMessageTooLarge and reports the size the memory broker with the
// same limit reports for msg: one size for one message on every broker.
func CheckTooLarge(t *testing.T, err error, msg courier.Message, limit int) {
	t.Helper()
	if !errors.Is(err, courier.ErrMessageTooLarge) {
		t.Fatalf("Send of %d value bytes over a limit of %d = %v, want ErrMessageTooLarge", len(msg.Value), limit, err)
	}
	mb, merr := memory.New(context.Background(), memory.Config{MaxMessageBytes: limit})
	if merr != nil {
		t.Fatal(merr)
	}
	defer func() { _ = mb.Close() }()
	mp, merr := mb.NewProducer(context.Background())
	if merr != nil {
		t.Fatal(merr)
	}
	merr = mp.Send(context.Background(), msg)
	want, got := sizeInError.FindString(merr.Error()), sizeInError.FindString(err.Error())
	if want == "" || got != want {
		t.Errorf("too-large error %q reports %q; memory reports %q (%v)", err, got, want, merr)
	}
}
