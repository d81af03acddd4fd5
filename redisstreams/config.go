package redisstreams

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/urlparams"
	"github.com/redis/go-redis/v9"
)

// Defaults of Config, used where a field is left zero.
const (
	// DefaultMaxMessageBytes bounds courier.Message.Size. Redis itself accepts bulk strings of
	// up to 512 MiB (proto-max-bulk-len), but a stream entry that large stalls the server and
	// every consumer that reads it; 16 MiB matches the other courier brokers.
	DefaultMaxMessageBytes = 16 << 20
	// DefaultReadCount is how many entries one XREADGROUP asks for, per stream.
	DefaultReadCount = 256
	// DefaultBlock is the longest one XREADGROUP waits for new entries. It bounds how long
	// Close and the end of Consume's context wait for the read in progress.
	DefaultBlock = 500 * time.Millisecond
	// DefaultClaimIdle is how long an entry must have been idle in another consumer's
	// pending list before a live consumer of the group takes it over with XAUTOCLAIM.
	DefaultClaimIdle = 30 * time.Second
	// DefaultClaimInterval is how often a consumer looks for entries to take over.
	DefaultClaimInterval = 2 * time.Second
	// DefaultSendRetryTimeout bounds how long Send keeps retrying while Redis is unreachable
	// when the caller's context has no earlier deadline.
	DefaultSendRetryTimeout = 10 * time.Second
	// DefaultConnectTimeout bounds how long New retries until Redis answers.
	DefaultConnectTimeout = 10 * time.Second
)

// Config configures a Broker. New needs URL; NewWithClient ignores it. The zero values of the
// other fields select the defaults.
type Config struct {
	// URL is the redis:// or rediss:// URL New connects to: address, user, password, database
	// number, TLS (rediss), and go-redis's connection parameters (pool_size, dial_timeout,
	// read_timeout, client_name, protocol, skip_verify...) in its query. ParseURL takes
	// courier's own parameters out of a URL into the fields below and leaves the rest here.
	URL string

	// Prefix is put before every topic to make its stream key ("orders" with Prefix "app:" is
	// the stream "app:orders"). Delivered messages carry the topic without it.
	Prefix string
	// MaxMessageBytes is the largest courier.Message.Size that Send accepts; 0 means
	// DefaultMaxMessageBytes. Larger messages fail with courier.ErrMessageTooLarge.
	MaxMessageBytes int
	// TrimMaxLen, when > 0, trims each stream on every XADD to about this many entries
	// (MAXLEN ~). TrimMaxAge, when > 0, trims entries older than it (MINID ~). At most one of
	// them may be set. Trimming deletes entries whether or not every group has read or acknowledged
	// them: a group that lags by more than the bound LOSES those messages (a pending entry that was
	// trimmed is dropped from the pending list when it is claimed). Leave both zero to keep every
	// entry until the stream is trimmed by other means.
	TrimMaxLen int64
	TrimMaxAge time.Duration
	// SendRetryTimeout bounds how long Send and SendBatch retry while Redis is unreachable or
	// loading its data, when the caller's context has no earlier deadline; 0 means
	// DefaultSendRetryTimeout. A retried XADD may have reached Redis the first time: a
	// message can then be stored twice (at-least-once), with the same ID.
	SendRetryTimeout time.Duration
	// ConnectTimeout bounds how long New retries (logging each failure) until Redis
	// answers, whatever the deadline of New's context; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// ReadCount is the COUNT of each XREADGROUP (per stream); 0 means DefaultReadCount.
	ReadCount int
	// Block is the BLOCK of each XREADGROUP; 0 means DefaultBlock. Close and the end of
	// Consume's context wait for at most about this long for the read in progress.
	Block time.Duration
	// ClaimIdle is the idle time after which an entry pending with another consumer is
	// taken over; 0 means DefaultClaimIdle. A live consumer keeps the entries it is working on
	// (handling or waiting to retry) from going idle by re-claiming them every ClaimIdle/3, so a
	// long handler is not taken over while it runs.
	ClaimIdle time.Duration
	// ClaimInterval is how often a consumer runs XAUTOCLAIM; 0 means DefaultClaimInterval.
	ClaimInterval time.Duration
	// ValueField is the entry field that holds a message's Value, in the entries Send writes
	// and in those it reads, whatever wrote them; default "v". Entries of other layouts (an
	// XADD of another client) are delivered with this field as the Value (nil when absent),
	// every other field as a header of the same name, and an ID and Timestamp derived from
	// the entry ID. It may not be one of courier's own fields: id, ts, key, or h:<name>.
	ValueField string
	// ConsumerName names this process's consumers in their groups; each consumer adds a
	// unique suffix. Empty means the host name and process ID.
	ConsumerName string

	// Logger receives the adapter's logs (never payloads); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	var problems []string
	if c.URL != "" {
		if _, err := c.options(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	neg := func(name string, v int64) {
		if v < 0 {
			problems = append(problems, fmt.Sprintf("negative %s %d", name, v))
		}
	}
	neg("MaxMessageBytes", int64(c.MaxMessageBytes))
	neg("TrimMaxLen", c.TrimMaxLen)
	neg("TrimMaxAge", int64(c.TrimMaxAge))
	neg("SendRetryTimeout", int64(c.SendRetryTimeout))
	neg("ConnectTimeout", int64(c.ConnectTimeout))
	neg("ReadCount", int64(c.ReadCount))
	neg("Block", int64(c.Block))
	neg("ClaimIdle", int64(c.ClaimIdle))
	neg("ClaimInterval", int64(c.ClaimInterval))
	if c.TrimMaxLen > 0 && c.TrimMaxAge > 0 {
		problems = append(problems, "TrimMaxLen and TrimMaxAge are both set; XADD trims by one of them")
	}
	if c.Block > 0 && c.Block < time.Millisecond {
		problems = append(problems, fmt.Sprintf("Block %v is below Redis's 1ms resolution", c.Block))
	}
	if c.ClaimIdle > 0 && c.ClaimIdle < 3*time.Millisecond {
		problems = append(problems, fmt.Sprintf("ClaimIdle %v is too short to keep live entries from being claimed", c.ClaimIdle))
	}
	switch v := c.ValueField; {
	case v == fieldID || v == fieldTimestamp || v == fieldKey || strings.HasPrefix(v, headerPrefix):
		problems = append(problems, fmt.Sprintf("ValueField %q is one of courier's own fields (id, ts, key, h:<name>)", v))
	}
	if len(problems) > 0 {
		return fmt.Errorf("redis: config: %w: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

func (c Config) withDefaults() Config {
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, DefaultMaxMessageBytes)
	c.SendRetryTimeout = cmp.Or(c.SendRetryTimeout, DefaultSendRetryTimeout)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, DefaultConnectTimeout)
	c.ReadCount = cmp.Or(c.ReadCount, DefaultReadCount)
	c.Block = cmp.Or(c.Block, DefaultBlock)
	c.ClaimIdle = cmp.Or(c.ClaimIdle, DefaultClaimIdle)
	c.ClaimInterval = cmp.Or(c.ClaimInterval, DefaultClaimInterval)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.ValueField = cmp.Or(c.ValueField, fieldValue)
	return c
}

// layout is how entries are written and read under c (with its defaults).
func (c Config) layout() layout { return layout{valueField: c.ValueField} }

// URL query parameters that set Config fields. Every other parameter goes to go-redis's
// redis.ParseURL, which knows the connection settings (pool_size, dial_timeout, read_timeout,
// client_name, protocol, skip_verify...) and rejects what it does not know.
var configParams = urlparams.Params[Config]{
	"prefix":             urlparams.String(func(c *Config) *string { return &c.Prefix }),
	"consumer_name":      urlparams.String(func(c *Config) *string { return &c.ConsumerName }),
	"value_field":        urlparams.String(func(c *Config) *string { return &c.ValueField }),
	"max_message_bytes":  urlparams.Int(func(c *Config) *int { return &c.MaxMessageBytes }),
	"trim_max_len":       urlparams.Int(func(c *Config) *int64 { return &c.TrimMaxLen }),
	"read_count":         urlparams.Int(func(c *Config) *int { return &c.ReadCount }),
	"trim_max_age":       urlparams.Duration(func(c *Config) *time.Duration { return &c.TrimMaxAge }),
	"send_retry_timeout": urlparams.Duration(func(c *Config) *time.Duration { return &c.SendRetryTimeout }),
	"connect_timeout":    urlparams.Duration(func(c *Config) *time.Duration { return &c.ConnectTimeout }),
	"block":              urlparams.Duration(func(c *Config) *time.Duration { return &c.Block }),
	"claim_idle":         urlparams.Duration(func(c *Config) *time.Duration { return &c.ClaimIdle }),
	"claim_interval":     urlparams.Duration(func(c *Config) *time.Duration { return &c.ClaimInterval }),
}

// goRedisParams are the URL parameters go-redis's redis.ParseURL knows (v9.23).
var goRedisParams = []string{
	"db", "protocol", "client_name", "max_retries", "min_retry_backoff", "max_retry_backoff",
	"dial_timeout", "read_timeout", "write_timeout", "pool_fifo", "pool_size", "pool_timeout",
	"min_idle_conns", "max_idle_conns", "max_active_conns", "max_concurrent_dials",
	"pipeline_pool_size", "pipeline_read_buffer_size", "pipeline_write_buffer_size",
	"conn_max_idle_time", "idle_timeout", "conn_max_lifetime", "max_conn_age",
	"conn_max_lifetime_jitter", "skip_verify",
}

// ParseURL reads a Config from a redis:// or rediss:// URL. The parameters prefix,
// consumer_name, value_field, max_message_bytes, trim_max_len, trim_max_age,
// send_retry_timeout, connect_timeout, read_count, block, claim_idle and claim_interval set
// the Config's fields; the URL without them becomes Config.URL, whose address, credentials,
// database number, TLS (rediss) and remaining parameters go-redis reads (redis.ParseURL:
// pool_size, dial_timeout, read_timeout, client_name, protocol, skip_verify...). An unknown
// parameter is an error that lists the known ones, courier's and go-redis's.
func ParseURL(u *url.URL) (Config, error) {
	var cfg Config
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return cfg, fmt.Errorf("redis: parse URL: %w: scheme is %q, want redis or rediss", courier.ErrInvalidConfig, u.Scheme)
	}
	q := u.Query()
	if err := configParams.Take("redis", q, &cfg); err != nil { // the rest is go-redis's
		return cfg, err
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(goRedisParams, k) {
			return cfg, urlparams.Unknown("redis", k, append(configParams.Names(), goRedisParams...))
		}
	}
	rest := *u
	rest.RawQuery = q.Encode()
	cfg.URL = rest.String()
	return cfg, cfg.Validate()
}

// options returns go-redis's options for c.URL. Its error names the URL without its password.
func (c Config) options() (*redis.Options, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("URL: %w", redactErr(err))
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("URL scheme is %q, want redis or rediss", u.Scheme)
	}
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", u.Redacted(), err)
	}
	return opts, nil
}

// redactErr drops the URL, and with it any password, from a url.Parse error.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("malformed URL: %w", ue.Err)
	}
	return err
}
