package pulsartest

import (
	"log/slog"
	"time"
)

// Option configures a Server created by NewServer.
type Option func(*config)

type config struct {
	addr           string
	logger         *slog.Logger
	maxMessageSize int
	partitioned    map[string]int
	responseDelay  time.Duration
	token          string
}

func defaultConfig() config {
	return config{
		addr:           "127.0.0.1:0",
		logger:         slog.New(slog.DiscardHandler),
		maxMessageSize: 5 << 20,
		partitioned:    map[string]int{},
	}
}

// WithAddr sets the TCP address to listen on. The default, "127.0.0.1:0",
// picks a free port on the loopback interface.
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// WithLogger sets the logger for connection and protocol events. The default
// discards them. Payloads are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithMaxMessageSize sets the largest message the server accepts, announced to
// clients on connect. The default is 5 MiB, as on a real broker.
func WithMaxMessageSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxMessageSize = n
		}
	}
}

// WithPartitionedTopic creates topic with the given number of partitions when
// the server starts (see Server.CreatePartitionedTopic).
func WithPartitionedTopic(topic string, partitions int) Option {
	return func(c *config) { c.partitioned[topic] = partitions }
}

// WithResponseDelay delays every answer the server gives (see
// Server.SetResponseDelay).
func WithResponseDelay(d time.Duration) Option {
	return func(c *config) { c.responseDelay = d }
}

// WithToken makes the server require token authentication with this token: a client that
// connects without it is answered with an AuthenticationError, as a broker with
// authenticationEnabled and the token provider would.
func WithToken(token string) Option {
	return func(c *config) { c.token = token }
}
