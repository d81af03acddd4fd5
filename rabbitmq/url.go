package rabbitmq

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/urlparams"
)

// urlParams maps each URL query parameter to the Config field it sets.
var urlParams = urlparams.Params[Config]{
	"exchange_type":   func(c *Config, v string) error { c.ExchangeType = v; return nil },
	"connection_name": func(c *Config, v string) error { c.ConnectionName = v; return nil },
	"mandatory": func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.AllowUnroutable = !b
		return err
	},
	"max_message_bytes":  urlparams.Int(func(c *Config) *int { return &c.MaxMessageBytes }),
	"publisher_channels": urlparams.Int(func(c *Config) *int { return &c.PublisherChannels }),
	"prefetch":           urlparams.Int(func(c *Config) *int { return &c.Prefetch }),
	"heartbeat":          urlparams.Duration(func(c *Config) *time.Duration { return &c.Heartbeat }),
	"connect_timeout":    urlparams.Duration(func(c *Config) *time.Duration { return &c.ConnectTimeout }),
	"close_timeout":      urlparams.Duration(func(c *Config) *time.Duration { return &c.CloseTimeout }),
	"queue_type":         func(c *Config, v string) error { c.Queue.Type = QueueType(v); return nil },
	"binding_key":        func(c *Config, v string) error { c.Queue.BindingKey = v; return nil },
	"dead_letter_exchange": func(c *Config, v string) error {
		c.Queue.DeadLetterExchange = v
		return nil
	},
	"delivery_limit":         urlparams.Int(func(c *Config) *int { return &c.Queue.DeliveryLimit }),
	"max_attempts":           urlparams.Int(func(c *Config) *int { return &c.Queue.MaxAttempts }),
	"single_active_consumer": urlparams.Bool(func(c *Config) *bool { return &c.Queue.SingleActiveConsumer }),
	// TLS, named as amqp091-go's own URI parser names them.
	"server_name": func(c *Config, v string) error { tlsConfig(c).ServerName = v; return nil },
	"cacertfile": func(c *Config, v string) error {
		pem, err := os.ReadFile(v)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no PEM certificate in %s", v)
		}
		tlsConfig(c).RootCAs = pool
		return nil
	},
	"certfile": func(*Config, string) error { return nil }, // read with keyfile, below
	"keyfile":  func(*Config, string) error { return nil },
}

func tlsConfig(c *Config) *tls.Config {
	if c.TLS == nil {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return c.TLS
}

// ParseURL reads a Config from an amqp:// or amqps:// URL: credentials, host, port and vhost
// as RabbitMQ defines them (amqp://user:pass@host:5672/vhost, the vhost percent-encoded, "/"
// by default), and these query parameters:
//
//	exchange_type=topic|direct|fanout|headers   Config.ExchangeType
//	mandatory=true|false                         false sets Config.AllowUnroutable
//	max_message_bytes=N  publisher_channels=N  prefetch=N
//	heartbeat=10s  connect_timeout=10s  close_timeout=30s   (durations, or seconds)
//	connection_name=NAME
//	queue_type=quorum|classic  binding_key=KEY  dead_letter_exchange=NAME
//	delivery_limit=N  max_attempts=N  single_active_consumer=true|false
//	cacertfile=PATH  certfile=PATH  keyfile=PATH  server_name=NAME   (amqps)
//
// An unknown parameter is an error, so that a typo is not silently ignored.
func ParseURL(u *url.URL) (Config, error) {
	var cfg Config
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return cfg, fmt.Errorf("rabbitmq: parse URL: %w: scheme is %q, want amqp or amqps", courier.ErrInvalidConfig, u.Scheme)
	}
	q := u.Query()
	if err := urlParams.Apply("rabbitmq", q, &cfg); err != nil {
		return cfg, err
	}
	if cert, key := q.Get("certfile"), q.Get("keyfile"); cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return cfg, fmt.Errorf("rabbitmq: parse URL: %w: parameters certfile and keyfile: %w", courier.ErrInvalidConfig, err)
		}
		tlsConfig(&cfg).Certificates = []tls.Certificate{pair}
	}
	if cfg.TLS != nil && u.Scheme != "amqps" {
		return cfg, fmt.Errorf("rabbitmq: parse URL: %w: TLS parameters need an amqps:// URL", courier.ErrInvalidConfig)
	}
	bare := *u
	bare.RawQuery = ""
	bare.Fragment = ""
	cfg.URL = bare.String()
	return cfg, cfg.Validate()
}
