package kafka_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestParseURL(t *testing.T) {
	u, _ := url.Parse("kafka://alice:s3cret@h1:9092,h2:9093/?compression=zstd&rebalance=sticky&sasl=SCRAM-SHA-512&linger=5ms&create_topics=true&partitions=6&replication=3&max_message_bytes=2000000&client_id=svc")
	cfg, err := kafka.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	want := kafka.Config{
		Brokers: []string{"h1:9092", "h2:9093"}, ClientID: "svc", Compression: "zstd", Rebalance: "sticky",
		SASL:   kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "s3cret"},
		Linger: 5 * time.Millisecond, CreateTopics: true, TopicPartitions: 6, TopicReplication: 3, MaxMessageBytes: 2000000,
	}
	if strings.Join(cfg.Brokers, ",") != strings.Join(want.Brokers, ",") || cfg.SASL != want.SASL || cfg.ClientID != want.ClientID ||
		cfg.Compression != want.Compression || cfg.Rebalance != want.Rebalance || cfg.Linger != want.Linger ||
		cfg.CreateTopics != want.CreateTopics || cfg.TopicPartitions != want.TopicPartitions ||
		cfg.TopicReplication != want.TopicReplication || cfg.MaxMessageBytes != want.MaxMessageBytes {
		t.Errorf("ParseURL = %+v, want %+v", cfg, want)
	}
}

func TestParseURLErrors(t *testing.T) {
	for raw, wantInErr := range map[string]string{
		"kafka://":                              "names no broker",
		"kafka://h:9092/topic":                  "has a path",
		"kafka://h:9092?compresion=zstd":        `unknown URL parameter "compresion"`,
		"kafka://h:9092?compression=brotli":     `unknown Compression "brotli"`,
		"kafka://h:9092?rebalance=fair":         `unknown Rebalance "fair"`,
		"kafka://h:9092?linger=soon":            "linger",
		"kafka://h:9092?sasl=KERBEROS":          "unknown SASL.Mechanism",
		"kafka://h:9092?sasl=PLAIN":             "without a User",
		"kafka://h:9092?partitions=-1":          "negative TopicPartitions",
		"kafka://h:9092?heartbeat_interval=20s": "HeartbeatInterval 20s is not below SessionTimeout 10s",
		"redis://h:9092":                        "want kafka",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = kafka.ParseURL(u)
		if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), wantInErr) {
			t.Errorf("ParseURL(%q) = %v, want ErrInvalidConfig mentioning %q", raw, err, wantInErr)
		}
	}
}

func TestOpenRegistered(t *testing.T) {
	brokers := kfakeBrokers(t)
	b, err := courier.Open(context.Background(), "kafka://"+strings.Join(brokers, ","))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := kafka.New(ctx, kafka.Config{Brokers: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("New on an unreachable broker = %v, want an error naming it", err)
	}
	t.Log(err)
}

func TestUnknownTopic(t *testing.T) {
	b := openBroker(t, testConfig(kfakeBrokers(t), 0))
	t.Cleanup(func() { _ = b.Close() })
	_, err := b.NewConsumer(context.Background(), courier.ConsumerConfig{Group: "g", Topics: []string{"no-such-topic"}})
	if err == nil || !strings.HasPrefix(err.Error(), "kafka: new consumer no-such-topic: ") {
		t.Fatalf("NewConsumer on a missing topic = %v, want an error naming it", err)
	}
}

// TestCreateTopics: with CreateTopics, the first Send and NewConsumer create their topics
// with the configured partitions.
func TestCreateTopics(t *testing.T) {
	brokers := kfakeBrokers(t)
	cfg := testConfig(brokers, 0)
	cfg.CreateTopics, cfg.TopicPartitions = true, 5
	b := openBroker(t, cfg)
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, courier.Message{Topic: "made-by-send", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"made-by-consumer"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	admin := newAdmin(t, brokers)
	md, err := admin.DescribeTopics([]string{"made-by-send", "made-by-consumer"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range md {
		if m.Err != 0 || len(m.Partitions) != 5 {
			t.Errorf("topic %q: err %v, %d partitions, want 5", m.Name, m.Err, len(m.Partitions))
		}
	}
}

// TestSASL authenticates with each mechanism against a cluster that requires it.
func TestSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cluster := newCluster(t, kfake.EnableSASL(), kfake.Superuser(mech, "alice", "s3cret"))
			cfg := testConfig(cluster.ListenAddrs(), 0)
			cfg.SASL = kafka.SASL{Mechanism: mech, User: "alice", Password: "s3cret"}
			b := openBroker(t, cfg)
			ctx := context.Background()
			if err := b.CreateTopic(ctx, "t", 1, 0); err != nil {
				t.Fatal(err)
			}
			p, err := b.NewProducer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Send(ctx, courier.Message{Topic: "t", Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}

			cfg.SASL.Password = "wrong"
			cfg.DialTimeout = 2 * time.Second
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if b, err := kafka.New(ctx, cfg); err == nil {
				_ = b.Close()
				t.Fatal("connected with a wrong password")
			}
		})
	}
}
