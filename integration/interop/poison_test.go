package interop

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/dlq"
)

// poisonCase runs the poison-message check on b: a message another client sent with a
// header Send refuses (a "Courier-..." key) fails every attempt; within MaxAttempts it reaches
// the dead-letter topic (the publish of such a message used to fail, and it came back
// without end), carrying the refused header encoded; the message behind it is handled.
// produce sends the foreign message, with the value "poison", to topic.
func poisonCase(t *testing.T, b courier.Broker, topic, refusedKey string, produce func()) {
	t.Helper()
	const group, maxAttempts = "g", 2
	dlp, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer dlp.Close()
	hook, err := dlq.DeadLetter(dlp, dlq.DeadLetterConfig{Group: group})
	if err != nil {
		t.Fatal(err)
	}
	letters := newConsumer(t, b, "ops", dlq.DefaultTopic(topic, group))
	c, err := b.NewConsumer(context.Background(), courier.ConsumerConfig{Group: group, Topics: []string{topic},
		MaxAttempts: maxAttempts, OnExhausted: hook,
		Backoff: courier.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	attempts := 0
	behind := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(context.Background(), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			if string(m.Value) == "poison" {
				mu.Lock()
				attempts++
				mu.Unlock()
				return errors.New("cannot handle this one")
			}
			close(behind)
			return nil
		}))
	}()
	defer func() {
		_ = c.Close()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	}()
	produce()
	send(t, b, courier.Message{Topic: topic, Value: []byte("behind")})
	select {
	case <-behind:
	case <-time.After(timeout):
		t.Fatal("the message behind the poison one was not handled")
	}
	letter := receiveOne(t, b, letters)
	refused, err := dlq.EncodedHeaders(letter)
	if err != nil || refused[refusedKey] == "" || string(letter.Value) != "poison" {
		t.Errorf("dead letter value %q, encoded headers %q (%v), want %q among them", letter.Value, refused, err, refusedKey)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != maxAttempts {
		t.Errorf("the poison message was handled %d times, want MaxAttempts %d", attempts, maxAttempts)
	}
}

func TestPoisonFromKcat(t *testing.T) {
	kcat := tool(t, "kcat", "kcat")
	addr, b := kafkaCluster(t, "poison", dlq.DefaultTopic("poison", "g"))
	poisonCase(t, b, "poison", "Courier-ID", func() {
		run(t, []byte("poison"), kcat, "-b", addr, "-t", "poison", "-P", "-H", "Courier-ID=theirs")
	})
}

func TestPoisonFromRedisCLI(t *testing.T) {
	b, prefix, cli := redisTarget(t)
	poisonCase(t, b, "poison", "courier-id", func() {
		run(t, nil, cli[0], append(cli[1:], "XADD", prefix+"poison", "*", "courier-id", "theirs", "v", "poison")...)
	})
}

func TestPoisonFromAMQPPublish(t *testing.T) {
	publish := tool(t, "amqp-publish", "amqp-tools")
	topic := randomName("poison-")
	dlTopic := dlq.DefaultTopic(topic, "g")
	b, url := rabbitTarget(t, "g", topic)
	t.Cleanup(func() { deleteRabbit(t, url, "ops", dlTopic) })
	poisonCase(t, b, topic, "Courier-ID", func() {
		run(t, nil, publish, "-u", url, "-e", topic, "-r", "k", "-H", "Courier-ID: theirs", "-b", "poison")
	})
}

func TestPoisonFromPulsarClient(t *testing.T) {
	_, b, client := pulsarTarget(t)
	topic := randomName("poison-")
	poisonCase(t, b, topic, "Courier-ID", func() {
		p, err := client.CreateProducer(pulsarclient.ProducerOptions{Topic: topic, DisableBatching: true})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Send(context.Background(), &pulsarclient.ProducerMessage{Payload: []byte("poison"),
			Properties: map[string]string{"Courier-ID": "theirs"}}); err != nil {
			t.Fatal(err)
		}
	})
}
