package otelcourier_test

import (
	"context"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware/internal/sidebyside"
	"github.com/courier-go/courier/middleware/otelcourier"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Run: cd middleware/otelcourier && go test -run '^$' -bench . -benchmem
// Budget (issue 16): the producer decorator at most 1.2x the raw SDK span plus header
// injection ("raw"), both with a sampled SDK tracer (no exporter) and the same attributes.
// "otelcourier" has a no-op meter, as the anchor has no metrics; "otelcourier+metrics" adds
// the SDK meter with its two instruments.
func BenchmarkSend(b *testing.B) {
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	msg := courier.Message{ID: "0190f1b6-1234-7abc-9def-0123456789ab", Topic: "orders", Value: []byte("v"),
		Headers: map[string]string{"tenant": "a"}}
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	inner := nopProducer{}
	b.Run("raw", func(b *testing.B) {
		send := rawSend(tp.Tracer("raw"), prop, inner, msg)
		b.ReportAllocs()
		for b.Loop() {
			send()
		}
	})
	for _, c := range []struct {
		name string
		cfg  otelcourier.Config
	}{
		{"otelcourier", otelcourier.Config{System: "kafka", TracerProvider: tp, MeterProvider: noop.NewMeterProvider()}},
		{"otelcourier+metrics", otelcourier.Config{System: "kafka", TracerProvider: tp,
			MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := otelcourier.NewProducer(inner, c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProcess: the consumer middleware against the raw SDK extract plus span.
func BenchmarkProcess(b *testing.B) {
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	msg := courier.Message{ID: "0190f1b6-1234-7abc-9def-0123456789ab", Topic: "orders", Value: []byte("v"),
		Headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	noopH := courier.HandlerFunc(func(context.Context, courier.Message) error { return nil })
	b.Run("raw", func(b *testing.B) {
		tracer := tp.Tracer("raw")
		b.ReportAllocs()
		for b.Loop() {
			created := prop.Extract(context.Background(), propagation.MapCarrier(msg.Headers))
			ctx, span := tracer.Start(ctx, "process orders", trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(created)}), trace.WithAttributes(
					attribute.String("messaging.system", "kafka"), attribute.String("messaging.operation.name", "process"),
					attribute.String("messaging.operation.type", "process"), attribute.String("messaging.destination.name", msg.Topic),
					attribute.String("messaging.consumer.group.name", "g"), attribute.String("messaging.message.id", msg.ID),
					attribute.String("messaging.destination.partition.id", "0")))
			if err := noopH(ctx, msg); err != nil {
				b.Fatal(err)
			}
			span.End()
		}
	})
	b.Run("otelcourier", func(b *testing.B) {
		mw, err := otelcourier.Middleware(otelcourier.Config{System: "kafka", Group: "g", TracerProvider: tp, MeterProvider: noop.NewMeterProvider()})
		if err != nil {
			b.Fatal(err)
		}
		h := mw(noopH)
		b.ReportAllocs()
		for b.Loop() {
			if err := h.HandleMessage(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSideBySide alternates the raw SDK and the decorator in rounds (see sidebyside) and
// reports their median ratio: the budget is 1.2x.
// Run: go test -run '^$' -bench SideBySide -benchtime 30x
func BenchmarkSideBySide(b *testing.B) {
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	msg := courier.Message{ID: "0190f1b6-1234-7abc-9def-0123456789ab", Topic: "orders", Value: []byte("v"),
		Headers: map[string]string{"tenant": "a"}}
	inner := nopProducer{}
	raw := rawSend(tp.Tracer("raw"), prop, inner, msg)
	p, err := otelcourier.NewProducer(inner, otelcourier.Config{System: "kafka", TracerProvider: tp, MeterProvider: noop.NewMeterProvider()})
	if err != nil {
		b.Fatal(err)
	}
	pm, err := otelcourier.NewProducer(inner, otelcourier.Config{System: "kafka", TracerProvider: tp,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))})
	if err != nil {
		b.Fatal(err)
	}
	sidebyside.Bench(b, 2000,
		sidebyside.Side{Name: "raw", Op: raw},
		sidebyside.Side{Name: "otelcourier", Op: func() { p.Send(ctx, msg) }},
		sidebyside.Side{Name: "otelcourier+metrics", Op: func() { pm.Send(ctx, msg) }})
}

// rawSend is the anchor: what instrumenting a send by hand with the SDK takes, with the
// attributes otelcourier sets.
func rawSend(tracer trace.Tracer, prop propagation.TextMapPropagator, p courier.Producer, msg courier.Message) func() {
	ctx := context.Background()
	return func() {
		ctx, span := tracer.Start(ctx, "send orders", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			attribute.String("messaging.system", "kafka"), attribute.String("messaging.operation.name", "send"),
			attribute.String("messaging.operation.type", "send"), attribute.String("messaging.destination.name", msg.Topic),
			attribute.String("messaging.message.id", msg.ID)))
		m := msg
		m.Headers = make(map[string]string, len(msg.Headers)+2)
		for k, v := range msg.Headers {
			m.Headers[k] = v
		}
		prop.Inject(ctx, propagation.MapCarrier(m.Headers))
		if err := p.Send(ctx, m); err != nil {
			panic(err)
		}
		span.End()
	}
}
