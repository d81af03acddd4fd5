package cqrs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/courier-go/courier"
)

// CommandBusConfig configures a CommandBus. The zero value is an in-process bus.
type CommandBusConfig struct {
	// Producer, when set, makes SendCommand publish commands to Topic, for the consumers
	// whose handler is a CommandBus with the handlers registered; nil handles them in
	// process, in SendCommand's goroutine. The bus does not close it.
	Producer courier.Producer
	// Topic receives every command type, so that the commands of one aggregate (see Keyed)
	// keep their order across types; required with Producer.
	Topic string
	// Marshaler encodes commands on the broker; nil means JSON.
	Marshaler Marshaler
	// Unknown says what HandleMessage does with a command nobody registered; the default
	// is SkipUnknown.
	Unknown UnknownPolicy
	// Logger receives skipped types (never payloads); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c CommandBusConfig) Validate() error {
	var problems []string
	if c.Producer != nil && c.Topic == "" {
		problems = append(problems, "Producer without Topic")
	}
	if c.Producer == nil && c.Topic != "" {
		problems = append(problems, fmt.Sprintf("Topic %q without Producer", c.Topic))
	}
	if err := c.Unknown.validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: cqrs command bus: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// CommandBus sends each command to the one handler of its type: in process, or over a
// broker topic. As a courier.MessageHandler it is the receiving side: give it to a
// Consumer of the topic. Register handlers with HandleCommand, send with SendCommand.
type CommandBus struct {
	cfg    CommandBusConfig
	pub    *publisher
	d      dispatcher[struct{}]
	mu     sync.RWMutex
	direct map[string]any // type name -> func(context.Context, C) error, for in-process sends
}

// NewCommandBus returns a bus configured by cfg.
func NewCommandBus(cfg CommandBusConfig) (*CommandBus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Marshaler == nil {
		cfg.Marshaler = JSON{}
	}
	b := &CommandBus{cfg: cfg, direct: make(map[string]any)}
	if cfg.Producer != nil {
		b.pub = &publisher{p: cfg.Producer, topic: func(string) string { return cfg.Topic }, m: cfg.Marshaler}
	}
	b.d.init("command bus", cfg.Unknown, cfg.Logger)
	return b, nil
}

// HandleCommand registers h as the handler of commands of type C on b. A type has one
// handler: a second registration fails with ErrDuplicateHandler, a nil h with ErrNilHandler.
func HandleCommand[C any](b *CommandBus, h func(ctx context.Context, cmd C) error) error {
	if b == nil {
		return fmt.Errorf("%w: HandleCommand on a nil CommandBus", courier.ErrInvalidConfig)
	}
	var typed func(context.Context, struct{}, C, Event) error
	if h != nil {
		typed = func(ctx context.Context, _ struct{}, cmd C, _ Event) error { return h(ctx, cmd) }
	}
	if err := register(&b.d.table, b.cfg.Marshaler, typed); err != nil {
		return err
	}
	name, _ := TypeName[C]() // register checked it
	b.mu.Lock()
	b.direct[name] = h
	b.mu.Unlock()
	return nil
}

// SendCommand sends cmd to its handler. In process, it returns the handler's error, or
// ErrNoHandler if C has none. Over a broker it returns once the broker has the command; a
// command that is Keyed goes with its AggregateID as the key.
func SendCommand[C any](ctx context.Context, b *CommandBus, cmd C) error {
	if b == nil {
		return fmt.Errorf("%w: SendCommand on a nil CommandBus", courier.ErrInvalidConfig)
	}
	name, err := TypeName[C]()
	if err != nil {
		return err
	}
	if b.pub != nil {
		return b.pub.send(ctx, name, cmd, nil)
	}
	b.mu.RLock()
	h, _ := b.direct[name].(func(context.Context, C) error)
	b.mu.RUnlock()
	if h == nil {
		return fmt.Errorf("%w: command bus: command %q (registered: %s)", ErrNoHandler, name, strings.Join(b.d.table.types(), ", "))
	}
	return h(ctx, cmd)
}

// HandleMessage decodes a command sent by SendCommand over a broker and runs its handler.
func (b *CommandBus) HandleMessage(ctx context.Context, msg courier.Message) error {
	return b.d.handleMessage(ctx, msg)
}

// Stats counts the commands HandleMessage handled, skipped and failed.
func (b *CommandBus) Stats() Stats { return b.d.stats() }
