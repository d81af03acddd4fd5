package redisstreams_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/redisstreams"
	"github.com/redis/go-redis/v9"
)

// The side-by-side benchmarks: the adapter and raw go-redis doing the same work, with 1 KiB
// values, interleaved in one run (see sideBySide); each reports courier-msgs/s, raw-msgs/s and
// their ratio courier/raw. On a shared machine the ratio of short runs swings with the load of
// other processes; a million messages a side (a few minutes) gives steady figures:
//
//	COURIER_REDIS_URL=redis://127.0.0.1:6379/0 go test -run XXX -bench 'Produce|Consume' -benchtime 1000000x ./redisstreams/
//
// A round's streams are deleted after it, so Redis holds at most one round's entries.

const (
	benchValueSize = 1024
	benchBatch     = 100
)

var benchValue = func() []byte {
	v := make([]byte, benchValueSize)
	for i := range v {
		v[i] = byte(i)
	}
	return v
}()

// benchSetup returns an admin client and a stream key prefix removed at the end.
func benchSetup(b *testing.B) (string, *redis.Client, string) {
	url := redisURL(b)
	return url, adminClient(b, url), testPrefix(b, url)
}

// sideBySide runs b.N messages through the adapter and through raw go-redis, in alternating
// rounds of at most size messages so that both meet the same load on a shared machine, and
// reports the throughput of each and their ratio. round(n, rawFirst) runs n messages each way,
// the raw client first when rawFirst (every other round, so that neither side always follows
// the other's garbage or the setup), and returns the time each took.
func sideBySide(b *testing.B, size int, round func(n int, rawFirst bool) (adapter, raw time.Duration)) {
	var adapter, raw time.Duration
	b.SetBytes(benchValueSize)
	b.ReportAllocs()
	b.ResetTimer()
	for done, k := 0, 0; done < b.N; done, k = done+size, k+1 {
		a, r := round(min(size, b.N-done), k%2 == 1)
		adapter += a
		raw += r
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/adapter.Seconds(), "courier-msgs/s")
	b.ReportMetric(float64(b.N)/raw.Seconds(), "raw-msgs/s")
	b.ReportMetric(raw.Seconds()/adapter.Seconds(), "courier/raw")
}

// BenchmarkProduce: batches of 100 messages, SendBatch against one pipeline of XADDs.
func BenchmarkProduce(b *testing.B) {
	url, client, prefix := benchSetup(b)
	br, err := courier.Open(context.Background(), withParams(url, "prefix="+prefix))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	p, err := br.NewProducer(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	batch := make([]courier.Message, benchBatch)
	stream := prefix + "produce-raw"
	sent := 0
	sendAdapter := func(n int) time.Duration {
		start := time.Now()
		for i := 0; i < n; i += benchBatch {
			k := min(benchBatch, n-i)
			for j := range k {
				batch[j] = courier.Message{Topic: "produce", Value: benchValue}
			}
			if err := p.SendBatch(ctx, batch[:k]); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	sendRaw := func(n int) time.Duration {
		start := time.Now()
		for i := 0; i < n; i += benchBatch {
			pipe := client.Pipeline()
			for range min(benchBatch, n-i) {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: rawFields(sent)})
				sent++
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	sideBySide(b, 10*benchBatch, func(n int, rawFirst bool) (adapter, raw time.Duration) {
		if rawFirst {
			raw = sendRaw(n)
			adapter = sendAdapter(n)
		} else {
			adapter = sendAdapter(n)
			raw = sendRaw(n)
		}
		// Both wrote every message; then the round's entries go.
		b.StopTimer()
		for _, key := range []string{prefix + "produce", stream} {
			if got, err := client.XLen(ctx, key).Result(); err != nil || got != int64(n) {
				b.Fatalf("%s holds %d entries (%v), want %d", key, got, err, n)
			}
		}
		if err := client.Del(ctx, prefix+"produce", stream).Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		return adapter, raw
	})
}

// rawFields is what a hand-written producer would store: an ID, a timestamp and the value.
func rawFields(n int) []any {
	return []any{"id", strconv.Itoa(n), "ts", strconv.FormatInt(time.Now().UnixNano(), 10), "v", benchValue}
}

// fill writes n entries to stream and creates group at its start.
func fill(b testing.TB, client *redis.Client, stream, group string, n int) {
	b.Helper()
	ctx := context.Background()
	for sent := 0; sent < n; sent += 500 {
		pipe := client.Pipeline()
		for i := range min(500, n-sent) {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: rawFields(sent + i)})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := client.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil {
		b.Fatal(err)
	}
}

// waitAcked waits until group has no pending entry: every XACK went out.
func waitAcked(b testing.TB, client *redis.Client, stream, group string) {
	b.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		sum, err := client.XPending(context.Background(), stream, group).Result()
		if err != nil {
			b.Fatal(err)
		}
		if sum.Count == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d entries still pending", sum.Count)
		}
		time.Sleep(time.Millisecond) // Redis cannot tell us when the last XACK lands
	}
}

// BenchmarkConsume: entries already in a stream, read by one consumer and acknowledged; a
// round's time ends when Redis has every XACK. The adapter's consumer is made per round (its
// start is timed; its Close is not).
func BenchmarkConsume(b *testing.B) {
	url, client, prefix := benchSetup(b)
	ctx := context.Background()
	br, err := courier.Open(ctx, withParams(url, "prefix="+prefix, "block=20ms"))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	rounds := 0
	// Rounds are large enough that the consumer's start (three round trips) weighs little.
	sideBySide(b, 50000, func(n int, rawFirst bool) (adapter, raw time.Duration) {
		b.StopTimer()
		rounds++
		topic := "consume-" + strconv.Itoa(rounds)
		fill(b, client, prefix+topic, "g", n)
		fill(b, client, prefix+topic+"-raw", "g", n)
		runtime.GC() // the fill's garbage is nobody's cost
		b.StartTimer()
		consumeRaw := func() time.Duration {
			start := time.Now()
			rawConsume(b, client, prefix+topic+"-raw", n)
			return time.Since(start)
		}
		if rawFirst {
			raw = consumeRaw()
		}

		start := time.Now()
		c, err := br.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{topic}})
		if err != nil {
			b.Fatal(err)
		}
		var handled atomic.Int64
		all := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- c.Consume(ctx, courier.HandlerFunc(func(context.Context, courier.Message) error {
				if handled.Add(1) == int64(n) {
					close(all)
				}
				return nil
			}))
		}()
		<-all
		waitAcked(b, client, prefix+topic, "g")
		adapter = time.Since(start)
		b.StopTimer()
		_ = c.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		if !rawFirst {
			raw = consumeRaw()
		}
		b.StopTimer()
		if err := client.Del(ctx, prefix+topic, prefix+topic+"-raw").Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		return adapter, raw
	})
}

// rawConsume reads n entries with XREADGROUP and acknowledges each read's entries with one
// XACK, as a hand-written consumer would.
func rawConsume(b testing.TB, client *redis.Client, stream string, n int) {
	ctx := context.Background()
	args := &redis.XReadGroupArgs{Group: "g", Consumer: "raw", Streams: []string{stream, ">"},
		Count: redisstreams.DefaultReadCount, Block: redisstreams.DefaultBlock}
	ids := make([]string, 0, redisstreams.DefaultReadCount)
	sink := 0
	for read := 0; read < n; {
		res, err := client.XReadGroup(ctx, args).Result()
		if err != nil {
			b.Fatal(err)
		}
		ids = ids[:0]
		for _, m := range res[0].Messages {
			v, _ := m.Values["v"].(string)
			sink += len(v)
			ids = append(ids, m.ID)
		}
		if err := client.XAck(ctx, stream, "g", ids...).Err(); err != nil {
			b.Fatal(err)
		}
		read += len(ids)
	}
	waitAcked(b, client, stream, "g")
	if sink != n*benchValueSize {
		b.Fatalf("read %d value bytes, want %d", sink, n*benchValueSize)
	}
}

// BenchmarkBrokertest runs the suite's own benchmarks (Send, SendParallel, SendBatch, EndToEnd).
func BenchmarkBrokertest(b *testing.B) {
	url := redisURL(b)
	brokertest.Bench(b, harness(url, testPrefix(b, url)), brokertest.BenchOptions{ValueSize: benchValueSize})
}
