package stream_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/stream"
)

type click struct {
	Page string `json:"page"`
	User string `json:"user"`
}

// Count clicks per page per minute of event time, and send each minute's counts on once the
// minute is over.
func Example() {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	prod, err := b.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store, err := stream.NewMemoryStore(0)
	if err != nil {
		log.Fatal(err)
	}

	p := stream.New(stream.Config{Name: "clicks-per-minute"})
	clicks := stream.Filter(stream.From(p, stream.JSON[click]()), func(c click) bool { return c.User != "bot" })
	byPage := stream.SelectKey(clicks, func(r stream.Record[click]) string { return r.Value.Page })
	counts := stream.WindowCount(byPage, stream.Tumbling(time.Minute).WithGrace(5*time.Second), store, "per-page")
	stream.To(counts.Results, prod, "page-counts", stream.JSONEncoder[stream.Windowed[int64]]())
	if err := p.Validate(); err != nil {
		log.Fatal(err)
	}

	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		page, user string
		at         time.Duration
	}{{"/home", "ann", 5 * time.Second}, {"/docs", "bob", 20 * time.Second}, {"/home", "bot", 30 * time.Second},
		{"/home", "cid", 58 * time.Second}, {"/docs", "ann", 70 * time.Second}, {"/home", "bob", 62 * time.Second}} {
		err := prod.Send(ctx, courier.Message{Topic: "clicks", Key: c.user, Timestamp: t0.Add(c.at),
			Value: fmt.Appendf(nil, `{"page":%q,"user":%q}`, c.page, c.user), ID: fmt.Sprint("click-", i)})
		if err != nil {
			log.Fatal(err)
		}
	}

	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "stats", Topics: []string{"clicks"}})
	if err != nil {
		log.Fatal(err)
	}
	results, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "print", Topics: []string{"page-counts"}})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = c.Consume(ctx, p) }()
	printed := 0
	err = results.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		fmt.Printf("%s %s\n", m.Key, m.Value)
		if printed++; printed == 2 {
			go results.Close()
		}
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	_ = c.Close()
	// Output:
	// /docs {"window":{"start":"2026-11-29T12:00:00Z","end":"2026-11-29T12:01:00Z"},"value":1}
	// /home {"window":{"start":"2026-11-29T12:00:00Z","end":"2026-11-29T12:01:00Z"},"value":2}
}
