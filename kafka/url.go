package kafka

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/courier-go/courier"
)

func init() {
	courier.Register("kafka", func(ctx context.Context, u *url.URL) (courier.Broker, error) {
		cfg, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg)
	})
}

// urlParams maps each URL query parameter onto Config.
var urlParams = map[string]func(c *Config, v string) error{
	"client_id":   func(c *Config, v string) error { c.ClientID = v; return nil },
	"version":     func(c *Config, v string) error { c.Version = v; return nil },
	"compression": func(c *Config, v string) error { c.Compression = v; return nil },
	"rebalance":   func(c *Config, v string) error { c.Rebalance = v; return nil },
	"sasl":        func(c *Config, v string) error { c.SASL.Mechanism = v; return nil },
	"tls": func(c *Config, v string) error {
		on, err := strconv.ParseBool(v)
		if on {
			c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return err
	},
	"create_topics": func(c *Config, v string) error {
		var err error
		c.CreateTopics, err = strconv.ParseBool(v)
		return err
	},
	"max_message_bytes": func(c *Config, v string) error {
		var err error
		c.MaxMessageBytes, err = strconv.Atoi(v)
		return err
	},
	"partitions": func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		c.TopicPartitions = int32(n)
		return err
	},
	"replication": func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 16)
		c.TopicReplication = int16(n)
		return err
	},
	"linger":             durationParam(func(c *Config) *time.Duration { return &c.Linger }),
	"session_timeout":    durationParam(func(c *Config) *time.Duration { return &c.SessionTimeout }),
	"heartbeat_interval": durationParam(func(c *Config) *time.Duration { return &c.HeartbeatInterval }),
	"commit_interval":    durationParam(func(c *Config) *time.Duration { return &c.CommitInterval }),
	"dial_timeout":       durationParam(func(c *Config) *time.Duration { return &c.DialTimeout }),
	"fetch_max_wait":     durationParam(func(c *Config) *time.Duration { return &c.FetchMaxWait }),
}

func durationParam(field func(c *Config) *time.Duration) func(c *Config, v string) error {
	return func(c *Config, v string) error {
		var err error
		*field(c), err = time.ParseDuration(v)
		return err
	}
}

// ParseURL reads a Config from a URL such as
//
//	kafka://host1:9092,host2:9092?compression=zstd&rebalance=sticky
//	kafka://user:secret@host:9093?sasl=SCRAM-SHA-512&tls=true
//
// Query parameters: client_id, version, compression, rebalance, sasl (the mechanism; PLAIN
// when the URL has a user and no sasl parameter), tls (true: TLS with the system roots),
// create_topics, partitions, replication, max_message_bytes, and the durations linger,
// session_timeout, heartbeat_interval, commit_interval, fetch_max_wait, dial_timeout ("250ms"). Unknown
// parameters are an error, so a typo is not silently ignored.
func ParseURL(u *url.URL) (Config, error) {
	var cfg Config
	if u.Scheme != "kafka" {
		return cfg, fmt.Errorf("%w: kafka: URL scheme is %q, want kafka", courier.ErrInvalidConfig, u.Scheme)
	}
	if u.Host == "" {
		return cfg, fmt.Errorf("%w: kafka: URL %q names no broker; want kafka://host:port[,host:port...]", courier.ErrInvalidConfig, u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return cfg, fmt.Errorf("%w: kafka: URL %q has a path; topics are named per message", courier.ErrInvalidConfig, u.Redacted())
	}
	cfg.Brokers = strings.Split(u.Host, ",")
	if u.User != nil {
		cfg.SASL.Mechanism = "PLAIN"
		cfg.SASL.User = u.User.Username()
		cfg.SASL.Password, _ = u.User.Password()
	}
	for k, vs := range u.Query() {
		set, ok := urlParams[k]
		if !ok {
			known := make([]string, 0, len(urlParams))
			for name := range urlParams {
				known = append(known, name)
			}
			sort.Strings(known)
			return cfg, fmt.Errorf("%w: kafka: unknown URL parameter %q (known: %s)", courier.ErrInvalidConfig, k, strings.Join(known, ", "))
		}
		if err := set(&cfg, vs[len(vs)-1]); err != nil {
			return cfg, fmt.Errorf("%w: kafka: URL parameter %s=%q: %w", courier.ErrInvalidConfig, k, vs[len(vs)-1], err)
		}
	}
	return cfg, cfg.Validate()
}
