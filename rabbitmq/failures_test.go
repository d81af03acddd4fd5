package rabbitmq_test

import (
	"context"
	"errors"
	"github.com/courier-go/courier/internal/testenv"
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
	"github.com/courier-go/courier/rabbitmq"
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
func connectFails(t *testing.T, cfg rabbitmq.Config, addr, want, password string) (string, error) {
	t.Helper()
	logs := &logText{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.ConnectTimeout = failTimeout
	start := time.Now()
	b, err := rabbitmq.New(context.Background(), cfg) // no deadline: ConnectTimeout bounds it
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

// TestConnectClosedPort: nothing listens.
func TestConnectClosedPort(t *testing.T) {
	addr := closedAddr(t)
	logs, _ := connectFails(t, rabbitmq.Config{URL: "amqp://" + addr + "/"}, addr, "connection refused", "")
	if !strings.Contains(logs, "retrying") || !strings.Contains(logs, addr) {
		t.Errorf("New logged no retry naming %s:\n%s", addr, logs)
	}
}

// TestConnectWrongProtocol: something that is not RabbitMQ answers on the port; New says so
// at once rather than retrying.
func TestConnectWrongProtocol(t *testing.T) {
	addr := garbageAddr(t)
	_, _ = connectFails(t, rabbitmq.Config{URL: "amqp://" + addr + "/"}, addr, "did not answer as an AMQP 0-9-1 broker does", "")
}

// TestConnectWrongPassword: RabbitMQ refuses the password (403 ACCESS_REFUSED); New says
// so at once, and the password shows nowhere.
func TestConnectWrongPassword(t *testing.T) {
	u, err := url.Parse(testenv.Broker(t, testenv.AMQPURL, testenv.Container("rabbitmq")))
	if err != nil {
		t.Fatal(err)
	}
	const password = "wrong-s3cret-pw"
	user := "guest"
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	_, err = connectFails(t, rabbitmq.Config{URL: u.String()}, u.Host, "authentication failed", password)
	if !errors.Is(err, courier.ErrAuthentication) {
		t.Errorf("error %v does not wrap courier.ErrAuthentication", err)
	}
}

// TestTooLargeSize: the too-large error reports the size the memory broker reports.
func TestTooLargeSize(t *testing.T) {
	b, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: testenv.Broker(t, testenv.AMQPURL, testenv.Container("rabbitmq")), MaxMessageBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range tooLargeMessages() {
		checkTooLarge(t, p.Send(t.Context(), msg), msg, 100)
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
	u, err := url.Parse("amqp://h:5672/?connect_timeout=250ms")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rabbitmq.ParseURL(u)
	if err != nil || cfg.ConnectTimeout != 250*time.Millisecond {
		t.Fatalf("ParseURL(%s) = ConnectTimeout %v, %v; want 250ms", u, cfg.ConnectTimeout, err)
	}
}
