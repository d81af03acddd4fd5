package pulsar

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/urlparams"
)

// SubscriptionType selects how a group's consumers share its messages.
type SubscriptionType int

// Subscription types; see Pulsar's documentation of each.
const (
	// KeyShared, the default, spreads keys over the group's consumers and
	// keeps each key's messages in order.
	KeyShared SubscriptionType = iota
	// Shared spreads messages round-robin, with no order.
	Shared
	// Failover sends everything to one consumer; another takes over when it leaves.
	Failover
	// Exclusive allows one consumer in the group; a second is refused.
	Exclusive
)

func (s SubscriptionType) String() string {
	switch s {
	case KeyShared:
		return "key_shared"
	case Shared:
		return "shared"
	case Failover:
		return "failover"
	case Exclusive:
		return "exclusive"
	}
	return fmt.Sprintf("SubscriptionType(%d)", int(s))
}

// Compression selects the producers' compression codec.
type Compression int

// Compression codecs.
const (
	CompressNone Compression = iota
	CompressLZ4
	CompressZLib
	CompressZSTD
)

// Defaults of Config.
const (
	DefaultMaxMessageBytes   = 5 << 20 // a Pulsar broker's default maxMessageSize
	DefaultOperationTimeout  = 30 * time.Second
	DefaultConnectionTimeout = 10 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultSendTimeout       = 30 * time.Second
	DefaultBatchingDelay     = time.Millisecond
	DefaultReceiverQueueSize = 1000
	DefaultNackDelay         = 100 * time.Millisecond
)

// Config configures a Broker. New needs URL; NewWithClient ignores it and the
// other connection settings. Zero values select the documented defaults.
type Config struct {
	// URL is the service URL, "pulsar://host:6650" or "pulsar+ssl://host:6651".
	URL string

	// Token authenticates with a JWT (token authentication).
	Token string
	// TLSTrustCertsFile is a PEM file of the CAs trusted for pulsar+ssl.
	TLSTrustCertsFile string
	// TLSAllowInsecure accepts any server certificate. For tests only.
	TLSAllowInsecure bool
	// TLSCertFile and TLSKeyFile authenticate the client with a certificate.
	TLSCertFile, TLSKeyFile string
	// OAuth2 holds the client-credentials parameters of OAuth2 authentication
	// ("type", "issuerUrl", "audience", "privateKey", "clientId", "scope").
	OAuth2 map[string]string

	// OperationTimeout bounds lookups, producer and consumer creation.
	OperationTimeout time.Duration
	// ConnectionTimeout bounds establishing a TCP connection.
	ConnectionTimeout time.Duration
	// ConnectTimeout bounds New's check that a broker answers at URL (connection, handshake,
	// authentication and a lookup, retried by the client meanwhile), whatever the deadline
	// of New's context; default DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// SendTimeout fails a send the broker has not confirmed in time.
	SendTimeout time.Duration
	// DisableBatching sends each message on its own.
	DisableBatching bool
	// BatchingDelay is how long a batch waits for more messages. Neither Send
	// nor SendBatch waits for it (the client sends a Send's batch at once and
	// SendBatch flushes once all its messages are queued); it bounds how long
	// messages queued by a SendBatch whose context ended before its flush
	// wait. Default 1ms.
	BatchingDelay time.Duration
	// Compression of batches; default none.
	Compression Compression
	// MaxMessageBytes is the largest courier.Message.Size that Send accepts;
	// default DefaultMaxMessageBytes, the broker's own default limit.
	MaxMessageBytes int

	// SubscriptionType of every group; default KeyShared.
	SubscriptionType SubscriptionType
	// ReceiverQueueSize is how many messages a consumer prefetches.
	ReceiverQueueSize int
	// NackDelay is how soon a message handed back unhandled (on Close) is
	// redelivered; default 100ms.
	NackDelay time.Duration
	// MaxDeliveries > 0 enables the client's dead-letter policy: a message
	// delivered that many times goes to DeadLetterTopic (default
	// "<topic>-<group>-DLQ"). Retries in place do not count; only
	// redeliveries by the broker do.
	MaxDeliveries   uint32
	DeadLetterTopic string

	// Logger receives the adapter's logs and the client's warnings; nil
	// means slog.Default(). Payloads and credentials are never logged.
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig. An empty URL is
// not wrong here: only New needs one.
func (c Config) Validate() error {
	var problems []string
	if c.URL == "" {
		// New says so; NewWithClient needs none
	} else if u, err := url.Parse(c.URL); err != nil {
		problems = append(problems, fmt.Sprintf("URL: %v", err))
	} else if u.Scheme != "pulsar" && u.Scheme != "pulsar+ssl" {
		problems = append(problems, fmt.Sprintf("URL scheme %q, want pulsar or pulsar+ssl", u.Scheme))
	} else if u.Host == "" {
		problems = append(problems, "URL has no host")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		problems = append(problems, "TLSCertFile and TLSKeyFile go together")
	}
	auths := 0
	for _, set := range []bool{c.Token != "", c.TLSCertFile != "", len(c.OAuth2) > 0} {
		if set {
			auths++
		}
	}
	if auths > 1 {
		problems = append(problems, "more than one of Token, TLSCertFile and OAuth2")
	}
	for name, d := range map[string]time.Duration{
		"OperationTimeout": c.OperationTimeout, "ConnectionTimeout": c.ConnectionTimeout, "ConnectTimeout": c.ConnectTimeout,
		"SendTimeout": c.SendTimeout, "BatchingDelay": c.BatchingDelay, "NackDelay": c.NackDelay,
	} {
		if d < 0 {
			problems = append(problems, fmt.Sprintf("negative %s %v", name, d))
		}
	}
	if c.MaxMessageBytes < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxMessageBytes %d", c.MaxMessageBytes))
	}
	if c.ReceiverQueueSize < 0 {
		problems = append(problems, fmt.Sprintf("negative ReceiverQueueSize %d", c.ReceiverQueueSize))
	}
	if c.SubscriptionType < KeyShared || c.SubscriptionType > Exclusive {
		problems = append(problems, fmt.Sprintf("unknown SubscriptionType %d", int(c.SubscriptionType)))
	}
	if c.Compression < CompressNone || c.Compression > CompressZSTD {
		problems = append(problems, fmt.Sprintf("unknown Compression %d", int(c.Compression)))
	}
	if c.DeadLetterTopic != "" && c.MaxDeliveries == 0 {
		problems = append(problems, "DeadLetterTopic without MaxDeliveries")
	}
	if len(problems) > 0 {
		return fmt.Errorf("pulsar: config: %w: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.OperationTimeout == 0 {
		c.OperationTimeout = DefaultOperationTimeout
	}
	if c.ConnectionTimeout == 0 {
		c.ConnectionTimeout = DefaultConnectionTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.BatchingDelay == 0 {
		c.BatchingDelay = DefaultBatchingDelay
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.ReceiverQueueSize == 0 {
		c.ReceiverQueueSize = DefaultReceiverQueueSize
	}
	if c.NackDelay == 0 {
		c.NackDelay = DefaultNackDelay
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// urlParams maps each URL query parameter onto Config.
var urlParams = urlparams.Params[Config]{
	"token":                urlparams.String(func(c *Config) *string { return &c.Token }),
	"tls_trust_certs_file": urlparams.String(func(c *Config) *string { return &c.TLSTrustCertsFile }),
	"tls_allow_insecure":   urlparams.Bool(func(c *Config) *bool { return &c.TLSAllowInsecure }),
	"tls_cert_file":        urlparams.String(func(c *Config) *string { return &c.TLSCertFile }),
	"tls_key_file":         urlparams.String(func(c *Config) *string { return &c.TLSKeyFile }),
	"operation_timeout":    urlparams.Duration(func(c *Config) *time.Duration { return &c.OperationTimeout }),
	"connection_timeout":   urlparams.Duration(func(c *Config) *time.Duration { return &c.ConnectionTimeout }),
	"connect_timeout":      urlparams.Duration(func(c *Config) *time.Duration { return &c.ConnectTimeout }),
	"send_timeout":         urlparams.Duration(func(c *Config) *time.Duration { return &c.SendTimeout }),
	"batching": func(c *Config, v string) error {
		var on bool
		err := urlparams.Bool(func(*Config) *bool { return &on })(c, v)
		c.DisableBatching = !on
		return err
	},
	"batching_delay": urlparams.Duration(func(c *Config) *time.Duration { return &c.BatchingDelay }),
	"compression": urlparams.OneOf(func(c *Config) *Compression { return &c.Compression },
		map[string]Compression{"none": CompressNone, "": CompressNone, "lz4": CompressLZ4, "zlib": CompressZLib, "zstd": CompressZSTD}),
	"max_message_bytes": urlparams.Int(func(c *Config) *int { return &c.MaxMessageBytes }),
	"subscription_type": urlparams.OneOf(func(c *Config) *SubscriptionType { return &c.SubscriptionType },
		map[string]SubscriptionType{"key_shared": KeyShared, "shared": Shared, "failover": Failover, "exclusive": Exclusive}),
	"receiver_queue_size": urlparams.Int(func(c *Config) *int { return &c.ReceiverQueueSize }),
	"nack_delay":          urlparams.Duration(func(c *Config) *time.Duration { return &c.NackDelay }),
	"max_deliveries": func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return errors.New("not a whole number")
		}
		c.MaxDeliveries = uint32(n)
		return nil
	},
	"dead_letter_topic": urlparams.String(func(c *Config) *string { return &c.DeadLetterTopic }),
}

// ParseURL reads a Config from a pulsar:// or pulsar+ssl:// URL. The query parameters (token,
// tls_trust_certs_file, tls_allow_insecure, tls_cert_file, tls_key_file, operation_timeout,
// connection_timeout, connect_timeout, send_timeout, batching, batching_delay, compression, max_message_bytes,
// subscription_type, receiver_queue_size, nack_delay, max_deliveries, dead_letter_topic) set
// the common options; unknown ones are an error, so that a typo is not silently ignored.
// Durations use Go's syntax ("500ms") or whole seconds.
func ParseURL(u *url.URL) (Config, error) {
	base := *u
	base.RawQuery = ""
	base.Fragment = ""
	cfg := Config{URL: base.String()}
	if err := urlParams.Apply("pulsar", u.Query(), &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}
