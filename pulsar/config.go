package pulsar

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/courier-go/courier"
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
	DefaultSendTimeout       = 30 * time.Second
	DefaultBatchingDelay     = time.Millisecond
	DefaultReceiverQueueSize = 1000
	DefaultNackDelay         = 100 * time.Millisecond
)

// Config configures a Broker. Only URL is required; zero values select the
// documented defaults.
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

// Validate says what is wrong with c.
func (c Config) Validate() error {
	var problems []string
	if c.URL == "" {
		problems = append(problems, "empty URL")
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
		"OperationTimeout": c.OperationTimeout, "ConnectionTimeout": c.ConnectionTimeout,
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
		return fmt.Errorf("%w: pulsar: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
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

// urlParams lists the query parameters ParseURL knows, for its error message.
const urlParams = "token, tls_trust_certs_file, tls_allow_insecure, tls_cert_file, tls_key_file, " +
	"operation_timeout, connection_timeout, send_timeout, batching, batching_delay, compression, " +
	"max_message_bytes, subscription_type, receiver_queue_size, nack_delay, max_deliveries, dead_letter_topic"

// ParseURL reads a Config from a pulsar:// or pulsar+ssl:// URL. The query
// parameters (see urlParams) set the common options; unknown ones are an
// error, so that a typo is not silently ignored. Durations use Go's syntax
// ("500ms").
func ParseURL(u *url.URL) (Config, error) {
	base := *u
	base.RawQuery = ""
	base.Fragment = ""
	cfg := Config{URL: base.String()}
	bad := func(k, v, why string) error {
		return fmt.Errorf("%w: pulsar: URL parameter %s=%q: %s", courier.ErrInvalidConfig, k, v, why)
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		var err error
		dur := func(d *time.Duration) {
			if *d, err = time.ParseDuration(v); err != nil {
				err = bad(k, v, "not a duration")
			}
		}
		num := func(n *int) {
			if *n, err = strconv.Atoi(v); err != nil {
				err = bad(k, v, "not a whole number")
			}
		}
		switch k {
		case "token":
			cfg.Token = v
		case "tls_trust_certs_file":
			cfg.TLSTrustCertsFile = v
		case "tls_allow_insecure":
			if cfg.TLSAllowInsecure, err = strconv.ParseBool(v); err != nil {
				err = bad(k, v, "not a boolean")
			}
		case "tls_cert_file":
			cfg.TLSCertFile = v
		case "tls_key_file":
			cfg.TLSKeyFile = v
		case "operation_timeout":
			dur(&cfg.OperationTimeout)
		case "connection_timeout":
			dur(&cfg.ConnectionTimeout)
		case "send_timeout":
			dur(&cfg.SendTimeout)
		case "batching":
			var on bool
			if on, err = strconv.ParseBool(v); err != nil {
				err = bad(k, v, "not a boolean")
			}
			cfg.DisableBatching = !on
		case "batching_delay":
			dur(&cfg.BatchingDelay)
		case "compression":
			switch strings.ToLower(v) {
			case "none", "":
				cfg.Compression = CompressNone
			case "lz4":
				cfg.Compression = CompressLZ4
			case "zlib":
				cfg.Compression = CompressZLib
			case "zstd":
				cfg.Compression = CompressZSTD
			default:
				err = bad(k, v, "want none, lz4, zlib or zstd")
			}
		case "max_message_bytes":
			num(&cfg.MaxMessageBytes)
		case "subscription_type":
			switch strings.ToLower(v) {
			case "key_shared":
				cfg.SubscriptionType = KeyShared
			case "shared":
				cfg.SubscriptionType = Shared
			case "failover":
				cfg.SubscriptionType = Failover
			case "exclusive":
				cfg.SubscriptionType = Exclusive
			default:
				err = bad(k, v, "want key_shared, shared, failover or exclusive")
			}
		case "receiver_queue_size":
			num(&cfg.ReceiverQueueSize)
		case "nack_delay":
			dur(&cfg.NackDelay)
		case "max_deliveries":
			var n uint64
			if n, err = strconv.ParseUint(v, 10, 32); err != nil {
				err = bad(k, v, "not a whole number")
			}
			cfg.MaxDeliveries = uint32(n)
		case "dead_letter_topic":
			cfg.DeadLetterTopic = v
		default:
			return cfg, fmt.Errorf("%w: pulsar: unknown URL parameter %q (known: %s)", courier.ErrInvalidConfig, k, urlParams)
		}
		if err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}
