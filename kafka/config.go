package kafka

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/courier-go/courier"
)

// Defaults of Config's zero fields.
const (
	DefaultClientID          = "courier"
	DefaultCompression       = "snappy"
	DefaultMaxMessageBytes   = 1 << 20 // sarama's and (about) Kafka's own default
	DefaultRebalance         = "range"
	DefaultSessionTimeout    = 10 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultCommitInterval    = time.Second
	DefaultDialTimeout       = 10 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultFetchMaxWait      = 500 * time.Millisecond
)

// Config configures a Broker. Only Brokers is required; the zero values of the other fields
// select the documented defaults.
type Config struct {
	// Brokers are the bootstrap brokers, host:port. Required.
	Brokers []string
	// ClientID names this client in the brokers' logs and quotas; default DefaultClientID.
	ClientID string
	// Version is the oldest Kafka version the cluster runs ("2.8.0", "3.6.0"...), which
	// decides the protocol versions used; default sarama's DefaultVersion (2.8.0).
	Version string
	// TLS, when set, encrypts connections with this configuration.
	TLS *tls.Config
	// SASL, when its Mechanism is set, authenticates connections.
	SASL SASL

	// Compression of produced batches: "none", "gzip", "snappy", "lz4" or "zstd";
	// default DefaultCompression.
	Compression string
	// MaxMessageBytes is the largest record the producer sends (value, key and headers with
	// their framing); default DefaultMaxMessageBytes. Keep it at or below the topic's
	// max.message.bytes. Larger messages fail with courier.ErrMessageTooLarge.
	MaxMessageBytes int
	// Linger is how long the producer waits to fill a batch before sending it; 0 (the
	// default) sends as soon as the connection is free, which still batches the records of
	// concurrent Sends that arrive while a request is in flight.
	Linger time.Duration

	// Rebalance is the consumer group's partition assignment strategy: "range",
	// "roundrobin", "sticky" or "cooperative-sticky"; default DefaultRebalance.
	Rebalance string
	// SessionTimeout is how long the group coordinator waits for a heartbeat before it
	// declares a consumer dead and gives its partitions to others; default
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// HeartbeatInterval is how often consumers heartbeat, which also bounds how quickly they
	// notice a rebalance; default DefaultHeartbeatInterval. Must be below SessionTimeout.
	HeartbeatInterval time.Duration
	// CommitInterval is how often consumers commit the offsets of handled messages (they
	// also commit when a partition is revoked and on Close); default DefaultCommitInterval.
	CommitInterval time.Duration
	// FetchMaxWait is how long a consumer's fetch waits at the broker for records to arrive
	// before it returns empty; Close also waits for the fetch in flight. Default
	// DefaultFetchMaxWait, as the Java client's fetch.max.wait.ms.
	FetchMaxWait time.Duration
	// DialTimeout bounds connecting to a broker; default DefaultDialTimeout.
	DialTimeout time.Duration
	// ConnectTimeout bounds New: how long it retries until a broker answers, whatever the
	// deadline of its context (a port that is not Kafka would otherwise keep sarama retrying
	// for minutes); default DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// CreateTopics makes NewConsumer and the first Send to a topic create topics that do
	// not exist yet, with TopicPartitions partitions and TopicReplication replicas.
	CreateTopics bool
	// TopicPartitions is the partition count of created topics; 0 means the cluster's
	// default (num.partitions).
	TopicPartitions int32
	// TopicReplication is the replication factor of created topics; 0 means the cluster's
	// default (default.replication.factor).
	TopicReplication int16

	// Logger receives the adapter's logs (never payloads or credentials); nil means
	// slog.Default(). Sarama's own logs go to the process-wide sarama.Logger, which this
	// package points at slog.Default() (Debug level) unless the program sets it.
	Logger *slog.Logger
}

// SASL configures SASL authentication.
type SASL struct {
	// Mechanism is "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"; empty disables SASL.
	Mechanism string
	User      string
	Password  string
}

var (
	compressions = map[string]sarama.CompressionCodec{
		"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
		"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
	}
	rebalances = map[string]func() sarama.BalanceStrategy{
		"range": sarama.NewBalanceStrategyRange, "roundrobin": sarama.NewBalanceStrategyRoundRobin,
		"sticky": sarama.NewBalanceStrategySticky, "cooperative-sticky": sarama.NewBalanceStrategyCooperativeSticky,
	}
)

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig. Empty Brokers are
// not wrong here: only New needs them.
func (c Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for i, b := range c.Brokers {
		if b == "" || !strings.Contains(b, ":") {
			add("Brokers[%d] %q is not host:port", i, b)
		}
	}
	if c.Version != "" {
		if _, err := sarama.ParseKafkaVersion(c.Version); err != nil {
			add("Version %q: %v", c.Version, err)
		}
	}
	if _, ok := compressions[strings.ToLower(c.Compression)]; c.Compression != "" && !ok {
		add("unknown Compression %q (known: none, gzip, snappy, lz4, zstd)", c.Compression)
	}
	if _, ok := rebalances[strings.ToLower(c.Rebalance)]; c.Rebalance != "" && !ok {
		add("unknown Rebalance %q (known: range, roundrobin, sticky, cooperative-sticky)", c.Rebalance)
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		if c.SASL.User == "" {
			add("SASL %s without a User", c.SASL.Mechanism)
		}
	default:
		add("unknown SASL.Mechanism %q (known: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", c.SASL.Mechanism)
	}
	for name, v := range map[string]int64{
		"MaxMessageBytes": int64(c.MaxMessageBytes), "Linger": int64(c.Linger),
		"SessionTimeout": int64(c.SessionTimeout), "HeartbeatInterval": int64(c.HeartbeatInterval),
		"CommitInterval": int64(c.CommitInterval), "DialTimeout": int64(c.DialTimeout), "ConnectTimeout": int64(c.ConnectTimeout), "FetchMaxWait": int64(c.FetchMaxWait),
		"TopicPartitions": int64(c.TopicPartitions), "TopicReplication": int64(c.TopicReplication),
	} {
		if v < 0 {
			add("negative %s", name)
		}
	}
	if d := c.withDefaults(); d.HeartbeatInterval >= d.SessionTimeout {
		add("HeartbeatInterval %v is not below SessionTimeout %v", d.HeartbeatInterval, d.SessionTimeout)
	}
	if len(problems) > 0 {
		return fmt.Errorf("kafka: config: %w: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Rebalance == "" {
		c.Rebalance = DefaultRebalance
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = min(DefaultHeartbeatInterval, c.SessionTimeout/3)
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// sarama returns the sarama configuration of c (which has its defaults) for a client that
// produces and administers; consumers adjust it with consumerSarama.
func (c Config) sarama() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.ClientID = c.ClientID
	if c.Version != "" {
		v, err := sarama.ParseKafkaVersion(c.Version)
		if err != nil {
			return nil, err
		}
		sc.Version = v
	}
	sc.Net.DialTimeout = min(c.DialTimeout, c.ConnectTimeout)
	if c.TLS != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = c.TLS
	}
	if m := strings.ToUpper(c.SASL.Mechanism); m != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Mechanism = sarama.SASLMechanism(m)
		sc.Net.SASL.User = c.SASL.User
		sc.Net.SASL.Password = c.SASL.Password
		switch m {
		case sarama.SASLTypeSCRAMSHA256:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAM(sha256Hash) }
		case sarama.SASLTypeSCRAMSHA512:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAM(sha512Hash) }
		}
	}

	// Idempotence needs acks=all and one request in flight per broker; it is what keeps
	// retries from duplicating or reordering records.
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = 10
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Compression = compressions[strings.ToLower(c.Compression)]
	sc.Producer.MaxMessageBytes = c.MaxMessageBytes
	sc.Producer.Partitioner = sarama.NewMurmur2Partitioner
	sc.Producer.Flush.Frequency = c.Linger
	// Topic creation is explicit (CreateTopics), never a side effect of a metadata request.
	sc.Metadata.AllowAutoTopicCreation = false
	return sc, nil
}

// consumerSarama returns the sarama configuration of a consumer group member: a copy of
// base, the configuration of the broker's shared client, adjusted.
func (c Config) consumerSarama(base *sarama.Config, cc courier.ConsumerConfig) *sarama.Config {
	copied := *base
	sc := &copied
	// The member's client only consumes: the producer's one request in flight per broker
	// would queue heartbeats and commits behind long-polling fetches.
	sc.Producer.Idempotent = false
	sc.Net.MaxOpenRequests = sarama.NewConfig().Net.MaxOpenRequests
	sc.Consumer.Return.Errors = true
	sc.Consumer.MaxWaitTime = c.FetchMaxWait
	// All claims feed one engine, whose bounded queue is the backpressure: when it is full
	// every claim waits alike, and sarama's default 100ms would make each of them give up its
	// fetch subscription and subscribe again, over and over, for nothing.
	sc.Consumer.MaxProcessingTime = time.Second
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	if cc.StartFrom == courier.StartNewest {
		// NewConsumer also commits the group's current end offsets, so this only matters
		// for partitions added after that.
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = c.CommitInterval
	sc.Consumer.Group.Session.Timeout = c.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = c.HeartbeatInterval
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{rebalances[strings.ToLower(c.Rebalance)]()}
	return sc
}
