package otelcourier_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/middleware/otelcourier"
	"github.com/courier-go/courier/middleware/otelcourier/oteltest"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOnMemory(t *testing.T) {
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	oteltest.Check(t, b, oteltest.Options{System: "memory"})
}

func TestConfig(t *testing.T) {
	if _, err := otelcourier.NewProducer(nopProducer{}, otelcourier.Config{}); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "System") {
		t.Errorf("empty System: %v", err)
	}
	if _, err := otelcourier.NewProducer(nil, otelcourier.Config{System: "memory"}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil producer: %v", err)
	}
	if _, err := otelcourier.Middleware(otelcourier.Config{System: "memory"}); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "Group") {
		t.Errorf("empty Group: %v", err)
	}
}

type nopProducer struct{ err error }

func (p nopProducer) Send(context.Context, courier.Message) error        { return p.err }
func (p nopProducer) SendBatch(context.Context, []courier.Message) error { return p.err }
func (nopProducer) Close() error                                         { return nil }

func newTracer() (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	return rec, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
}

func TestErrors(t *testing.T) {
	rec, tp := newTracer()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	boom := errors.New("boom")
	p, err := otelcourier.NewProducer(nopProducer{err: boom}, otelcourier.Config{System: "memory", TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), courier.Message{Topic: "t"}); err != boom {
		t.Fatalf("Send: %v, want the producer's error unchanged", err)
	}
	mw, err := otelcourier.Middleware(otelcourier.Config{System: "memory", Group: "g", TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(courier.HandlerFunc(func(context.Context, courier.Message) error { return boom }))
	for range 2 {
		if err := h.HandleMessage(t.Context(), courier.Message{ID: "m", Topic: "t"}); err != boom {
			t.Fatalf("handler: %v, want its error unchanged", err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{} // metric name + error.type -> value
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					et, _ := dp.Attributes.Value("error.type")
					counts[m.Name+" "+et.AsString()] += dp.Value
				}
			}
		}
	}
	if counts["messaging.client.sent.messages *errors.errorString"] != 1 || counts["messaging.client.consumed.messages *errors.errorString"] != 2 {
		t.Fatalf("counts by error.type: %v, want 1 send and 2 process failures of *errors.errorString", counts)
	}
	for _, s := range rec.Ended() {
		if s.Status().Code != codes.Error || s.Status().Description != "boom" {
			t.Errorf("span %q status %+v, want Error boom", s.Name(), s.Status())
		}
		found := false
		for _, kv := range s.Attributes() {
			found = found || kv.Key == "error.type" && kv.Value.AsString() != ""
		}
		if !found {
			t.Errorf("span %q has no error.type", s.Name())
		}
	}
	if len(rec.Ended()) != 3 {
		t.Fatalf("%d spans, want 3", len(rec.Ended()))
	}
}

func TestBatchErrorMarksFailedMessages(t *testing.T) {
	rec, tp := newTracer()
	boom := errors.New("too large")
	p, err := otelcourier.NewProducer(nopProducer{err: &courier.BatchError{Errs: []error{nil, boom, nil}}},
		otelcourier.Config{System: "memory", TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []courier.Message{{ID: "a", Topic: "x"}, {ID: "b", Topic: "x"}, {ID: "c", Topic: "y"}}
	if err := p.SendBatch(t.Context(), msgs); !errors.Is(err, boom) {
		t.Fatalf("SendBatch: %v", err)
	}
	for _, m := range msgs {
		if m.Headers != nil {
			t.Fatalf("SendBatch changed the caller's messages: %v", m.Headers)
		}
	}
	failed := map[string]bool{}
	var send sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "create x", "create y":
			for _, kv := range s.Attributes() {
				if kv.Key == "messaging.message.id" {
					failed[kv.Value.AsString()] = s.Status().Code == codes.Error
				}
			}
		case "send": // two topics: no destination in the name
			send = s
		default:
			t.Errorf("unexpected span %q", s.Name())
		}
	}
	if len(failed) != 3 || failed["a"] || !failed["b"] || failed["c"] {
		t.Fatalf("create spans failed: %v, want only b", failed)
	}
	if send == nil || send.SpanKind() != trace.SpanKindClient || len(send.Links()) != 3 || send.Status().Code != codes.Error {
		t.Fatalf("send span %v", send)
	}
}

// onlyHeader is a propagator that carries the span context in one header of its own.
type onlyHeader struct{}

func (onlyHeader) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	propagation.TraceContext{}.Inject(ctx, renamed{c})
}
func (onlyHeader) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	return propagation.TraceContext{}.Extract(ctx, renamed{c})
}
func (onlyHeader) Fields() []string { return []string{"x-trace"} }

type renamed struct{ propagation.TextMapCarrier }

func (r renamed) Get(k string) string {
	if k == "traceparent" {
		return r.TextMapCarrier.Get("x-trace")
	}
	return ""
}
func (r renamed) Set(k, v string) {
	if k == "traceparent" {
		r.TextMapCarrier.Set("x-trace", v)
	}
}

func TestPropagator(t *testing.T) {
	rec, tp := newTracer()
	cfg := otelcourier.Config{System: "memory", Group: "g", TracerProvider: tp, Propagator: onlyHeader{}, ParentOnCreation: true}
	var sent courier.Message
	p, err := otelcourier.NewProducer(capture{&sent}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), courier.Message{ID: "m", Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if sent.Headers["x-trace"] == "" || sent.Headers["traceparent"] != "" {
		t.Fatalf("headers %v, want x-trace only", sent.Headers)
	}
	mw, err := otelcourier.Middleware(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seen trace.SpanContext
	h := mw(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
		seen = trace.SpanContextFromContext(ctx)
		return nil
	}))
	if err := h.HandleMessage(t.Context(), sent); err != nil {
		t.Fatal(err)
	}
	sendSpan := rec.Ended()[0]
	if seen.TraceID() != sendSpan.SpanContext().TraceID() {
		t.Fatalf("process in trace %s, want the send's %s", seen.TraceID(), sendSpan.SpanContext().TraceID())
	}
}

type capture struct{ m *courier.Message }

func (c capture) Send(_ context.Context, m courier.Message) error  { *c.m = m; return nil }
func (capture) SendBatch(context.Context, []courier.Message) error { return nil }
func (capture) Close() error                                       { return nil }
