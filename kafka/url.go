package kafka

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/urlparams"
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
var urlParams = urlparams.Params[Config]{
	"client_id":   urlparams.String(func(c *Config) *string { return &c.ClientID }),
	"version":     urlparams.String(func(c *Config) *string { return &c.Version }),
	"compression": urlparams.String(func(c *Config) *string { return &c.Compression }),
	"rebalance":   urlparams.String(func(c *Config) *string { return &c.Rebalance }),
	"sasl":        urlparams.String(func(c *Config) *string { return &c.SASL.Mechanism }),
	"tls": func(c *Config, v string) error {
		on, err := strconv.ParseBool(v)
		if on {
			c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return err
	},
	"create_topics":      urlparams.Bool(func(c *Config) *bool { return &c.CreateTopics }),
	"max_message_bytes":  urlparams.Int(func(c *Config) *int { return &c.MaxMessageBytes }),
	"partitions":         urlparams.Int(func(c *Config) *int32 { return &c.TopicPartitions }),
	"replication":        urlparams.Int(func(c *Config) *int16 { return &c.TopicReplication }),
	"linger":             urlparams.Duration(func(c *Config) *time.Duration { return &c.Linger }),
	"session_timeout":    urlparams.Duration(func(c *Config) *time.Duration { return &c.SessionTimeout }),
	"heartbeat_interval": urlparams.Duration(func(c *Config) *time.Duration { return &c.HeartbeatInterval }),
	"commit_interval":    urlparams.Duration(func(c *Config) *time.Duration { return &c.CommitInterval }),
	"dial_timeout":       urlparams.Duration(func(c *Config) *time.Duration { return &c.DialTimeout }),
	"connect_timeout":    urlparams.Duration(func(c *Config) *time.Duration { return &c.ConnectTimeout }),
	"fetch_max_wait":     urlparams.Duration(func(c *Config) *time.Duration { return &c.FetchMaxWait }),
}

// ParseURL reads a Config from a URL such as
//
//	kafka://host1:9092,host2:9092?compression=zstd&rebalance=sticky
//	kafka://user:secret@host:9093?sasl=SCRAM-SHA-512&tls=true
//
// Query parameters: client_id, version, compression, rebalance, sasl (the mechanism; PLAIN
// when the URL has a user and no sasl parameter), tls (true: TLS with the system roots),
// create_topics, partitions, replication, max_message_bytes, and the durations linger,
// session_timeout, heartbeat_interval, commit_interval, fetch_max_wait, dial_timeout, connect_timeout ("250ms", or
// whole seconds). Unknown
// parameters are an error, so a typo is not silently ignored.
func ParseURL(u *url.URL) (Config, error) {
	var cfg Config
	if u.Scheme != "kafka" {
		return cfg, fmt.Errorf("kafka: parse URL: %w: scheme is %q, want kafka", courier.ErrInvalidConfig, u.Scheme)
	}
	if u.Host == "" {
		return cfg, fmt.Errorf("kafka: parse URL: %w: %q names no broker; want kafka://host:port[,host:port...]", courier.ErrInvalidConfig, u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return cfg, fmt.Errorf("kafka: parse URL: %w: %q has a path; topics are named per message", courier.ErrInvalidConfig, u.Redacted())
	}
	cfg.Brokers = strings.Split(u.Host, ",")
	if u.User != nil {
		cfg.SASL.Mechanism = "PLAIN"
		cfg.SASL.User = u.User.Username()
		cfg.SASL.Password, _ = u.User.Password()
	}
	if err := urlParams.Apply("kafka", u.Query(), &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}
