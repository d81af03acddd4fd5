// Package oteltest checks that a courier.Broker, instrumented with otelcourier, yields the
// spans and metrics of the OpenTelemetry messaging conventions for a message sent and then
// consumed. The integration tests run it on every broker; an adapter written elsewhere can
// run it too.
package oteltest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware/otelcourier"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Options tunes Check to a broker.
type Options struct {
	// System is messaging.system for the broker: "kafka", "rabbitmq", "pulsar", "redis",
	// "memory"; required.
	System string
	// Topic is the topic the check sends to; empty means a new random one. The broker must
	// accept it (create it beforehand where topics are not created on use).
	Topic string
	// Timeout bounds the whole check; 0 means 60s.
	Timeout time.Duration
}

// Groups returns the names of the two groups Check makes on topic, so that a caller can
// delete what they leave on the broker.
func Groups(topic string) (parent, link string) { return topic + "-parent", topic + "-link" }

// Attr is an expected attribute of a span: a key and its value as a string (numbers are
// compared by their decimal form).
type Attr struct{ Key, Value string }

// The number of messages Check sends with SendBatch.
const batchSize = 3

// Check sends one message with Send and batchSize with SendBatch through a producer of b
// wrapped by otelcourier, consumes them in two new groups, one whose process spans are
// children of the creation context (Config.ParentOnCreation) and one whose spans link to it
// (the default), and checks:
//   - Send: one PRODUCER span "send {topic}" with exactly the attributes of the conventions;
//   - SendBatch: one PRODUCER "create {topic}" span per message and one CLIENT "send {topic}"
//     span linked to each of them;
//   - every message reaches the handler with a "traceparent" header and its own headers;
//   - process: a CONSUMER span "process {topic}" per message, in the creation context's trace
//     as its child in the first group, linked to it in the second, with exactly the attributes
//     of the conventions;
//   - metrics: messaging.client.sent.messages, messaging.client.operation.duration,
//     messaging.client.consumed.messages and messaging.process.duration with their attributes
//     and counts.
func Check(t *testing.T, b courier.Broker, opts Options) {
	t.Helper()
	if opts.System == "" {
		t.Fatal("oteltest: Options.System is required")
	}
	if opts.Topic == "" {
		opts.Topic = fmt.Sprintf("otel-%x", rand.Uint64())
	}
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(t.Context(), opts.Timeout)
	defer cancel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer tp.Shutdown(context.Background())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	cfg := otelcourier.Config{System: opts.System, TracerProvider: tp, MeterProvider: mp}
	suffix := fmt.Sprintf("%x", rand.Uint32())
	parentGroup, linkGroup := Groups(opts.Topic)

	// Consumers first: a group created before a message is sent receives it on every broker.
	type delivery struct {
		msg     courier.Message
		process trace.SpanContext
	}
	var mu sync.Mutex
	got := map[string]map[string]delivery{parentGroup: {}, linkGroup: {}} // group -> message ID -> first delivery
	all := make(chan struct{}, 2)
	var consumers []courier.Consumer
	var wg sync.WaitGroup
	for _, group := range []string{parentGroup, linkGroup} {
		gcfg := cfg
		gcfg.Group, gcfg.ParentOnCreation = group, group == parentGroup
		mw, err := otelcourier.Middleware(gcfg)
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{opts.Topic}})
		if err != nil {
			t.Fatalf("oteltest: NewConsumer(%s): %v", group, err)
		}
		consumers = append(consumers, c)
		h := mw(courier.HandlerFunc(func(ctx context.Context, msg courier.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if _, seen := got[group][msg.ID]; !seen {
				got[group][msg.ID] = delivery{msg: msg, process: trace.SpanContextFromContext(ctx)}
				if len(got[group]) == 1+batchSize {
					all <- struct{}{}
				}
			}
			return nil
		}))
		wg.Go(func() {
			if err := c.Consume(ctx, h); err != nil {
				t.Errorf("oteltest: Consume(%s): %v", group, err)
			}
		})
	}
	defer func() {
		for _, c := range consumers {
			c.Close()
		}
		wg.Wait()
	}()

	raw, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatalf("oteltest: NewProducer: %v", err)
	}
	p, err := otelcourier.NewProducer(raw, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	one := courier.Message{ID: "otel-one-" + suffix, Topic: opts.Topic, Value: []byte("one"), Headers: map[string]string{"user": "kept"}}
	if err := p.Send(ctx, one); err != nil {
		t.Fatalf("oteltest: Send: %v", err)
	}
	if one.Headers["traceparent"] != "" {
		t.Error("Send wrote the trace context into the caller's header map")
	}
	batch := make([]courier.Message, batchSize)
	for i := range batch {
		batch[i] = courier.Message{ID: fmt.Sprintf("otel-batch-%d-%s", i, suffix), Topic: opts.Topic, Value: []byte{byte(i)}}
	}
	if err := p.SendBatch(ctx, batch); err != nil {
		t.Fatalf("oteltest: SendBatch: %v", err)
	}
	for range 2 {
		select {
		case <-all:
		case <-ctx.Done():
			mu.Lock()
			t.Fatalf("oteltest: not every message was consumed within %v: %d in %s, %d in %s", opts.Timeout,
				len(got[parentGroup]), parentGroup, len(got[linkGroup]), linkGroup)
		}
	}
	mu.Lock()
	defer mu.Unlock()

	// The spans ended so far: every send and create span (they end before Send returns),
	// and the process spans of the first deliveries (waited for below: a handler returns
	// before its span ends).
	ended := func() []sdktrace.ReadOnlySpan { return spans.Ended() }
	byName := func(name string, kind trace.SpanKind) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range ended() {
			if s.Name() == name && s.SpanKind() == kind {
				out = append(out, s)
			}
		}
		return out
	}
	producerSpans := byName("send "+opts.Topic, trace.SpanKindProducer)
	if len(producerSpans) != 1 {
		t.Fatalf("%d PRODUCER spans %q, want 1 (the Send)", len(producerSpans), "send "+opts.Topic)
	}
	sendSpan := producerSpans[0]
	checkAttrs(t, sendSpan, []Attr{
		{"messaging.system", opts.System}, {"messaging.operation.name", "send"}, {"messaging.operation.type", "send"},
		{"messaging.destination.name", opts.Topic}, {"messaging.message.id", one.ID},
	})
	creates := byName("create "+opts.Topic, trace.SpanKindProducer)
	if len(creates) != batchSize {
		t.Fatalf("%d create spans, want %d (one per message of the batch)", len(creates), batchSize)
	}
	creationOf := map[string]trace.SpanContext{one.ID: sendSpan.SpanContext()}
	for _, s := range creates {
		id := attrMap(s)["messaging.message.id"]
		creationOf[id] = s.SpanContext()
		checkAttrs(t, s, []Attr{
			{"messaging.system", opts.System}, {"messaging.operation.name", "create"}, {"messaging.operation.type", "create"},
			{"messaging.destination.name", opts.Topic}, {"messaging.message.id", id},
		})
	}
	batchSends := byName("send "+opts.Topic, trace.SpanKindClient)
	if len(batchSends) != 1 {
		t.Fatalf("%d CLIENT send spans, want 1 (the SendBatch)", len(batchSends))
	}
	checkAttrs(t, batchSends[0], []Attr{
		{"messaging.system", opts.System}, {"messaging.operation.name", "send"}, {"messaging.operation.type", "send"},
		{"messaging.destination.name", opts.Topic}, {"messaging.batch.message_count", strconv.Itoa(batchSize)},
	})
	var linked []trace.SpanContext
	for _, l := range batchSends[0].Links() {
		linked = append(linked, l.SpanContext)
	}
	for _, s := range creates {
		if !slices.ContainsFunc(linked, s.SpanContext().Equal) {
			t.Errorf("the batch's send span does not link to create span %s", s.SpanContext().SpanID())
		}
	}

	waitEnded(ctx, t, spans, "process "+opts.Topic, 2*(1+batchSize))
	processByID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range byName("process "+opts.Topic, trace.SpanKindConsumer) {
		processByID[s.SpanContext().SpanID()] = s
	}
	for _, group := range []string{parentGroup, linkGroup} {
		for id, d := range got[group] {
			created, ok := creationOf[id]
			if !ok {
				t.Errorf("%s: message %q was not sent by the check", group, id)
				continue
			}
			if tp := d.msg.Headers["traceparent"]; !strings.Contains(tp, created.TraceID().String()) {
				t.Errorf("%s: message %s has traceparent %q, want the creation context's trace %s", group, id, tp, created.TraceID())
			}
			if id == one.ID && d.msg.Headers["user"] != "kept" {
				t.Errorf("%s: message %s lost its own header: %v", group, id, d.msg.Headers)
			}
			s, ok := processByID[d.process.SpanID()]
			if !ok {
				t.Errorf("%s: no CONSUMER span %q for message %s", group, "process "+opts.Topic, id)
				continue
			}
			want := []Attr{
				{"messaging.system", opts.System}, {"messaging.operation.name", "process"}, {"messaging.operation.type", "process"},
				{"messaging.destination.name", opts.Topic}, {"messaging.consumer.group.name", group}, {"messaging.message.id", id},
			}
			if opts.System == "kafka" || d.msg.Partition != 0 {
				want = append(want, Attr{"messaging.destination.partition.id", strconv.Itoa(int(d.msg.Partition))})
			}
			checkAttrs(t, s, want)
			if group == parentGroup {
				if s.Parent().SpanID() != created.SpanID() || s.SpanContext().TraceID() != created.TraceID() {
					t.Errorf("%s: process span of %s has parent %s in trace %s, want the creation span %s in trace %s",
						group, id, s.Parent().SpanID(), s.SpanContext().TraceID(), created.SpanID(), created.TraceID())
				}
			} else {
				if len(s.Links()) != 1 || !sameSpan(s.Links()[0].SpanContext, created) {
					t.Errorf("%s: process span of %s links to %v, want the creation span %s", group, id, s.Links(), created.SpanID())
				}
				if s.Parent().IsValid() {
					t.Errorf("%s: process span of %s has parent %s, want none (linked mode)", group, id, s.Parent().SpanID())
				}
			}
		}
	}
	checkMetrics(ctx, t, reader, opts, parentGroup, linkGroup)
}

// sameSpan reports whether a and b name one span (one may be remote: extracted from headers).
func sameSpan(a, b trace.SpanContext) bool {
	return a.TraceID() == b.TraceID() && a.SpanID() == b.SpanID()
}

func attrMap(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// checkAttrs checks that s has exactly the attributes want.
func checkAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want []Attr) {
	t.Helper()
	got := attrMap(s)
	w := map[string]string{}
	for _, a := range want {
		w[a.Key] = a.Value
	}
	if !maps.Equal(got, w) {
		t.Errorf("span %q (%v): attributes\n got  %v\n want %v", s.Name(), s.SpanKind(), got, w)
	}
}

// waitEnded waits until n spans named name have ended.
func waitEnded(ctx context.Context, t *testing.T, rec *tracetest.SpanRecorder, name string, n int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		c := 0
		for _, s := range rec.Ended() {
			if s.Name() == name {
				c++
			}
		}
		if c >= n {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%d spans %q ended, want %d", c, name, n)
		}
	}
}

func checkMetrics(ctx context.Context, t *testing.T, reader *sdkmetric.ManualReader, opts Options, groups ...string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = m
		}
	}
	base := []attribute.KeyValue{
		attribute.String("messaging.system", opts.System), attribute.String("messaging.destination.name", opts.Topic),
	}
	sendSet := attribute.NewSet(append(base, attribute.String("messaging.operation.name", "send"), attribute.String("messaging.operation.type", "send"))...)
	sum := func(name string, set attribute.Set) (int64, bool) {
		m, ok := found[name]
		if !ok {
			return 0, false
		}
		s, ok := m.Data.(metricdata.Sum[int64])
		if !ok {
			t.Errorf("metric %s is %T, want a Sum[int64]", name, m.Data)
			return 0, false
		}
		for _, dp := range s.DataPoints {
			if dp.Attributes.Equals(&set) {
				return dp.Value, true
			}
		}
		return 0, false
	}
	count := func(name string, set attribute.Set) (uint64, bool) {
		m, ok := found[name]
		if !ok {
			return 0, false
		}
		h, ok := m.Data.(metricdata.Histogram[float64])
		if !ok {
			t.Errorf("metric %s is %T, want a Histogram[float64]", name, m.Data)
			return 0, false
		}
		if m.Unit != "s" {
			t.Errorf("metric %s has unit %q, want s", name, m.Unit)
		}
		for _, dp := range h.DataPoints {
			if dp.Attributes.Equals(&set) {
				return dp.Count, true
			}
		}
		return 0, false
	}
	if n, ok := sum("messaging.client.sent.messages", sendSet); !ok || n != 1+batchSize {
		t.Errorf("messaging.client.sent.messages{%v} = %d (found %v), want %d", sendSet.Encoded(attribute.DefaultEncoder()), n, ok, 1+batchSize)
	}
	if n, ok := count("messaging.client.operation.duration", sendSet); !ok || n != 2 {
		t.Errorf("messaging.client.operation.duration{%v} has %d points (found %v), want 2 (Send, SendBatch)", sendSet.Encoded(attribute.DefaultEncoder()), n, ok)
	}
	for _, g := range groups {
		set := attribute.NewSet(append(base, attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.operation.type", "process"), attribute.String("messaging.consumer.group.name", g))...)
		if n, ok := sum("messaging.client.consumed.messages", set); !ok || n < 1+batchSize {
			t.Errorf("messaging.client.consumed.messages{%v} = %d (found %v), want at least %d", set.Encoded(attribute.DefaultEncoder()), n, ok, 1+batchSize)
		}
		if n, ok := count("messaging.process.duration", set); !ok || n < 1+batchSize {
			t.Errorf("messaging.process.duration{%v} has %d points (found %v), want at least %d", set.Encoded(attribute.DefaultEncoder()), n, ok, 1+batchSize)
		}
	}
}
