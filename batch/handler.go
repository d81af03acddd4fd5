package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/courier-go/courier"
)

// BatchHandler handles messages a batch at a time. Returning nil acknowledges every message
// of the batch; an error makes all of them come back, unless it is (or wraps) a *PartialError,
// which names the ones that failed.
type BatchHandler interface {
	HandleBatch(ctx context.Context, msgs []courier.Message) error
}

// BatchHandlerFunc adapts a function to a BatchHandler.
type BatchHandlerFunc func(ctx context.Context, msgs []courier.Message) error

// HandleBatch calls f.
func (f BatchHandlerFunc) HandleBatch(ctx context.Context, msgs []courier.Message) error {
	return f(ctx, msgs)
}

// PartialError is returned by a BatchHandler when only some messages of a batch failed.
// Failed holds their indexes in the slice HandleBatch got; Err is the cause reported for them.
// The other messages are acknowledged.
type PartialError struct {
	Failed []int
	Err    error
}

// Error says how many messages failed and why.
func (e *PartialError) Error() string {
	return fmt.Sprintf("batch: %d messages of the batch failed: %v", len(e.Failed), e.Err)
}

// Unwrap returns Err.
func (e *PartialError) Unwrap() error { return e.Err }

// Defaults of HandlerConfig.
const (
	// DefaultMaxSize is 1, the only size every consumer can fill (Concurrency defaults to 1):
	// set MaxSize and the consumer's Concurrency together.
	DefaultMaxSize = 1
	DefaultMaxWait = 100 * time.Millisecond
)

// HandlerConfig configures a Handler. The zero value selects the defaults.
type HandlerConfig struct {
	// MaxSize is the most messages in one batch; 0 means DefaultMaxSize. It must not exceed the
	// Concurrency of the consumer feeding the handler (see CheckConsumer).
	MaxSize int
	// MaxWait is how long a batch waits for more messages after its first; 0 means
	// DefaultMaxWait.
	MaxWait time.Duration
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c HandlerConfig) Validate() error {
	var problems []string
	if c.MaxSize < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxSize %d", c.MaxSize))
	}
	if c.MaxWait < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxWait %v", c.MaxWait))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: batch handler config: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// CheckConsumer says whether batches of c can fill up under a consumer configured by cc: each
// delivery waits for its batch, so no batch grows beyond cc.Concurrency messages, and a MaxSize
// above it would make every batch wait out MaxWait.
func (c HandlerConfig) CheckConsumer(cc courier.ConsumerConfig) error {
	c, cc = c.withDefaults(), cc.WithDefaults()
	if c.MaxSize > cc.Concurrency {
		return fmt.Errorf("%w: batch handler MaxSize %d exceeds the Concurrency %d of consumer group %q: "+
			"each delivery waits for its batch, so a batch can never hold more than Concurrency messages; "+
			"raise Concurrency to at least MaxSize", courier.ErrInvalidConfig, c.MaxSize, cc.Concurrency, cc.Group)
	}
	return nil
}

func (c HandlerConfig) withDefaults() HandlerConfig {
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	return c
}

// Handler is a courier.MessageHandler that gathers the messages of concurrent deliveries into
// batches for a BatchHandler. Create it with NewHandler.
type Handler struct {
	h   BatchHandler
	cfg HandlerConfig

	mu  sync.Mutex
	cur *group // the batch being gathered; nil when none
}

// group is one batch being gathered and handled.
type group struct {
	msgs   []courier.Message
	left   []bool // taken back by a delivery whose context ended before the batch was sealed
	live   int
	full   chan struct{} // closed when the batch reached MaxSize
	sealed bool
	errs   []error // per msgs entry, set before done is closed
	done   chan struct{}
}

// NewHandler returns a Handler running h on batches gathered as cfg says.
func NewHandler(h BatchHandler, cfg HandlerConfig) (*Handler, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: batch: nil BatchHandler", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{h: h, cfg: cfg.withDefaults()}, nil
}

// HandleMessage adds msg to the batch being gathered and returns once that batch has been
// handled: nil if msg succeeded, its error otherwise. The first delivery of a batch runs
// HandleBatch, with its context, when the batch is full or MaxWait has passed; if that
// context ends first, the batch is not handled and all its messages come back. A later
// delivery whose context ends leaves the batch if it has not started yet (its message comes
// back), or returns at once without the batch's result (its message comes back, and may
// have been handled: at-least-once).
func (h *Handler) HandleMessage(ctx context.Context, msg courier.Message) error {
	h.mu.Lock()
	g := h.cur
	leader := g == nil
	if leader {
		g = &group{full: make(chan struct{}), done: make(chan struct{})}
		h.cur = g
	}
	idx := len(g.msgs)
	g.msgs = append(g.msgs, msg)
	g.left = append(g.left, false)
	g.live++
	if g.live >= h.cfg.MaxSize {
		h.seal(g)
		close(g.full)
	}
	h.mu.Unlock()

	if leader {
		return h.lead(ctx, g, idx)
	}
	select {
	case <-g.done:
		return g.errs[idx]
	case <-ctx.Done():
	}
	h.mu.Lock()
	if !g.sealed { // not handled yet: leave the batch, the message comes back
		g.left[idx] = true
		g.live--
		h.mu.Unlock()
		return fmt.Errorf("batch: delivery of %s on %q ended before its batch was handled: %w", msg.ID, msg.Topic, ctx.Err())
	}
	h.mu.Unlock()
	select {
	case <-g.done:
		return g.errs[idx]
	default: // the batch is being handled; without its result the message must come back
		return fmt.Errorf("batch: delivery of %s on %q ended while its batch was being handled: %w", msg.ID, msg.Topic, ctx.Err())
	}
}

// lead waits for g to fill up or time out, then handles it.
func (h *Handler) lead(ctx context.Context, g *group, idx int) error {
	t := time.NewTimer(h.cfg.MaxWait)
	defer t.Stop()
	var ctxErr error
	select {
	case <-g.full:
	case <-t.C:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	h.mu.Lock()
	h.seal(g)
	h.mu.Unlock()
	msgs := make([]courier.Message, 0, g.live)
	idxs := make([]int, 0, g.live)
	for i, m := range g.msgs {
		if !g.left[i] {
			msgs = append(msgs, m)
			idxs = append(idxs, i)
		}
	}
	errs := make([]error, len(g.msgs))
	if ctxErr != nil { // nothing handled: every message comes back
		for _, i := range idxs {
			errs[i] = ctxErr
		}
	} else {
		h.apply(errs, idxs, h.call(ctx, msgs))
	}
	g.errs = errs
	close(g.done)
	return errs[idx]
}

// apply spreads the batch's error over its messages.
func (h *Handler) apply(errs []error, idxs []int, err error) {
	if err == nil {
		return
	}
	var pe *PartialError
	if errors.As(err, &pe) && !slices.ContainsFunc(pe.Failed, func(i int) bool { return i < 0 || i >= len(idxs) }) {
		for _, f := range pe.Failed {
			errs[idxs[f]] = fmt.Errorf("batch: message %d of %d failed: %w", f, len(idxs), pe.Err)
		}
		return
	}
	if pe != nil { // indexes out of range: which failed is unknown, so all come back
		err = fmt.Errorf("batch: PartialError names indexes outside the batch of %d: %w", len(idxs), err)
	}
	for _, i := range idxs {
		errs[i] = err
	}
}

// call runs HandleBatch, turning a panic into an error: the other deliveries of the batch
// wait for its result and must get one.
func (h *Handler) call(ctx context.Context, msgs []courier.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("batch: HandleBatch panicked: %v", p)
		}
	}()
	return h.h.HandleBatch(ctx, msgs)
}

// seal stops g from taking more messages; h.mu is held.
func (h *Handler) seal(g *group) {
	g.sealed = true
	if h.cur == g {
		h.cur = nil
	}
}
