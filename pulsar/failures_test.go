package pulsar_test

import (
	"context"
	"errors"
	"github.com/courier-go/courier/memory"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/pulsar"
	"github.com/courier-go/courier/pulsar/pulsartest"
)

// failTimeout is the ConnectTimeout of the failure tests: short, so that they take little
// time, and long enough for a refused or garbled connection to be told apart from a timeout.
const failTimeout = 1500 * time.Millisecond

// closedAddr returns the address of a port that was free a moment ago: nothing listens on it.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// garbageAddr serves a TCP port that answers every connection with bytes of no protocol,
// then keeps it open without a word: the worst a wrong port can do. Its connections close
// when the test ends.
func garbageAddr(t *testing.T) string {
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
			_, _ = c.Write([]byte("\x7fHELLO this is not the protocol you are looking for\r\n"))
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

// logText collects log output for the tests to read.
type logText struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logText) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logText) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// connectFails opens cfg and checks that it fails within its ConnectTimeout (with some
// slack), with an error that names addr and contains want, never the password, and that
// the Logger saw no password either. It returns the logs and the error.
func connectFails(t *testing.T, cfg pulsar.Config, addr, want, password string) (string, error) {
	t.Helper()
	logs := &logText{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.ConnectTimeout = failTimeout
	start := time.Now()
	b, err := pulsar.New(context.Background(), cfg) // no deadline: ConnectTimeout bounds it
	took := time.Since(start)
	if err == nil {
		_ = b.Close()
		t.Fatalf("New(%s) succeeded", addr)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
	if took > failTimeout+time.Second {
		t.Errorf("New took %v, ConnectTimeout is %v", took, failTimeout)
	}
	if msg := err.Error(); !strings.Contains(msg, addr) || !strings.Contains(msg, want) {
		t.Errorf("error %q does not name %s and %q", msg, addr, want)
	}
	if password != "" && (strings.Contains(err.Error(), password) || strings.Contains(logs.String(), password)) {
		t.Errorf("the password shows in the error or the logs:\n%v\n%s", err, logs)
	}
	return logs.String(), err
}

// TestConnectClosedPort: nothing listens. Before ConnectTimeout, New succeeded and the
// first Send failed after 30s with a bare "context deadline exceeded".
func TestConnectClosedPort(t *testing.T) {
	addr := closedAddr(t)
	logs, _ := connectFails(t, pulsar.Config{URL: "pulsar://" + addr}, addr, "connection refused", "")
	if !strings.Contains(logs, "Failed to connect") || !strings.Contains(logs, addr) {
		t.Errorf("New logged no failed attempt naming %s:\n%s", addr, logs)
	}
}

// TestConnectWrongProtocol: something that is not Pulsar answers on the port.
func TestConnectWrongProtocol(t *testing.T) {
	addr := garbageAddr(t)
	_, _ = connectFails(t, pulsar.Config{URL: "pulsar://" + addr}, addr, "no Pulsar broker answered", "")
}

// TestConnectWrongToken: the broker refuses the token.
func TestConnectWrongToken(t *testing.T) {
	srv, err := pulsartest.NewServer(pulsartest.WithToken("right-token"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	addr := srv.Addr().String()
	const token = "wrong-t0ken-secret"
	_, err = connectFails(t, pulsar.Config{URL: srv.URL(), Token: token}, addr, "authentication failed", token)
	if !errors.Is(err, courier.ErrAuthentication) {
		t.Errorf("error %v does not wrap courier.ErrAuthentication", err)
	}
	b, err := pulsar.New(t.Context(), pulsar.Config{URL: srv.URL(), Token: "right-token", Logger: testLogger()})
	if err != nil {
		t.Fatalf("with the right token: %v", err)
	}
	_ = b.Close()
}

// TestTooLargeSize: the too-large errors, of the adapter's own limit and of the broker's
// (announced on connect, below Config.MaxMessageBytes), wrap courier.ErrMessageTooLarge, and
// the adapter's reports the size memory reports. Before, the broker's did not wrap it, and
// the adapter's counted 36 bytes less for a message without an ID.
func TestTooLargeSize(t *testing.T) {
	srv, err := pulsartest.NewServer(pulsartest.WithMaxMessageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, limit := range []int{100, 0} {
		b, err := pulsar.New(t.Context(), pulsar.Config{URL: srv.URL(), MaxMessageBytes: limit, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.NewProducer(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if limit > 0 {
			for _, msg := range tooLargeMessages() {
				checkTooLarge(t, p.Send(t.Context(), msg), msg, limit)
			}
		} else {
			err := p.Send(t.Context(), courier.Message{Topic: "too-large", Value: make([]byte, 2000)})
			if !errors.Is(err, courier.ErrMessageTooLarge) {
				t.Errorf("Send over the broker's limit = %v, want ErrMessageTooLarge", err)
			}
		}
		_ = b.Close()
	}
}

// tooLargeMessages returns messages over 100 bytes: one without an ID, one with.
func tooLargeMessages() []courier.Message {
	return []courier.Message{
		{Topic: "too-large", Key: "k", Value: make([]byte, 100), Headers: map[string]string{"h": "v"}},
		{Topic: "too-large", ID: "my-id", Key: "k", Value: make([]byte, 100)},
	}
}

var sizeInError = regexp.MustCompile(`(\d+) bytes`)

// checkTooLarge checks that err wraps courier.ErrMessageTooLarge and reports the size the
// memory broker with the same limit reports for msg.
func checkTooLarge(t *testing.T, err error, msg courier.Message, limit int) {
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

// TestConnectTimeoutParameter: connect_timeout sets Config.ConnectTimeout.
func TestConnectTimeoutParameter(t *testing.T) {
	u, err := url.Parse("pulsar://h:6650?connect_timeout=250ms")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pulsar.ParseURL(u)
	if err != nil || cfg.ConnectTimeout != 250*time.Millisecond {
		t.Fatalf("ParseURL(%s) = ConnectTimeout %v, %v; want 250ms", u, cfg.ConnectTimeout, err)
	}
}
