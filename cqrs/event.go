package cqrs

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/courier-go/courier"
)

// EventBusConfig configures an EventBus.
type EventBusConfig struct {
	// Producer sends the events; required. The bus does not close it.
	Producer courier.Producer
	// Topic returns the topic for an event type; required. Put the events of one aggregate
	// on one topic to keep their order.
	Topic func(eventType string) string
	// Marshaler encodes events; nil means JSON.
	Marshaler Marshaler
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c EventBusConfig) Validate() error {
	var problems []string
	if c.Producer == nil {
		problems = append(problems, "nil Producer")
	}
	if c.Topic == nil {
		problems = append(problems, "nil Topic")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: cqrs event bus: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// EventBus publishes typed events to a broker, for EventProcessors to handle.
type EventBus struct {
	pub publisher
}

// NewEventBus returns a bus configured by cfg.
func NewEventBus(cfg EventBusConfig) (*EventBus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Marshaler == nil {
		cfg.Marshaler = JSON{}
	}
	return &EventBus{pub: publisher{p: cfg.Producer, topic: cfg.Topic, m: cfg.Marshaler}}, nil
}

// Publish sends e, returning once the broker has it. An event that is Keyed goes with its
// AggregateID as the key.
func Publish[E any](ctx context.Context, b *EventBus, e E) error {
	return publish(ctx, b, e, nil)
}

// PublishVersion is Publish for an event whose version in its aggregate's stream is known:
// it travels in HeaderVersion and handlers see it in Event.Version.
func PublishVersion[E any](ctx context.Context, b *EventBus, e E, version int64) error {
	return publish(ctx, b, e, map[string]string{HeaderVersion: strconv.FormatInt(version, 10)})
}

func publish[E any](ctx context.Context, b *EventBus, e E, headers map[string]string) error {
	if b == nil {
		return fmt.Errorf("%w: publish on a nil EventBus", courier.ErrInvalidConfig)
	}
	name, err := TypeName[E]()
	if err != nil {
		return err
	}
	return b.pub.send(ctx, name, e, headers)
}

// EventProcessorConfig configures an EventProcessor.
type EventProcessorConfig struct {
	// Name names the processor in logs and errors, e.g. its consumer group; required.
	Name string
	// Marshaler decodes events; nil means JSON.
	Marshaler Marshaler
	// Unknown says what to do with an event type no handler is registered for; the default
	// is SkipUnknown.
	Unknown UnknownPolicy
	// Logger receives skipped types (never payloads); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c EventProcessorConfig) Validate() error {
	var problems []string
	if c.Name == "" {
		problems = append(problems, "empty Name")
	}
	if err := c.Unknown.validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: cqrs event processor: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// EventProcessor is a handler group: typed handlers, one per event type, that share one
// consumer. As a courier.MessageHandler it takes the messages of a Consumer; HandleEvent
// takes events from anywhere else (an event store subscription). Each message goes to the
// one handler of its type, and its error brings that message back. Two handlers of one
// event type belong to two processors, each with a consumer group of its own, so that each
// is retried apart from the other.
type EventProcessor struct {
	m Marshaler
	d dispatcher[struct{}]
}

// NewEventProcessor returns a processor without handlers.
func NewEventProcessor(cfg EventProcessorConfig) (*EventProcessor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Marshaler == nil {
		cfg.Marshaler = JSON{}
	}
	p := &EventProcessor{m: cfg.Marshaler}
	p.d.init(fmt.Sprintf("event processor %q", cfg.Name), cfg.Unknown, cfg.Logger)
	return p, nil
}

// OnEvent registers h as p's handler of events of type E. h gets the decoded event and its
// envelope (ID, stream, version...). A second handler for E fails with ErrDuplicateHandler,
// a nil h with ErrNilHandler.
func OnEvent[E any](p *EventProcessor, h func(ctx context.Context, e E, ev Event) error) error {
	if p == nil {
		return fmt.Errorf("%w: OnEvent on a nil EventProcessor", courier.ErrInvalidConfig)
	}
	var typed func(context.Context, struct{}, E, Event) error
	if h != nil {
		typed = func(ctx context.Context, _ struct{}, e E, ev Event) error { return h(ctx, e, ev) }
	}
	return register(&p.d.table, p.m, typed)
}

// HandleMessage decodes an event published by an EventBus (or any message whose HeaderType
// names its type) and runs its handler.
func (p *EventProcessor) HandleMessage(ctx context.Context, msg courier.Message) error {
	return p.d.handleMessage(ctx, msg)
}

// HandleEvent runs the handler of ev.Type.
func (p *EventProcessor) HandleEvent(ctx context.Context, ev Event) error {
	_, err := p.d.dispatch(ctx, struct{}{}, ev)
	return err
}

// Stats counts the events p handled, skipped and failed.
func (p *EventProcessor) Stats() Stats { return p.d.stats() }
