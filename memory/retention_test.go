package memory_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

// syncBuffer is a log sink that tests can read while the broker writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRetentionDropsOldestLoudly(t *testing.T) {
	var logs syncBuffer
	b, err := memory.New(context.Background(), memory.Config{MaxMessagesPerTopic: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "slow", Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := b.NewProducer(ctx)
	for i := range 10 {
		if err := p.Send(ctx, courier.Message{ID: fmt.Sprint(i), Topic: "t", Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	st, ok := b.TopicStats("t")
	if !ok {
		t.Fatal("no stats for topic t")
	}
	if st.Messages != 3 || st.Oldest != 7 || st.Next != 10 || st.Groups["slow"].Dropped != 7 || st.Groups["slow"].Next != 7 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "retention dropped messages the group had not read") {
		t.Errorf("no warning logged for the loss: %q", logs.String())
	}
	// The group gets what is left: 7, 8, 9.
	got := make(chan string, 10)
	go func() {
		_ = c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			got <- m.ID
			return nil
		}))
	}()
	var ids []string
	for range 3 {
		select {
		case id := <-got:
			ids = append(ids, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %v, want 7 8 9", ids)
		}
	}
	c.Close()
	if fmt.Sprint(ids) != "[7 8 9]" {
		t.Errorf("delivered %v after retention, want [7 8 9]", ids)
	}
}

func TestRetentionAcrossSegments(t *testing.T) {
	b, _ := memory.New(context.Background(), memory.Config{MaxMessagesPerTopic: 5000})
	defer b.Close()
	ctx := context.Background()
	p, _ := b.NewProducer(ctx)
	for i := range 20000 {
		if err := p.Send(ctx, courier.Message{Topic: "t", Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := b.TopicStats("t")
	if st.Messages != 5000 || st.Oldest != 15000 {
		t.Fatalf("stats %+v", st)
	}
	c, _ := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"t"}})
	first := make(chan string, 1)
	go func() {
		_ = c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			select {
			case first <- string(m.Value):
			default:
			}
			return nil
		}))
	}()
	select {
	case v := <-first:
		if v != "15000" {
			t.Errorf("new group's first message is %s, want the oldest kept, 15000", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered")
	}
	c.Close()
}

func TestSendCopiesValueAndHeaders(t *testing.T) {
	b, _ := memory.New(context.Background(), memory.Config{})
	defer b.Close()
	ctx := context.Background()
	c, _ := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"t"}})
	p, _ := b.NewProducer(ctx)
	v := []byte("original")
	h := map[string]string{"k": "original"}
	if err := p.Send(ctx, courier.Message{Topic: "t", Value: v, Headers: h}); err != nil {
		t.Fatal(err)
	}
	copy(v, "mutated!")
	h["k"] = "mutated"
	got := make(chan courier.Message, 1)
	go func() {
		_ = c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			got <- m
			return nil
		}))
	}()
	m := <-got
	c.Close()
	if string(m.Value) != "original" || m.Headers["k"] != "original" {
		t.Fatalf("delivered %q %v: the caller's later changes leaked into the broker", m.Value, m.Headers)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := memory.New(context.Background(), memory.Config{MaxMessageBytes: -1}); err == nil {
		t.Error("negative MaxMessageBytes accepted")
	}
	if _, err := memory.New(context.Background(), memory.Config{MaxMessagesPerTopic: -1}); err == nil {
		t.Error("negative MaxMessagesPerTopic accepted")
	}
	b, err := courier.Open(context.Background(), "memory://?max_message_bytes=10&max_messages_per_topic=2")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, _ := b.NewProducer(context.Background())
	if err := p.Send(context.Background(), courier.Message{Topic: "t", Value: make([]byte, 20)}); err == nil ||
		!strings.Contains(err.Error(), "limit 10") {
		t.Errorf("max_message_bytes from the URL not applied: %v", err)
	}
}

func TestConsumeTwiceIsAnError(t *testing.T) {
	b, _ := memory.New(context.Background(), memory.Config{})
	defer b.Close()
	ctx := context.Background()
	c, _ := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"t"}})
	p, _ := b.NewProducer(ctx)
	started := make(chan struct{})
	_ = p.Send(ctx, courier.Message{Topic: "t"})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		done <- c.Consume(ctx, courier.HandlerFunc(func(context.Context, courier.Message) error {
			once.Do(func() { close(started) })
			return nil
		}))
	}()
	<-started
	if err := c.Consume(ctx, courier.HandlerFunc(func(context.Context, courier.Message) error { return nil })); err == nil {
		t.Error("a second concurrent Consume did not fail")
	}
	c.Close()
	if err := <-done; err != nil {
		t.Errorf("first Consume: %v", err)
	}
}
