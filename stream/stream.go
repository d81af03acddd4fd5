package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
)

// ErrInvalidPipeline is wrapped by the errors of a pipeline that was built wrong (nil stage
// function, nil producer, no source...). Pipeline.Validate returns it, and so does every
// HandleMessage of such a pipeline.
var ErrInvalidPipeline = errors.New("stream: invalid pipeline")

// Record is one element of a stream: a typed value with the key and event time it travels with.
// From takes them from the message (Key, Timestamp); SelectKey changes the key.
type Record[T any] struct {
	Key   string
	Value T
	Time  time.Time
}

// Decoder turns a delivered message into a typed value. An error makes the message come back
// (wrap the pipeline with a dead-letter middleware for values that will never decode).
type Decoder[T any] func(msg courier.Message) (T, error)

// Encoder turns a typed value into a message value.
type Encoder[T any] func(v T) ([]byte, error)

// Config configures a Pipeline.
type Config struct {
	// Name identifies the pipeline, as Kafka Streams' application.id does. It is part of every
	// output ID and state table, so two pipelines reading the same input never share output
	// IDs; keep it when redeploying. Required.
	Name string
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: stream config: empty Name", courier.ErrInvalidConfig)
	}
	return nil
}

// Pipeline is a graph of stages fed by one source. It is a courier.MessageHandler: give it to
// any Consumer, which keeps its per-key order and concurrency. Build it (From, Filter, Map,
// To...) before the first message; Validate reports every building mistake at once.
type Pipeline struct {
	name string

	mu      sync.Mutex
	errs    []error
	built   bool
	source  func(ctx context.Context, r *run, msg courier.Message) error
	nodes   int  // stages that need a per-message counter
	outputs bool // a stage sends outputs (To): messages need a run
	tables  map[string]bool
	windows []flusher

	ready atomic.Bool // built and valid: HandleMessage skips the lock
	runs  sync.Pool   // of *run
}

// flusher is a stage holding results it emits later (windows).
type flusher interface {
	flush(ctx context.Context, r *run, all bool) error
}

// New returns an empty pipeline. A bad cfg is reported by Validate.
func New(cfg Config) *Pipeline {
	p := &Pipeline{name: cfg.Name}
	if err := cfg.Validate(); err != nil {
		p.errs = append(p.errs, err)
	}
	return p
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// fail records a building mistake; stage names the stage ("Map", "To"...).
func (p *Pipeline) fail(stage, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, fmt.Errorf("%s: %s", stage, fmt.Sprintf(format, args...)))
	p.ready.Store(false)
}

// attach runs f under the pipeline's lock unless the pipeline is built already.
func (p *Pipeline) attach(stage string, f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.built {
		p.errs = append(p.errs, fmt.Errorf("%s: added after the pipeline started handling messages", stage))
		p.ready.Store(false) // Validate reports it from now on
		return
	}
	f()
}

// newNode returns the index of a new per-message counter (-1 once the pipeline is built:
// attach refuses the stage then).
func (p *Pipeline) newNode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.built {
		return -1
	}
	p.nodes++
	return p.nodes - 1
}

// sends records that a stage sends outputs; called from an attach function (lock held).
func (p *Pipeline) sends() { p.outputs = true }

// claimTable reserves a state table name for stage; false (and a recorded mistake) if another
// stage of the pipeline has it.
func (p *Pipeline) claimTable(stage, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tables == nil {
		p.tables = map[string]bool{}
	}
	if p.tables[name] {
		p.errs = append(p.errs, fmt.Errorf("%s: state table name %q is used twice", stage, name))
		return false
	}
	p.tables[name] = true
	return true
}

// Validate freezes the pipeline and returns every mistake made building it, wrapping
// ErrInvalidPipeline, or nil.
func (p *Pipeline) Validate() error {
	if p.ready.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.built = true
	errs := p.errs
	if p.source == nil {
		errs = append(errs, errors.New("no source: call From"))
	}
	if len(errs) == 0 {
		p.ready.Store(true)
		return nil
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidPipeline, p.name, strings.Join(msgs, "; "))
}

// HandleMessage runs msg through the pipeline and sends its outputs. It returns nil once every
// output is sent and every state update is stored; an error makes msg come back, and its
// redelivery produces outputs with the same IDs and does not update state twice.
func (p *Pipeline) HandleMessage(ctx context.Context, msg courier.Message) error {
	if err := p.Validate(); err != nil {
		return err
	}
	var err error
	if p.nodes == 0 && !p.outputs {
		err = p.source(ctx, nil, msg) // nothing numbers records or sends: no run needed
	} else {
		r := p.newRun(msg.ID)
		defer p.freeRun(r)
		err = r.finish(ctx, p.source(ctx, r, msg))
	}
	if err != nil {
		return fmt.Errorf("stream %q: message %q: %w", p.name, msg.ID, err)
	}
	return nil
}

// Flush emits the results of every window that is still open, as if its grace period had
// passed, and sends them. Call it when the input has ended (a bounded replay, a test, a
// shutdown that must not leave results behind). Windows flushed this way are closed: records
// for them that arrive later are late.
func (p *Pipeline) Flush(ctx context.Context) error {
	if err := p.Validate(); err != nil {
		return err
	}
	r := p.newRun("")
	var err error
	for _, w := range p.windows {
		if err = w.flush(ctx, r, true); err != nil {
			break
		}
	}
	if err := r.finish(ctx, err); err != nil {
		return fmt.Errorf("stream %q: flush: %w", p.name, err)
	}
	return nil
}

// run is what one input message's trip through the pipeline keeps: the counters that number
// its records and outputs. Its outputs wait in a pending shared with the sub-runs of the
// window results it emits.
type run struct {
	p       *Pipeline
	inputID string
	counts  []int // per node
	outputs int
	pending *pending // own, or the parent run's for a sub-run
	own     pending
}

// pending holds the outputs of a run until they are sent, and what to do once they were sent
// or failed.
type pending struct {
	order []courier.Producer
	out   map[courier.Producer][]courier.Message
	after []func(ctx context.Context, sent bool) error
}

// newRun returns a run for the input inputID, from the pool when it has one.
func (p *Pipeline) newRun(inputID string) *run {
	r, _ := p.runs.Get().(*run)
	if r == nil {
		r = &run{p: p, counts: make([]int, p.nodes)}
	}
	r.inputID = inputID
	r.pending = &r.own
	return r
}

// freeRun puts r back in the pool, emptied (keeping its allocations when they are small).
func (p *Pipeline) freeRun(r *run) {
	if len(r.counts) > 0 {
		clear(r.counts)
	}
	r.outputs = 0
	switch q := &r.own; {
	case len(q.order) > 16:
		*q = pending{}
	case len(q.order) > 0 || len(q.after) > 0:
		clear(q.out)
		clear(q.order)
		clear(q.after)
		q.order, q.after = q.order[:0], q.after[:0]
	}
	r.pending = nil
	p.runs.Put(r)
}

// sub returns a run for outputs whose IDs derive from base instead of the input's ID (window
// results, whose IDs depend on the window only), sending with r's outputs.
func (r *run) sub(base string) *run {
	return &run{p: r.p, inputID: base, counts: make([]int, r.p.nodes), pending: r.pending}
}

// next returns how many records node has seen before in this run, and counts one more.
func (r *run) next(node int) int {
	n := r.counts[node]
	r.counts[node]++
	return n
}

// recordID is the ID of the n-th record a stage sees in this run, for state updates.
func (r *run) recordID(node int) string {
	return r.inputID + "#" + strconv.Itoa(r.next(node))
}

// output queues msg for prod with an ID derived from the input's ID and the output's index.
func (r *run) output(prod courier.Producer, msg courier.Message) {
	msg.ID = DeriveID(r.p.name, r.inputID, r.outputs)
	r.outputs++
	q := r.pending
	if q.out == nil {
		q.out = map[courier.Producer][]courier.Message{}
	}
	msgs, ok := q.out[prod]
	if !ok {
		q.order = append(q.order, prod)
	}
	q.out[prod] = append(msgs, msg)
}

// afterSend registers f to be called once the run's outputs were sent (true) or were not
// (false). An error from f fails the run.
func (r *run) afterSend(f func(ctx context.Context, sent bool) error) {
	r.pending.after = append(r.pending.after, f)
}

// finish sends the queued outputs, one batch per producer, then calls the afterSend functions.
// err is the error of the run so far: when it is not nil nothing is sent.
func (r *run) finish(ctx context.Context, err error) error {
	q := r.pending
	if err == nil {
		for _, prod := range q.order {
			msgs := q.out[prod]
			if len(msgs) == 1 {
				err = prod.Send(ctx, msgs[0])
			} else {
				err = prod.SendBatch(ctx, msgs)
			}
			if err != nil {
				err = fmt.Errorf("sending %d outputs: %w", len(msgs), err)
				break
			}
		}
	}
	sent := err == nil
	for _, f := range q.after {
		err = errors.Join(err, f(ctx, sent))
	}
	return err
}

// DeriveID returns the ID of output number index of the input message inputID in the
// pipeline named name: a UUID (version 8) made from a SHA-256 of the three, so a redelivered
// input gets the same output IDs and consumers downstream can drop the repeats.
func DeriveID(name, inputID string, index int) string {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(name))))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte(inputID))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(index)))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Stream is a typed stream of records inside a pipeline. Stages (Filter, Map, To...) take a
// Stream and attach to it; a Stream may feed several stages, which each get every record, in
// the order they were attached.
type Stream[T any] struct {
	p    *Pipeline
	next []func(ctx context.Context, r *run, rec Record[T]) error
}

// Pipeline returns the pipeline s belongs to.
func (s *Stream[T]) Pipeline() *Pipeline { return s.p }

func (s *Stream[T]) emit(ctx context.Context, r *run, rec Record[T]) error {
	for _, f := range s.next {
		if err := f(ctx, r, rec); err != nil {
			return err
		}
	}
	return nil
}

// then attaches f to s; stage names the stage for errors. A nil s is recorded nowhere (there
// is no pipeline to record it in), so stages check it first with valid.
func (s *Stream[T]) then(stage string, f func(ctx context.Context, r *run, rec Record[T]) error) {
	s.p.attach(stage, func() { s.next = append(s.next, f) })
}

// derived returns a new stream of the same pipeline as s.
func derived[U, T any](s *Stream[T]) *Stream[U] { return &Stream[U]{p: s.p} }

// From makes the pipeline's source: each delivered message is decoded by dec into a record
// with the message's Key and Timestamp. A pipeline has one source.
func From[T any](p *Pipeline, dec Decoder[T]) *Stream[T] {
	s := &Stream[T]{p: p}
	if dec == nil {
		p.fail("From", "nil Decoder")
		return s
	}
	p.attach("From", func() {
		if p.source != nil {
			p.errs = append(p.errs, errors.New("From: the pipeline has a source already"))
			return
		}
		p.source = func(ctx context.Context, r *run, msg courier.Message) error {
			v, err := dec(msg)
			if err != nil {
				return fmt.Errorf("decoding: %w", err)
			}
			return s.emit(ctx, r, Record[T]{Key: msg.Key, Value: v, Time: msg.Timestamp})
		}
	})
	return s
}
