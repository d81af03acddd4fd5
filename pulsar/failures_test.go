package pulsar_test

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
	"github.com/courier-go/courier/pulsar"
	"github.com/courier-go/courier/pulsar/pulsartest"
)

// failTimeout is the ConnectTimeout of the failure tests: short, so that they take little
// time, and long enough for a refused or garbled connection to be told apart from a timeout.
const failTimeout = 1500 * time.Millisecond

// connectFails opens cfg and checks that it fails within its ConnectTimeout (with some
// slack), with an error that names addr and contains want, never the password, and that
// the Logger saw no password either. It returns the logs and the error.
func connectFails(t *testing.T, cfg pulsar.Config, addr, want, password string) (string, error) {
	t.Helper()
	return brokertest.ConnectFails(t, func(logger *slog.Logger, timeout time.Duration) (courier.Broker, error) {
		cfg.Logger, cfg.ConnectTimeout = logger, timeout
		return pulsar.New(context.Background(), cfg) // no deadline: ConnectTimeout bounds it
	}, failTimeout, addr, want, password)
}

// TestConnectClosedPort: nothing listens. Before ConnectTimeout, New succeeded and the
// first Send failed after 30s with a bare "context deadline exceeded".
func TestConnectClosedPort(t *testing.T) {
	addr := brokertest.ClosedAddr(t)
	logs, _ := connectFails(t, pulsar.Config{URL: "pulsar://" + addr}, addr, "connection refused", "")
	if !strings.Contains(logs, "Failed to connect") || !strings.Contains(logs, addr) {
		t.Errorf("New logged no failed attempt naming %s:\n%s", addr, logs)
	}
}

// TestConnectWrongProtocol: something that is not Pulsar answers on the port.
func TestConnectWrongProtocol(t *testing.T) {
	addr := brokertest.GarbageAddr(t)
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
		if limit > 0 {
			brokertest.CheckTooLargeSizes(t, b, limit)
		} else {
			p, err := b.NewProducer(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			err = p.Send(t.Context(), courier.Message{Topic: "too-large", Value: make([]byte, 2000)})
			if !errors.Is(err, courier.ErrMessageTooLarge) {
				t.Errorf("Send over the broker's limit = %v, want ErrMessageTooLarge", err)
			}
		}
		_ = b.Close()
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
