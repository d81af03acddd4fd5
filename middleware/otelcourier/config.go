// Package otelcourier traces and measures courier producers and consumers with
// OpenTelemetry, following the messaging semantic conventions v1.43.0 ([SemconvVersion]).
//
// [NewProducer] wraps a courier.Producer: Send makes a PRODUCER span "send {topic}" that is
// the message's creation context; SendBatch makes a PRODUCER span "create {topic}" per message
// (each message's creation context) and one CLIENT span "send {topic}" (or "send" when the
// batch spans several topics) linked to all of them, as the conventions ask of batch sends.
// The creation context travels to consumers in the message's headers through the configured
// propagator (W3C trace context and baggage by default: "traceparent", "tracestate",
// "baggage"); the caller's header map is never modified.
//
// [Middleware] wraps a handler: each message gets a CONSUMER span "process {topic}" that links
// to the creation context found in its headers (the default; the conventions recommend links
// since a consumer's work may belong to another trace) or, with Config.ParentOnCreation, is its
// child, so that sender and consumer share one trace.
//
// Span attributes: messaging.system, messaging.operation.name and messaging.operation.type,
// messaging.destination.name, messaging.message.id (when known), messaging.consumer.group.name
// (process), messaging.destination.partition.id (process, on Kafka, and elsewhere when the
// broker sets one), messaging.batch.message_count (batch send), error.type on failure.
// Metrics: messaging.client.operation.duration and messaging.client.sent.messages (send),
// messaging.process.duration and messaging.client.consumed.messages (process), with the
// system, operation, destination, group and error.type attributes. No payload, key or header
// value is ever recorded.
//
// Package oteltest holds a check that any courier.Broker can run, so that every adapter shows
// a message traced from send to process.
package otelcourier

import (
	"fmt"

	"github.com/courier-go/courier"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// SemconvVersion is the version of the OpenTelemetry semantic conventions the package
// implements; its tracer and meter carry the matching schema URL.
const SemconvVersion = "1.43.0"

// ScopeName is the instrumentation scope of the package's tracer and meter.
const ScopeName = "github.com/courier-go/courier/middleware/otelcourier"

// Config configures NewProducer and Middleware.
type Config struct {
	// System is messaging.system: "kafka", "rabbitmq", "pulsar", "redis" or "memory" for
	// courier's adapters; required.
	System string
	// Group is messaging.consumer.group.name on process spans and metrics; Middleware
	// requires it, NewProducer ignores it.
	Group string
	// TracerProvider makes the tracer; nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meter; nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator writes the creation context into headers and reads it back; nil means W3C
	// trace context and baggage (not the global propagator, which is a no-op unless set).
	// Producer and consumer must use the same one.
	Propagator propagation.TextMapPropagator
	// ParentOnCreation makes a process span a child of the message's creation context
	// instead of linking to it.
	ParentOnCreation bool
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.System == "" {
		return fmt.Errorf("%w: otelcourier: empty System (messaging.system: kafka, rabbitmq, pulsar, redis, memory)", courier.ErrInvalidConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.MeterProvider == nil {
		c.MeterProvider = otel.GetMeterProvider()
	}
	if c.Propagator == nil {
		c.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return c
}

func (c Config) tracer() trace.Tracer {
	return c.TracerProvider.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
}

func (c Config) meter() metric.Meter {
	return c.MeterProvider.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
}
