// Command stream counts clicks per page per minute of event time with package stream: clicks
// are filtered (no bots), keyed by page, counted in one-minute tumbling windows with a
// one-minute grace period, and each minute's counts are sent on, and printed, once the minute
// has closed. One click arrives too late and is dropped and counted. The program checks the
// counts it printed against a plain count of the clicks it sent.
//
// The grace period covers the clicks' own disorder and the consumer's: courier keeps the order
// of one key's messages (here a user's), not across keys, so clicks of different users may be
// handled some seconds of event time apart from the order they were sent in.
//
//	go run ./examples/stream [-url memory://]   (or -url redis://127.0.0.1:6379/0)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/memory"
	_ "github.com/courier-go/courier/rabbitmq"
	_ "github.com/courier-go/courier/redisstreams"
	"github.com/courier-go/courier/stream"
)

func main() {
	url := flag.String("url", "memory://", "broker URL")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *url, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "stream example:", err)
		os.Exit(1)
	}
}

// Click is one click on a page, as the web servers send it.
type Click struct {
	Page string `json:"page"`
	User string `json:"user"`
}

type sent struct {
	click Click
	at    time.Time
}

// clicks returns three minutes of clicks from t0, in the order they arrive: a few out of order
// within the grace period, and one (the last) too late.
func clicks(t0 time.Time) []sent {
	pages := []string{"/home", "/docs", "/pricing", "/blog"}
	var cs []sent
	for i := range 90 {
		at := t0.Add(time.Duration(i) * 2 * time.Second)
		if i%9 == 4 {
			at = at.Add(-7 * time.Second) // arrives late, within the grace
		}
		user := fmt.Sprintf("user-%d", i%7)
		if i%11 == 0 {
			user = "bot"
		}
		cs = append(cs, sent{Click{Page: pages[(i*7+i/3)%len(pages)], User: user}, at})
	}
	// Long after its window closed (at 12:02, grace included): dropped.
	return append(cs, sent{Click{Page: "/home", User: "user-1"}, t0.Add(31 * time.Second)})
}

func run(ctx context.Context, url string, out *os.File) error {
	b, err := courier.Open(ctx, url)
	if err != nil {
		return err
	}
	defer b.Close()
	suffix := fmt.Sprint(time.Now().UnixNano()) // fresh topics on a broker that keeps them
	in, counted := "clicks-"+suffix, "page-counts-"+suffix
	prod, err := b.NewProducer(ctx)
	if err != nil {
		return err
	}
	defer prod.Close()
	store, err := stream.NewMemoryStore(0)
	if err != nil {
		return err
	}

	// The pipeline.
	p := stream.New(stream.Config{Name: "clicks-per-page-per-minute"})
	all := stream.From(p, stream.JSON[Click]())
	human := stream.Filter(all, func(c Click) bool { return c.User != "bot" })
	byPage := stream.SelectKey(human, func(r stream.Record[Click]) string { return r.Value.Page })
	perMinute := stream.WindowCount(byPage, stream.Tumbling(time.Minute).WithGrace(time.Minute), store, "per-page")
	stream.To(perMinute.Results, prod, counted, stream.JSONEncoder[stream.Windowed[int64]]())
	var mu sync.Mutex
	handled := map[string]bool{}
	inputDone := make(chan struct{})
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	toSend := clicks(t0)
	stream.Foreach(all, func(_ context.Context, r stream.Record[Click]) error {
		mu.Lock()
		defer mu.Unlock()
		handled[r.Time.String()+r.Value.User+r.Value.Page] = true
		if len(handled) == len(toSend) {
			close(inputDone)
		}
		return nil
	})
	if err := p.Validate(); err != nil {
		return err
	}

	// Consumers first, so that their groups exist before the clicks are sent.
	pc, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "stats", Topics: []string{in}})
	if err != nil {
		return err
	}
	rc, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "dashboard", Topics: []string{counted}})
	if err != nil {
		return err
	}
	want := map[string]int64{}
	for _, c := range toSend[:len(toSend)-1] {
		if c.click.User != "bot" {
			want[c.at.Truncate(time.Minute).Format("15:04")+" "+c.click.Page]++
		}
	}
	got := map[string]int64{}
	results := make(chan struct{})
	go func() {
		_ = rc.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			var w stream.Windowed[int64]
			if err := json.Unmarshal(m.Value, &w); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			line := w.Window.Start.Format("15:04") + " " + m.Key
			if _, dup := got[line]; !dup {
				got[line] = w.Value
				if len(got) == len(want) {
					close(results)
				}
			}
			return nil
		}))
	}()
	consumed := make(chan error, 1)
	go func() { consumed <- pc.Consume(ctx, p) }()

	for _, c := range toSend {
		v, err := json.Marshal(c.click)
		if err != nil {
			return err
		}
		if err := prod.Send(ctx, courier.Message{Topic: in, Key: c.click.User, Value: v, Timestamp: c.at}); err != nil {
			return err
		}
	}
	select { // every click handled: close the last open windows
	case <-inputDone:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the clicks to be handled: %w", ctx.Err())
	}
	if err := pc.Close(); err != nil {
		return err
	}
	if err := <-consumed; err != nil {
		return err
	}
	if err := p.Flush(ctx); err != nil {
		return err
	}
	select {
	case <-results:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the counts: %w", ctx.Err())
	}
	_ = rc.Close()

	mu.Lock()
	defer mu.Unlock()
	for _, line := range slices.Sorted(maps.Keys(got)) {
		fmt.Fprintf(out, "%s %d\n", line, got[line])
		if got[line] != want[line] {
			return fmt.Errorf("%s: counted %d, sent %d", line, got[line], want[line])
		}
	}
	fmt.Fprintf(out, "late clicks dropped: %d\n", perMinute.Dropped())
	if perMinute.Dropped() != 1 {
		return fmt.Errorf("%d clicks dropped as late; sent 1", perMinute.Dropped())
	}
	return nil
}
