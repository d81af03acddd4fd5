package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// failTimeout is the ConnectTimeout of the failure tests: short, so that they take little
// time, and long enough for a refused or garbled connection to be told apart from a timeout.
const failTimeout = 1500 * time.Millisecond

// connectFails opens cfg and checks that it fails within its ConnectTimeout (with some
// slack), with an error that names addr and contains want, never the password, and that
// the Logger saw no password either. It returns the logs and the error.
func connectFails(t *testing.T, cfg kafka.Config, addr, want, password string) (string, error) {
	t.Helper()
	return brokertest.ConnectFails(t, func(logger *slog.Logger, timeout time.Duration) (courier.Broker, error) {
		cfg.Logger, cfg.ConnectTimeout = logger, timeout
		return kafka.New(context.Background(), cfg) // no deadline: ConnectTimeout bounds it
	}, failTimeout, addr, want, password)
}

// TestConnectClosedPort: nothing listens; New says so, naming the address, within
// ConnectTimeout, after logging its retries.
func TestConnectClosedPort(t *testing.T) {
	addr := brokertest.ClosedAddr(t)
	logs, _ := connectFails(t, kafka.Config{Brokers: []string{addr}}, addr, "connection refused", "")
	if !strings.Contains(logs, "retrying") || !strings.Contains(logs, addr) {
		t.Errorf("New logged no retry naming %s:\n%s", addr, logs)
	}
}

// TestConnectWrongProtocol: something that is not Kafka answers on the port. Before
// ConnectTimeout, this hung New for minutes (sarama's retries and 30s network timeouts).
func TestConnectWrongProtocol(t *testing.T) {
	addr := brokertest.GarbageAddr(t)
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
	brokertest.CheckTooLargeSizes(t, b, 100)
}

// TestSaramaLogsThroughSlog: sarama's own logs reach slog.Default() at Debug level.
func TestSaramaLogsThroughSlog(t *testing.T) {
	logs := brokertest.NewLogBuffer()
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)
	addr := brokertest.ClosedAddr(t)
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
