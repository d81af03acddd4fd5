package otelcourier

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
	"go.opentelemetry.io/otel/trace"
)

// Operation names and span name prefixes of the conventions.
const (
	opSend    = "send"
	opCreate  = "create"
	opProcess = "process"
)

// instruments are the tracer and metric instruments, with the attributes of each topic
// computed once.
type instruments struct {
	cfg      Config
	tracer   trace.Tracer
	duration metric.Float64Histogram // messaging.client.operation.duration or messaging.process.duration
	// count is messaging.client.sent.messages or messaging.client.consumed.messages, observed
	// from the counters in topicAttrs and failures: an atomic add per message instead of a
	// second SDK measurement.
	count    metric.Int64ObservableCounter
	reg      metric.Registration
	failures map[failKey]*failCount // guarded by mu
	op       string
	opType   attribute.KeyValue
	topics   atomic.Pointer[map[string]*topicAttrs] // copied on write: topics are few and read on every message
	mu       sync.Mutex                             // serialises writers of topics
}

// topicAttrs are the attributes of one operation on one topic.
type topicAttrs struct {
	spanName string
	span     []attribute.KeyValue // span attributes every message of the topic has
	metric   []attribute.KeyValue // metric attributes without error.type
	ok       metric.MeasurementOption
	// The option as slices, made once: passing a slice on spares each call an allocation.
	okRecord []metric.RecordOption
	n        atomic.Int64 // operations that succeeded
}

type failKey struct{ topic, errorType string }

// failCount counts the operations on a topic that failed with one error.type.
type failCount struct {
	n   atomic.Int64
	opt metric.MeasurementOption
}

// newInstruments makes the tracer and the two instruments of operation op, and registers the
// callback that observes the counts.
func newInstruments(cfg Config, op string, opType attribute.KeyValue,
	duration func(metric.Meter) (metric.Float64Histogram, error),
	count func(metric.Meter) (metric.Int64ObservableCounter, error)) (*instruments, error) {
	meter := cfg.meter()
	in := &instruments{cfg: cfg, tracer: cfg.tracer(), op: op, opType: opType, failures: map[failKey]*failCount{}}
	var err error
	if in.duration, err = duration(meter); err != nil {
		return nil, fmt.Errorf("otelcourier: %w", err)
	}
	if in.count, err = count(meter); err != nil {
		return nil, fmt.Errorf("otelcourier: %w", err)
	}
	if in.reg, err = meter.RegisterCallback(in.observe, in.count); err != nil {
		return nil, fmt.Errorf("otelcourier: %w", err)
	}
	return in, nil
}

func (in *instruments) observe(_ context.Context, o metric.Observer) error {
	if m := in.topics.Load(); m != nil {
		for _, ta := range *m {
			if n := ta.n.Load(); n > 0 {
				o.ObserveInt64(in.count, n, ta.ok)
			}
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, f := range in.failures {
		o.ObserveInt64(in.count, f.n.Load(), f.opt)
	}
	return nil
}

// counted counts an operation on ta that ended with err.
func (in *instruments) counted(ta *topicAttrs, err error) {
	if err == nil {
		ta.n.Add(1)
		return
	}
	key := failKey{ta.spanName /* one per topic */, semconv.ErrorType(err).Value.AsString()}
	in.mu.Lock()
	f, ok := in.failures[key]
	if !ok {
		f = &failCount{opt: in.outcome(ta, err)}
		in.failures[key] = f
	}
	in.mu.Unlock()
	f.n.Add(1)
}

func (in *instruments) topic(topic string) *topicAttrs {
	if m := in.topics.Load(); m != nil {
		if ta, ok := (*m)[topic]; ok {
			return ta
		}
	}
	ta := &topicAttrs{spanName: in.op, span: []attribute.KeyValue{
		semconv.MessagingSystemKey.String(in.cfg.System),
		semconv.MessagingOperationName(in.op), in.opType,
	}}
	if topic != "" {
		ta.spanName = in.op + " " + topic
		ta.span = append(ta.span, semconv.MessagingDestinationName(topic))
	}
	if in.op == opProcess && in.cfg.Group != "" {
		ta.span = append(ta.span, semconv.MessagingConsumerGroupName(in.cfg.Group))
	}
	ta.metric = ta.span
	ta.ok = metric.WithAttributeSet(attribute.NewSet(ta.metric...))
	ta.okRecord = []metric.RecordOption{ta.ok}
	in.mu.Lock()
	defer in.mu.Unlock()
	var m map[string]*topicAttrs
	if old := in.topics.Load(); old != nil {
		if prev, ok := (*old)[topic]; ok {
			return prev
		}
		m = maps.Clone(*old)
	} else {
		m = map[string]*topicAttrs{}
	}
	m[topic] = ta
	in.topics.Store(&m)
	return ta
}

// finish records the operation's duration and count, and ends span with err's status.
func (in *instruments) finish(ctx context.Context, span trace.Span, ta *topicAttrs, start time.Time, err error) {
	if err == nil {
		in.duration.Record(ctx, time.Since(start).Seconds(), ta.okRecord...)
	} else {
		in.duration.Record(ctx, time.Since(start).Seconds(), in.outcome(ta, err))
		fail(span, err)
	}
	in.counted(ta, err)
	span.End()
}

// fail marks span as failed with err, if err is not nil.
func fail(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorType(err))
	}
}

// NewProducer returns p with its sends traced and measured (see the package documentation).
// Close closes p.
func NewProducer(p courier.Producer, cfg Config) (courier.Producer, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: otelcourier: nil producer", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	send, err := newInstruments(cfg, opSend, semconv.MessagingOperationTypeSend,
		func(m metric.Meter) (metric.Float64Histogram, error) {
			i, err := messagingconv.NewClientOperationDuration(m)
			return i.Inst(), err
		},
		func(m metric.Meter) (metric.Int64ObservableCounter, error) {
			i, err := messagingconv.NewClientSentMessagesObservable(m)
			return i.Inst(), err
		})
	if err != nil {
		return nil, err
	}
	return &producer{p: p, send: send,
		create: &instruments{cfg: cfg, op: opCreate, opType: semconv.MessagingOperationTypeCreate}}, nil
}

type producer struct {
	closeOnce sync.Once
	p         courier.Producer
	send      *instruments
	create    *instruments // span attributes of create spans only
}

// inject returns a copy of headers with ctx's creation context added.
func (p *producer) inject(ctx context.Context, headers map[string]string) map[string]string {
	h := make(map[string]string, len(headers)+2)
	for k, v := range headers {
		h[k] = v
	}
	p.send.cfg.Propagator.Inject(ctx, propagation.MapCarrier(h))
	return h
}

func (p *producer) Send(ctx context.Context, msg courier.Message) error {
	ta := p.send.topic(msg.Topic)
	start := time.Now()
	ctx, span := p.send.tracer.Start(ctx, ta.spanName, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(withID(ta.span, msg.ID)...))
	msg.Headers = p.inject(ctx, msg.Headers)
	err := p.p.Send(ctx, msg)
	p.send.finish(ctx, span, ta, start, err)
	return err
}

// withID returns attrs with messaging.message.id added when id is known, in a new slice.
func withID(attrs []attribute.KeyValue, id string, more ...attribute.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, len(attrs), len(attrs)+1+len(more))
	copy(out, attrs)
	if id != "" {
		out = append(out, semconv.MessagingMessageID(id))
	}
	return append(out, more...)
}

func (p *producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	if len(msgs) == 0 {
		return p.p.SendBatch(ctx, msgs)
	}
	start := time.Now()
	topic := msgs[0].Topic
	for _, m := range msgs[1:] {
		if m.Topic != topic {
			topic = "" // several destinations: the send span names none
			break
		}
	}
	out := make([]courier.Message, len(msgs))
	creates := make([]trace.Span, len(msgs))
	links := make([]trace.Link, len(msgs))
	for i, m := range msgs {
		cta := p.create.topic(m.Topic)
		cctx, span := p.send.tracer.Start(ctx, cta.spanName, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(withID(cta.span, m.ID)...), trace.WithTimestamp(start))
		m.Headers = p.inject(cctx, m.Headers)
		out[i], creates[i], links[i] = m, span, trace.Link{SpanContext: span.SpanContext()}
	}
	ta := p.send.topic(topic)
	sctx, span := p.send.tracer.Start(ctx, ta.spanName, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(withID(ta.span, "", semconv.MessagingBatchMessageCount(len(msgs)))...),
		trace.WithLinks(links...), trace.WithTimestamp(start))
	err := p.p.SendBatch(sctx, out)
	var be *courier.BatchError
	perMessage := errors.As(err, &be) && len(be.Errs) == len(msgs)
	// The duration is the batch's; the count is per message's topic and outcome.
	p.send.duration.Record(ctx, time.Since(start).Seconds(), p.send.outcome(ta, err))
	for i, cs := range creates {
		merr := err
		if perMessage {
			merr = be.Errs[i]
		}
		p.send.counted(p.send.topic(msgs[i].Topic), merr)
		fail(cs, merr)
		cs.End()
	}
	fail(span, err)
	span.End()
	return err
}

// outcome is the metric option for an operation on ta that ended with err.
func (in *instruments) outcome(ta *topicAttrs, err error) metric.MeasurementOption {
	if err == nil {
		return ta.ok
	}
	return metric.WithAttributeSet(attribute.NewSet(append(ta.metric[:len(ta.metric):len(ta.metric)], semconv.ErrorType(err))...))
}

// Close closes the producer and stops observing its counts.
func (p *producer) Close() error {
	p.closeOnce.Do(func() { p.send.reg.Unregister() })
	return p.p.Close()
}

// Middleware returns a middleware that traces and measures each handler call (see the
// package documentation). Config.Group is required. The callback that reports its message
// count stays registered with the MeterProvider: make one Middleware per consumer group and
// reuse it, rather than one per consumer start.
func Middleware(cfg Config) (courier.Middleware, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Group == "" {
		return nil, fmt.Errorf("%w: otelcourier: empty Group (messaging.consumer.group.name)", courier.ErrInvalidConfig)
	}
	in, err := newInstruments(cfg.withDefaults(), opProcess, semconv.MessagingOperationTypeProcess,
		func(m metric.Meter) (metric.Float64Histogram, error) {
			i, err := messagingconv.NewProcessDuration(m)
			return i.Inst(), err
		},
		func(m metric.Meter) (metric.Int64ObservableCounter, error) {
			i, err := messagingconv.NewClientConsumedMessagesObservable(m)
			return i.Inst(), err
		})
	if err != nil {
		return nil, err
	}
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &handler{next: next, in: in}
	}, nil
}

type handler struct {
	next courier.MessageHandler
	in   *instruments
}

func (h *handler) HandleMessage(ctx context.Context, msg courier.Message) error {
	ta := h.in.topic(msg.Topic)
	start := time.Now()
	created := h.in.cfg.Propagator.Extract(context.Background(), propagation.MapCarrier(msg.Headers))
	if bag := baggage.FromContext(created); bag.Len() > 0 {
		ctx = baggage.ContextWithBaggage(ctx, bag)
	}
	var partition []attribute.KeyValue
	if msg.Partition != 0 || h.in.cfg.System == "kafka" {
		partition = []attribute.KeyValue{semconv.MessagingDestinationPartitionID(strconv.Itoa(int(msg.Partition)))}
	}
	kind, attrs := trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(withID(ta.span, msg.ID, partition...)...)
	var span trace.Span
	switch remote := trace.SpanContextFromContext(created); {
	case !remote.IsValid():
		ctx, span = h.in.tracer.Start(ctx, ta.spanName, kind, attrs)
	case h.in.cfg.ParentOnCreation:
		ctx, span = h.in.tracer.Start(trace.ContextWithRemoteSpanContext(ctx, remote), ta.spanName, kind, attrs)
	default:
		ctx, span = h.in.tracer.Start(ctx, ta.spanName, kind, attrs, trace.WithLinks(trace.Link{SpanContext: remote}))
	}
	err := h.next.HandleMessage(ctx, msg)
	h.in.finish(ctx, span, ta, start, err)
	return err
}
