package rabbitmq

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

func TestParseURL(t *testing.T) {
	cfg, err := ParseURL(mustURL(t, "amqp://u:p%40ss@host:5672/my%2Fvhost?exchange_type=direct&binding_key=orders&mandatory=false"+
		"&prefetch=50&heartbeat=5s&connect_timeout=3&queue_type=classic&single_active_consumer=true"+
		"&dead_letter_exchange=dlx&max_attempts=4&publisher_channels=2&max_message_bytes=1024&connection_name=svc"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		URL: "amqp://u:p%40ss@host:5672/my%2Fvhost", ExchangeType: "direct", AllowUnroutable: true, Prefetch: 50,
		Heartbeat: 5 * time.Second, ConnectTimeout: 3 * time.Second, PublisherChannels: 2, MaxMessageBytes: 1024,
		ConnectionName: "svc",
		Queue:          QueueConfig{Type: Classic, BindingKey: "orders", SingleActiveConsumer: true, DeadLetterExchange: "dlx", MaxAttempts: 4},
	}
	if cfg.URL != want.URL || cfg.ExchangeType != want.ExchangeType || cfg.AllowUnroutable != want.AllowUnroutable ||
		cfg.Prefetch != want.Prefetch || cfg.Heartbeat != want.Heartbeat || cfg.ConnectTimeout != want.ConnectTimeout ||
		cfg.PublisherChannels != want.PublisherChannels || cfg.MaxMessageBytes != want.MaxMessageBytes ||
		cfg.ConnectionName != want.ConnectionName || cfg.Queue != want.Queue {
		t.Errorf("ParseURL =\n%+v, want\n%+v", cfg, want)
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"amqp://h/?prefetch=1&prefech=2", `unknown URL parameter "prefech"`},
		{"amqp://h/?prefetch=many", "prefetch"},
		{"amqp://h/?heartbeat=soon", "heartbeat"},
		{"amqp://h/?mandatory=maybe", "mandatory"},
		{"amqp://h/?exchange_type=fan", `unknown ExchangeType "fan"`},
		{"amqp://h/?queue_type=stream", `unknown Queue.Type "stream"`},
		{"amqp://h/?max_attempts=3", "needs a Queue.DeadLetterExchange"},
		{"amqp://h/?queue_type=classic&delivery_limit=5", "DeliveryLimit needs a quorum queue"},
		{"amqp://h/?exchange_type=direct", "direct exchange needs a Queue.BindingKey"},
		{"amqp://h/?prefetch=70000", "Prefetch 70000 out of range"},
		{"amqp://h/?server_name=x", "TLS parameters need an amqps:// URL"},
		{"amqps://h/?cacertfile=/nonexistent.pem", "cacertfile"},
		{"amqp:///vhost", "has no host"},
		{"redis://h/", `scheme is "redis"`},
	} {
		_, err := ParseURL(mustURL(t, tc.url))
		if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%s) = %v, want ErrInvalidConfig saying %q", tc.url, err, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{URL: "amqp://localhost"}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
	err := (Config{Heartbeat: -1, PublisherChannels: -2, ReconnectBackoff: courier.Backoff{Initial: time.Second}}).Validate()
	for _, want := range []string{"empty URL", "negative Heartbeat", "negative PublisherChannels", "ReconnectBackoff"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to say %q", err, want)
		}
	}
}

// TestOpenUnreachable checks that an unreachable broker is a prompt error naming it, without
// the password.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := courier.Open(ctx, "amqp://user:secret@127.0.0.1:1/?connect_timeout=2s")
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q should name the broker and hide the password", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

// TestOpenRegistered checks that amqp:// reaches this adapter through courier.Open.
func TestOpenRegistered(t *testing.T) {
	u := amqpURL(t)
	b, err := courier.Open(context.Background(), u+"?queue_type=quorum")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*Broker); !ok {
		t.Errorf("Open returned %T", b)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
	_, err = courier.Open(context.Background(), u+"?nope=1")
	if !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("Open with an unknown parameter: %v", err)
	}
}

func TestConsumerConfigErrors(t *testing.T) {
	b, _ := newTestBroker(t, Config{})
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  courier.ConsumerConfig
		q    QueueConfig
		want string
	}{
		{courier.ConsumerConfig{Group: "g", Topics: []string{"amq.topic"}}, QueueConfig{}, "reserved"},
		{courier.ConsumerConfig{Group: strings.Repeat("g", 256), Topics: []string{"t"}}, QueueConfig{}, "group (queue name) is 256 bytes"},
		{courier.ConsumerConfig{Group: "g", Topics: []string{"t"}}, QueueConfig{MaxAttempts: 2}, "needs a Queue.DeadLetterExchange"},
	} {
		_, err := b.Consumer(ctx, tc.cfg, tc.q)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Consumer(%v, %+v) = %v, want an error saying %q", tc.cfg.Topics, tc.q, err, tc.want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
