package memstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/memstore"
)

// BenchmarkAppend1 appends 1-event batches from one writer, to 1,000 streams in turn, with
// the store filling in the event IDs. The issue asks for at least 1,000,000 appends/s.
//
//	go test -run '^$' -bench Append1 -benchtime 2000000x ./eventsource/memstore
func BenchmarkAppend1(b *testing.B) {
	ctx := context.Background()
	s := memstore.New(memstore.Config{})
	defer s.Close()
	streams := make([]string, 1000)
	for i := range streams {
		streams[i] = "account-" + strconv.Itoa(i)
	}
	data := []byte(`{"amount":100}`)
	b.ReportAllocs()
	start := time.Now()
	i := 0
	for b.Loop() {
		if _, err := s.Append(ctx, streams[i%len(streams)], eventsource.Any, eventsource.EventData{Type: "Deposited", Data: data}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "appends/s")
}
