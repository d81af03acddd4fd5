package otelcourier_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/middleware/otelcourier"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// A message traced from its send to its processing, in one trace.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spans := tracetest.NewSpanRecorder() // an exporter in a real service
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)

	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	raw, err := b.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	p, err := otelcourier.NewProducer(raw, otelcourier.Config{System: "memory", TracerProvider: tp})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	trace, err := otelcourier.Middleware(otelcourier.Config{System: "memory", Group: "billing", TracerProvider: tp, ParentOnCreation: true})
	if err != nil {
		log.Fatal(err)
	}
	processing := make(chan sdktrace.ReadOnlySpan)
	go c.Consume(ctx, trace(courier.HandlerFunc(func(ctx context.Context, _ courier.Message) error {
		processing <- oteltrace.SpanFromContext(ctx).(sdktrace.ReadOnlySpan) // the handler's span
		return nil
	})))
	if err := p.Send(ctx, courier.Message{Topic: "orders", Value: []byte("order 1")}); err != nil {
		log.Fatal(err)
	}
	send := spans.Ended()[0] // ended when Send returned
	process := <-processing
	fmt.Println(send.Name(), send.SpanKind())
	fmt.Println(process.Name(), process.SpanKind())
	fmt.Println("one trace:", send.SpanContext().TraceID() == process.SpanContext().TraceID())
	// Output:
	// send orders producer
	// process orders consumer
	// one trace: true
}
