package rabbitmq_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/internal/testenv"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/rabbitmq"
)

// failTimeout is the ConnectTimeout of the failure tests: short, so that they take little
// time, and long enough for a refused or garbled connection to be told apart from a timeout.
const failTimeout = 1500 * time.Millisecond

// connectFails opens cfg and checks that it fails within its ConnectTimeout (with some
// slack), with an error that names addr and contains want, never the password, and that
// the Logger saw no password either. It returns the logs and the error.
func connectFails(t *testing.T, cfg rabbitmq.Config, addr, want, password string) (string, error) {
	t.Helper()
	return brokertest.ConnectFails(t, func(logger *slog.Logger, timeout time.Duration) (courier.Broker, error) {
		cfg.Logger, cfg.ConnectTimeout = logger, timeout
		return rabbitmq.New(context.Background(), cfg) // no deadline: ConnectTimeout bounds it
	}, failTimeout, addr, want, password)
}

// TestConnectClosedPort: nothing listens.
func TestConnectClosedPort(t *testing.T) {
	addr := brokertest.ClosedAddr(t)
	logs, _ := connectFails(t, rabbitmq.Config{URL: "amqp://" + addr + "/"}, addr, "connection refused", "")
	if !strings.Contains(logs, "retrying") || !strings.Contains(logs, addr) {
		t.Errorf("New logged no retry naming %s:\n%s", addr, logs)
	}
}

// TestConnectWrongProtocol: something that is not RabbitMQ answers on the port; New says so
// at once rather than retrying.
func TestConnectWrongProtocol(t *testing.T) {
	addr := brokertest.GarbageAddr(t)
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
	brokertest.CheckTooLargeSizes(t, b, 100)
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
