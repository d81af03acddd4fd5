package kafka_test

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
	"github.com/courier-go/courier/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
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
func connectFails(t *testing.T, cfg kafka.Config, addr, want, password string) (string, error) {
	t.Helper()
	logs := &logText{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.ConnectTimeout = failTimeout
	start := time.Now()
	b, err := kafka.New(context.Background(), cfg) // no deadline: ConnectTimeout bounds it
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

// TestConnectClosedPort: nothing listens; New says so, naming the address, within
// ConnectTimeout, after logging its retries.
func TestConnectClosedPort(t *testing.T) {
	addr := closedAddr(t)
	logs, _ := connectFails(t, kafka.Config{Brokers: []string{addr}}, addr, "connection refused", "")
	if !strings.Contains(logs, "retrying") || !strings.Contains(logs, addr) {
		t.Errorf("New logged no retry naming %s:\n%s", addr, logs)
	}
}

// TestConnectWrongProtocol: something that is not Kafka answers on the port. Before
// ConnectTimeout, this hung New for minutes (sarama's retries and 30s network timeouts).
func TestConnectWrongProtocol(t *testing.T) {
	addr := garbageAddr(t)
	_, _ = connectFails(t, kafka.Config{Brokers: []string{addr}}, addr, "no Kafka broker answered", "")
}

// TestConnectWrongPassword: a SASL cluster refuses the credentials; the error says
// "authentication failed" and wraps courier.ErrAuthentication, at once rather than after
// retrying.
func TestConnectWrongPassword(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "alice", "right-secret"))
	addr := c.ListenAddrs()[0]
	const password = "wrong-s3cret-pw"
	_, err := connectFails(t, kafka.Config{
		Brokers: []string{addr},
		SASL:    kafka.SASL{Mechanism: "PLAIN", User: "alice", Password: password},
	}, addr, "authentication failed", password)
	if !errors.Is(err, courier.ErrAuthentication) {
		t.Errorf("error %v does not wrap courier.ErrAuthentication", err)
	}

	// The right password connects: the cluster is fine, the credentials were not.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := kafka.New(ctx, kafka.Config{Brokers: []string{addr}, Logger: quiet,
		SASL: kafka.SASL{Mechanism: "PLAIN", User: "alice", Password: "right-secret"}})
	if err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	_ = b.Close()
}

// TestTooLargeSize: the too-large error reports the size the memory broker reports for the
// same message, the filled ID counted. Before, Kafka counted 36 bytes less for a message
// without an ID.
func TestTooLargeSize(t *testing.T) {
	b := openBroker(t, testConfig(kfakeBrokers(t), 100))
	defer func() { _ = b.Close() }()
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range tooLargeMessages() {
		err := p.Send(t.Context(), msg)
		checkTooLarge(t, err, msg, 100)
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

// TestSaramaLogsThroughSlog: sarama's own logs reach slog.Default() at Debug level.
func TestSaramaLogsThroughSlog(t *testing.T) {
	logs := &logText{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)
	addr := closedAddr(t)
	_, _ = connectFails(t, kafka.Config{Brokers: []string{addr}}, addr, "connection refused", "")
	if !strings.Contains(logs.String(), "source=sarama") || !strings.Contains(logs.String(), addr) {
		t.Errorf("sarama's logs of the failed connection did not reach slog.Default():\n%s", logs)
	}
}

// TestConnectTimeoutParameter: connect_timeout sets Config.ConnectTimeout.
func TestConnectTimeoutParameter(t *testing.T) {
	u, err := url.Parse("kafka://h:9092?connect_timeout=250ms")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := kafka.ParseURL(u)
	if err != nil || cfg.ConnectTimeout != 250*time.Millisecond {
		t.Fatalf("ParseURL(%s) = ConnectTimeout %v, %v; want 250ms", u, cfg.ConnectTimeout, err)
	}
}
