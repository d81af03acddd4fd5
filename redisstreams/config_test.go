package redisstreams

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		addr    string
		db      int
		user    string
		pass    string
		tls     bool
		cfg     Config
		wantErr string
	}{
		{url: "redis://127.0.0.1:6379/0", addr: "127.0.0.1:6379"},
		{url: "redis://localhost", addr: "localhost:6379"},
		{url: "rediss://alice:s3cret@cache.example:6380/2", addr: "cache.example:6380", db: 2, user: "alice", pass: "s3cret", tls: true},
		{url: "redis://:pw@h:1/3?prefix=app:&consumer_name=web-1&max_message_bytes=1024&trim_max_len=1000" +
			"&send_retry_timeout=2s&read_count=10&block=50ms&claim_idle=1m&claim_interval=5s&pool_size=7",
			addr: "h:1", db: 3, pass: "pw",
			cfg: Config{Prefix: "app:", ConsumerName: "web-1", MaxMessageBytes: 1024, TrimMaxLen: 1000,
				SendRetryTimeout: 2 * time.Second, ReadCount: 10, Block: 50 * time.Millisecond,
				ClaimIdle: time.Minute, ClaimInterval: 5 * time.Second}},
		{url: "redis://h/0?trim_max_age=24h", addr: "h:6379", cfg: Config{TrimMaxAge: 24 * time.Hour}},
		{url: "redis://h/0?nope=1", wantErr: `unknown URL parameter "nope" (known: block, claim_idle`},
		{url: "redis://h/0?block=soon", wantErr: "block"},
		{url: "redis://h/0?read_count=many", wantErr: "read_count"},
		{url: "redis://h/0?trim_max_len=5&trim_max_age=1h", wantErr: "both set"},
		{url: "redis://h/0?claim_idle=-1s", wantErr: "negative ClaimIdle"},
		{url: "redis://h/x", wantErr: "invalid database"},
		{url: "amqp://h/", wantErr: "want redis or rediss"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			cfg, err := ParseURL(mustURL(t, tt.url))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, courier.ErrInvalidConfig) {
					t.Fatalf("error %v, want one wrapping ErrInvalidConfig and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opts, err := cfg.options()
			if err != nil {
				t.Fatalf("options of %q: %v", cfg.URL, err)
			}
			if opts.Addr != tt.addr || opts.DB != tt.db || opts.Username != tt.user || opts.Password != tt.pass || (opts.TLSConfig != nil) != tt.tls {
				t.Errorf("options addr %q db %d user %q pass %q tls %v; want %q %d %q %q %v",
					opts.Addr, opts.DB, opts.Username, opts.Password, opts.TLSConfig != nil, tt.addr, tt.db, tt.user, tt.pass, tt.tls)
			}
			if strings.Contains(cfg.URL, "prefix=") {
				t.Errorf("Config.URL %q keeps courier's parameters", cfg.URL)
			}
			cfg.URL = ""
			if cfg != tt.cfg {
				t.Errorf("config %+v, want %+v", cfg, tt.cfg)
			}
		})
	}
	cfg, err := ParseURL(mustURL(t, "redis://h/0?pool_size=7"))
	if err != nil {
		t.Fatal(err)
	}
	if opts, err := cfg.options(); err != nil || opts.PoolSize != 7 {
		t.Errorf("pool_size not passed to go-redis: %v, %v", opts, err)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestParseURLHidesPassword(t *testing.T) {
	_, err := ParseURL(mustURL(t, "redis://u:topsecret@h/0?bogus=1"))
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error %v: want an error without the password", err)
	}
	for _, raw := range []string{"redis://u:topsecret@h:port/", "redis://u:topsecret@h/0?bogus=1", "amqp://u:topsecret@h/"} {
		err := Config{URL: raw}.Validate()
		if err == nil || !errors.Is(err, courier.ErrInvalidConfig) || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("Validate of URL %q = %v: want ErrInvalidConfig without the password", raw, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	bad := Config{MaxMessageBytes: -1, ReadCount: -2, Block: time.Microsecond, ClaimIdle: time.Millisecond}
	err := bad.Validate()
	if !errors.Is(err, courier.ErrInvalidConfig) {
		t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"negative MaxMessageBytes -1", "negative ReadCount -2", "Block 1µs", "ClaimIdle 1ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %q, does not mention %q", err, want)
		}
	}
}
