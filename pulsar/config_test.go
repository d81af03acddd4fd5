package pulsar_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/pulsar"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		url     string
		want    pulsar.Config
		wantErr string
	}{
		{url: "pulsar://localhost:6650", want: pulsar.Config{URL: "pulsar://localhost:6650"}},
		{
			url: "pulsar+ssl://h:6651?token=abc&tls_trust_certs_file=/ca.pem&subscription_type=shared&compression=lz4" +
				"&batching=false&send_timeout=2s&max_message_bytes=1024&receiver_queue_size=10&nack_delay=50ms&max_deliveries=3&dead_letter_topic=dlq",
			want: pulsar.Config{
				URL: "pulsar+ssl://h:6651", Token: "abc", TLSTrustCertsFile: "/ca.pem", SubscriptionType: pulsar.Shared,
				Compression: pulsar.CompressLZ4, DisableBatching: true, SendTimeout: 2 * time.Second, MaxMessageBytes: 1024,
				ReceiverQueueSize: 10, NackDelay: 50 * time.Millisecond, MaxDeliveries: 3, DeadLetterTopic: "dlq",
			},
		},
		{url: "pulsar://h:6650?subscription_type=failover", want: pulsar.Config{URL: "pulsar://h:6650", SubscriptionType: pulsar.Failover}},
		{url: "pulsar://h:6650?colour=blue", wantErr: `unknown URL parameter "colour"`},
		{url: "pulsar://h:6650?send_timeout=soon", wantErr: "send_timeout"},
		{url: "pulsar://h:6650?subscription_type=round_robin", wantErr: "subscription_type"},
		{url: "pulsar://h:6650?compression=brotli", wantErr: "compression"},
		{url: "pulsar://h:6650?max_message_bytes=-1", wantErr: "negative MaxMessageBytes"},
		{url: "pulsar://h:6650?dead_letter_topic=x", wantErr: "DeadLetterTopic without MaxDeliveries"},
		{url: "kafka://h:9092", wantErr: "scheme"},
		{url: "pulsar://", wantErr: "no host"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pulsar.ParseURL(u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, courier.ErrInvalidConfig) {
					t.Fatalf("ParseURL = %v, want an ErrInvalidConfig naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if got.URL != tc.want.URL || got.Token != tc.want.Token || got.SubscriptionType != tc.want.SubscriptionType ||
				got.Compression != tc.want.Compression || got.DisableBatching != tc.want.DisableBatching ||
				got.SendTimeout != tc.want.SendTimeout || got.MaxMessageBytes != tc.want.MaxMessageBytes ||
				got.ReceiverQueueSize != tc.want.ReceiverQueueSize || got.NackDelay != tc.want.NackDelay ||
				got.MaxDeliveries != tc.want.MaxDeliveries || got.DeadLetterTopic != tc.want.DeadLetterTopic ||
				got.TLSTrustCertsFile != tc.want.TLSTrustCertsFile {
				t.Fatalf("ParseURL =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := map[string]pulsar.Config{
		"URL scheme":                 {URL: "http://h:1"},
		"TLSCertFile and TLSKeyFile": {URL: "pulsar://h:1", TLSCertFile: "c.pem"},
		"more than one of Token":     {URL: "pulsar://h:1", Token: "t", OAuth2: map[string]string{"type": "client_credentials"}},
		"negative SendTimeout":       {URL: "pulsar://h:1", SendTimeout: -time.Second},
		"unknown SubscriptionType":   {URL: "pulsar://h:1", SubscriptionType: 9},
	}
	for want, cfg := range cases {
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, courier.ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want an ErrInvalidConfig naming %q", cfg, err, want)
		}
		if _, err := pulsar.New(t.Context(), cfg); err == nil {
			t.Errorf("New accepted a config with %s", want)
		}
	}
	if _, err := pulsar.New(t.Context(), pulsar.Config{}); err == nil || !strings.Contains(err.Error(), "Config.URL is empty") || !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("New without a URL = %v, want an ErrInvalidConfig saying the URL is empty", err)
	}
	if err := (pulsar.Config{URL: "pulsar://h:6650"}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}
