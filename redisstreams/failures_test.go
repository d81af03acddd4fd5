package redisstreams_test

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
	"github.com/courier-go/courier/redisstreams"
)

// failTimeout is the ConnectTimeout of the failure tests: short, so that they take little
// time, and long enough for a refused or garbled connection to be told apart from a timeout.
const failTimeout = 1500 * time.Millisecond

// silentAddr serves a TCP port that takes connections and never says a word.
func silentAddr(t *testing.T) string { return brokertest.ServeAddr(t, nil) }

// connectFails opens cfg and checks that it fails within its ConnectTimeout (with some
// slack), with an error that names addr and contains want, never the password, and that
// the Logger saw no password either. It returns the logs and the error.
func connectFails(t *testing.T, cfg redisstreams.Config, addr, want, password string) (string, error) {
	t.Helper()
	return brokertest.ConnectFails(t, func(logger *slog.Logger, timeout time.Duration) (courier.Broker, error) {
		cfg.Logger, cfg.ConnectTimeout = logger, timeout
		return redisstreams.New(context.Background(), cfg) // no deadline: ConnectTimeout bounds it
	}, failTimeout, addr, want, password)
}

// TestConnectClosedPort: nothing listens.
func TestConnectClosedPort(t *testing.T) {
	addr := brokertest.ClosedAddr(t)
	logs, _ := connectFails(t, redisstreams.Config{URL: "redis://" + addr}, addr, "connection refused", "")
	if !strings.Contains(logs, "retrying") || !strings.Contains(logs, addr) {
		t.Errorf("New logged no retry naming %s:\n%s", addr, logs)
	}
}

// TestConnectWrongProtocol: something that is not Redis answers on the port; New says so at
// once rather than retrying, and a port that takes the connection and says nothing fails
// within ConnectTimeout.
func TestConnectWrongProtocol(t *testing.T) {
	addr := brokertest.GarbageAddr(t)
	_, _ = connectFails(t, redisstreams.Config{URL: "redis://" + addr}, addr, "did not answer as Redis does", "")
	addr = silentAddr(t)
	_, _ = connectFails(t, redisstreams.Config{URL: "redis://" + addr}, addr, "no Redis answered", "")
}

// TestConnectWrongPassword: a Redis with a password refuses a wrong one, or none. Before,
// both read as Redis being unreachable. (A Redis without a password, 6 or later, accepts any:
// its default user is nopass.)
func TestConnectWrongPassword(t *testing.T) {
	const password = "wrong-s3cret-pw"
	srv := startRedisServer(t, "--requirepass", "right-secret")
	for _, url := range []string{
		"redis://:" + password + "@" + srv.addr() + "/0",        // WRONGPASS
		"redis://" + srv.addr() + "/0",                          // NOAUTH
		"redis://someone:" + password + "@" + srv.addr() + "/0", // WRONGPASS, with a user
	} {
		_, err := connectFails(t, redisstreams.Config{URL: url}, srv.addr(), "authentication failed", password)
		if !errors.Is(err, courier.ErrAuthentication) {
			t.Errorf("error %v does not wrap courier.ErrAuthentication", err)
		}
	}
	b, err := redisstreams.New(t.Context(), redisstreams.Config{URL: "redis://:right-secret@" + srv.addr() + "/0"})
	if err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	_ = b.Close()
}

// TestUnknownParameterListsKnown: an unknown URL parameter is refused with the list of the
// known ones, courier's and go-redis's.
func TestUnknownParameterListsKnown(t *testing.T) {
	_, err := redisstreams.ParseURL(&url.URL{Scheme: "redis", Host: "h:6379", RawQuery: "pool_sise=3"})
	if !errors.Is(err, courier.ErrInvalidConfig) {
		t.Fatalf("ParseURL with pool_sise = %v, want ErrInvalidConfig", err)
	}
	for _, known := range []string{"pool_sise", "pool_size", "dial_timeout", "claim_idle", "connect_timeout"} {
		if !strings.Contains(err.Error(), known) {
			t.Errorf("error %q does not name %s", err, known)
		}
	}
}

// TestTooLargeSize: the too-large error reports the size the memory broker reports.
func TestTooLargeSize(t *testing.T) {
	b, err := redisstreams.New(t.Context(), redisstreams.Config{URL: redisURL(t), MaxMessageBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	brokertest.CheckTooLargeSizes(t, b, 100)
}

// TestGoRedisLogsThroughSlog: go-redis's own logs (its pool's failed dials) reach
// slog.Default(), not stderr.
func TestGoRedisLogsThroughSlog(t *testing.T) {
	logs := brokertest.NewLogBuffer()
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, nil)))
	defer slog.SetDefault(old)
	addr := brokertest.ClosedAddr(t)
	_, _ = connectFails(t, redisstreams.Config{URL: "redis://" + addr}, addr, "connection refused", "")
	if !strings.Contains(logs.String(), "source=go-redis") || !strings.Contains(logs.String(), addr) {
		t.Errorf("go-redis's log of the failed dial did not reach slog.Default():\n%s", logs)
	}
}

// TestConnectTimeoutParameter: connect_timeout sets Config.ConnectTimeout.
func TestConnectTimeoutParameter(t *testing.T) {
	u, err := url.Parse("redis://h:6379/0?connect_timeout=250ms")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := redisstreams.ParseURL(u)
	if err != nil || cfg.ConnectTimeout != 250*time.Millisecond {
		t.Fatalf("ParseURL(%s) = ConnectTimeout %v, %v; want 250ms", u, cfg.ConnectTimeout, err)
	}
}
