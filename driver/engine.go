package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/wake"
)

// Delivery is one message handed to the engine by an adapter.
type Delivery struct {
	Msg courier.Message
	// Ctx, when set, is the context the handler gets instead of Engine.Context(), from which
	// it must derive. Adapters use it to cancel the work of one partition: a delivery whose Ctx
	// has ended is released instead of handled.
	Ctx context.Context
	// Revoked, when set, is checked before the handler starts: once it is true the delivery
	// is released instead. Adapters set it when a partition goes away, so that what waits in
	// the queue goes back to the broker at once while running handlers keep Ctx and finish.
	Revoked *atomic.Bool
	// Ref and Tag are the adapter's own handle for settling the delivery (a channel and a
	// delivery tag, a stream entry ID...). The engine only carries them.
	Ref any
	Tag uint64
	// Undecodable, when set, says why the broker's message could not be made into Msg (which
	// holds what could be read of it): the handler never sees it; it goes at once to
	// OnExhausted, as a message whose last attempt failed with this error (marked
	// courier.Permanent), so that a poison message reaches the end the consumer was given
	// (dead letter, drop with a log) instead of coming back without end.
	Undecodable error

	kq   *keyQueue // the queue of its key, when it has one: set by the engine when admitted
	fail *failures // its failures so far, from the first: set by the engine
}

// failures is the story of a delivery's failed attempts, kept by the engine.
type failures struct {
	courier.ExhaustedError
	exhausted bool // the last attempt failed: OnExhausted is due instead of the handler
}

// Settler is the adapter's side of the engine. Its methods are called from the engine's
// goroutines, concurrently, and must be safe for that.
type Settler interface {
	// Ack acknowledges d to the broker: its handler returned nil. An error is logged; the
	// broker will deliver the message again, which at-least-once allows.
	Ack(ctx context.Context, d Delivery) error
	// Retry is called when the backoff after a failed attempt has passed, before the message
	// is handled again. It returns the delivery to handle, with Msg.Attempt increased (from the
	// broker's own delivery count where it has one). An error means the message cannot be
	// handled again here (another consumer took it over): the engine logs it and moves on to
	// the next message of its key without calling Ack or Release.
	Retry(ctx context.Context, d Delivery) (Delivery, error)
	// Release hands d back unhandled: the engine is closing, or d.Ctx ended. The broker must
	// deliver it again, to this group.
	Release(d Delivery)
}

// BatchAcker is a Settler that acknowledges at once the deliveries one worker handled in a
// row (at most a few dozen): one lock or one request for all of them. The engine then
// calls AckAll for those deliveries, after the last of them was handled, and never Ack.
type BatchAcker interface {
	AckAll(ctx context.Context, ds []*Delivery) error
}

// EngineConfig configures an Engine. Zero values select the defaults.
type EngineConfig struct {
	Concurrency int             // handlers running at once; default 1
	QueueSize   int             // deliveries accepted and not yet settled, Submit blocks beyond; default 4*Concurrency, at least 64
	Backoff     courier.Backoff // delay before a failed message is retried; zero means courier.DefaultBackoff
	// DrainTimeout is how long Close lets running handlers finish before cancelling their
	// context; default courier.DefaultDrainTimeout.
	DrainTimeout time.Duration
	Logger       *slog.Logger // default slog.Default()
	Broker       string       // broker name for logs ("redis", "kafka"...)
	Group        string       // group name for logs
	// MaxAttempts and OnExhausted are courier.ConsumerConfig's: once a delivery whose
	// Msg.Attempt reached MaxAttempts (0: no bound) fails, or fails with a permanent error,
	// OnExhausted (default courier.DropExhausted on Logger) decides its fate in its place.
	MaxAttempts int
	OnExhausted courier.ExhaustedFunc
}

func (c EngineConfig) withDefaults() EngineConfig {
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.QueueSize <= 0 {
		c.QueueSize = max(4*c.Concurrency, 64)
	}
	if c.QueueSize < c.Concurrency {
		c.QueueSize = c.Concurrency
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = courier.DefaultDrainTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OnExhausted == nil {
		c.OnExhausted = courier.DropExhausted(c.Logger.With("broker", c.Broker, "group", c.Group), nil)
	}
	return c
}

// FromConsumerConfig returns the engine settings of a consumer's portable config (as
// ConsumerConfig returns it: validated, with its defaults).
func FromConsumerConfig(broker string, cc courier.ConsumerConfig) EngineConfig {
	return EngineConfig{
		Concurrency:  cc.Concurrency,
		Backoff:      cc.Backoff,
		DrainTimeout: cc.DrainTimeout,
		Logger:       cc.Logger,
		Broker:       broker,
		Group:        cc.Group,
		MaxAttempts:  cc.MaxAttempts,
		OnExhausted:  cc.OnExhausted,
	}
}

// ConsumerConfig is the first thing an adapter's NewConsumer does with the caller's config:
// it validates cfg, with an error that names the broker, and returns it with its defaults,
// the broker's own logger taking the place of a nil Logger before slog.Default, so that a
// consumer logs where its broker was told to.
func ConsumerConfig(broker string, cfg courier.ConsumerConfig, brokerLogger *slog.Logger) (courier.ConsumerConfig, error) {
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%s: new consumer: %w", broker, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = brokerLogger
	}
	return cfg.WithDefaults(), nil
}

// Engine dispatches deliveries to a handler. Create it with NewEngine; Close it when the adapter
// stops consuming.
type Engine struct {
	h     courier.MessageHandler
	s     Settler
	batch BatchAcker // s, when it acknowledges in batches
	cfg   EngineConfig
	log   *slog.Logger

	ctx    context.Context // handlers' and settlers' context; ends when the drain time is over
	cancel context.CancelFunc

	closing  chan struct{} // closed by Close
	stopping atomic.Bool   // set by Close or a stop from OnExhausted: start no handler

	stopConsume context.CancelCauseFunc // ends the Guard's Consume run, when there is one
	stopErr     atomic.Pointer[error]   // why OnExhausted stopped the consumer

	mu          sync.Mutex
	closed      bool
	outstanding int                  // accepted and not yet settled; Submit waits at QueueSize
	space       wake.Signal          // broadcast when outstanding falls to half QueueSize
	ready       queue                // deliveries ready to run
	idle        int                  // workers waiting on work
	pending     int                  // deliveries made ready since workers were last woken
	work        sync.Cond            // signalled when ready grows or Close begins
	keys        map[string]*keyQueue // keys with a message in flight or waiting to retry
	free        []*keyQueue
	retries     map[*retry]struct{}

	// ackLog counts failed acknowledgements between two log lines.
	ackLog struct {
		sync.Mutex
		last   time.Time
		failed int
	}

	workers   sync.WaitGroup
	timers    sync.WaitGroup
	closeOnce sync.Once
}

// retry is a failed delivery waiting for its backoff.
type retry struct {
	d Delivery
	t *time.Timer
}

// New starts an engine that runs h. Handlers get a context that carries parent's values but
// not its cancellation: they end at the drain deadline instead (see Close).
func NewEngine(parent context.Context, h courier.MessageHandler, s Settler, cfg EngineConfig) *Engine {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	e := &Engine{
		h: h, s: s, cfg: cfg,
		log:     cfg.Logger.With("broker", cfg.Broker, "group", cfg.Group),
		ctx:     ctx,
		cancel:  cancel,
		closing: make(chan struct{}),
		keys:    make(map[string]*keyQueue),
		retries: make(map[*retry]struct{}),
	}
	e.batch, _ = s.(BatchAcker)
	e.stopConsume, _ = parent.Value(stopKey{}).(context.CancelCauseFunc)
	e.work.L = &e.mu
	e.workers.Add(cfg.Concurrency)
	for range cfg.Concurrency {
		go e.worker()
	}
	return e
}

// Context is the context handlers get. Adapters derive Delivery.Ctx from it.
func (e *Engine) Context() context.Context { return e.ctx }

// Err returns why OnExhausted stopped the engine (an error wrapping courier.ErrStop), or nil.
// The engine then starts no handler and releases what it is given; when its parent context
// came from Guard.Start, that Consume run's context is cancelled too and Guard's finish makes
// Consume return this error.
func (e *Engine) Err() error {
	if p := e.stopErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Submit hands d to the engine. Deliveries of one key must be submitted in broker order.
// It blocks while QueueSize deliveries are unsettled, and returns ctx's error or
// courier.ErrClosed if it ends first, or Err once OnExhausted stopped the engine: then d was
// not accepted and stays the adapter's to release. Safe for concurrent use.
func (e *Engine) Submit(ctx context.Context, d Delivery) error {
	e.mu.Lock()
	if err := e.waitForRoom(ctx); err != nil {
		return err
	}
	e.admit(d)
	e.wakeWorkers()
	return nil
}

// SubmitAll hands ds to the engine in order, as Submit would one by one, but taking the
// engine's lock once per run of deliveries that fit rather than once per delivery: adapters
// that read batches from their broker use it. It returns how many it accepted; on an error,
// ds[n:] were not accepted and stay the adapter's to release.
func (e *Engine) SubmitAll(ctx context.Context, ds []Delivery) (n int, err error) {
	e.mu.Lock()
	for i := range ds {
		if e.outstanding >= e.cfg.QueueSize && e.pending > 0 {
			e.wakeWorkers() // let the workers start on what is in before waiting for room
			e.mu.Lock()
		}
		if err := e.waitForRoom(ctx); err != nil {
			return i, err
		}
		e.admit(ds[i])
	}
	e.wakeWorkers()
	return len(ds), nil
}

// wakeWorkers releases e.mu, then wakes one idle worker if deliveries were made ready since
// the last wake: after the unlock, so that a woken worker does not block on the lock at
// once. One, not one per delivery: a woken worker that leaves work behind wakes the next,
// so that work spreads to as many workers as it needs without a wake-up (a futex call)
// for each of them up front.
func (e *Engine) wakeWorkers() {
	wake := e.idle > 0 && e.pending > 0
	e.pending = 0
	e.mu.Unlock()
	if wake {
		e.work.Signal()
	}
}

// waitForRoom waits, with e.mu held, until one more delivery fits. On success e.mu is still
// held; on an error (ctx ended, or the engine closed) it has been released.
func (e *Engine) waitForRoom(ctx context.Context) error {
	for !e.closed && e.outstanding >= e.cfg.QueueSize {
		if err := e.space.Wait(ctx, &e.mu, e.closing); err != nil {
			if errors.Is(err, wake.ErrStopped) {
				return courier.ErrClosed
			}
			return err
		}
	}
	if e.closed {
		e.mu.Unlock()
		return courier.ErrClosed
	}
	if err := e.Err(); err != nil {
		e.mu.Unlock()
		return err // stopped by OnExhausted: the adapter stops feeding it
	}
	return nil
}

// admit accepts d, with e.mu held and room for it.
func (e *Engine) admit(d Delivery) {
	e.outstanding++
	if k := d.Msg.Key; k != "" {
		if kq, busy := e.keys[k]; busy {
			d.kq = kq
			kq.push(d) // runs when the messages before it are done
			return
		}
		d.kq = e.newKeyQueue(k)
		e.keys[k] = d.kq
	}
	e.enqueue(d)
}

// enqueue makes d ready to run; e.mu is held. The caller wakes a worker for it with
// wakeWorkers.
func (e *Engine) enqueue(d Delivery) {
	e.ready.push(d)
	e.pending++
}

// maxTake bounds how many ready deliveries a worker takes at once. Taking several under one
// lock, and settling them under the next, is what keeps the engine's lock from bouncing
// between the cores of the submitting and the handling goroutines on every message.
const maxTake = 64

// takeBudget is about how much handler time a worker takes at once: fast handlers are
// taken by the dozen, slow ones one at a time, so that a key's next message (ready only
// once the worker is back for more) and the other workers never wait long behind a batch.
const takeBudget = 50 * time.Microsecond

// takeLimit is how many deliveries to take at once when each took about each to run.
func takeLimit(each time.Duration) int {
	return int(min(maxTake, max(1, takeBudget/max(each, 1))))
}

func (e *Engine) worker() {
	defer e.workers.Done()
	var (
		taken   []Delivery  // taken from ready, run outside the lock
		settled []*keyQueue // key queues of the deliveries settled since the lock was last held
		acks    []*Delivery // handled ones of taken, for a BatchAcker
		limit   = 1         // how many to take at most, from the time the last ones took
	)
	e.mu.Lock()
	for {
		e.forget(settled)
		clear(settled)
		settled = settled[:0]
		for e.ready.len() == 0 && !e.closed {
			e.idle++
			e.work.Wait()
			e.idle--
		}
		if e.closed {
			e.mu.Unlock()
			return
		}
		// A fair share, so that the other workers run beside this one: what is left wakes
		// those that wait.
		taken = e.ready.take(min(limit, (e.ready.len()+e.cfg.Concurrency-1)/e.cfg.Concurrency), taken)
		e.pending = e.ready.len()
		e.wakeWorkers()
		start := time.Now()
		for i := range taken {
			switch e.run(&taken[i]) {
			case handled:
				if e.batch == nil {
					e.ack(&taken[i])
				} else {
					acks = append(acks, &taken[i])
				}
			case retrying:
				continue
			}
			settled = append(settled, taken[i].kq)
		}
		if len(acks) > 0 {
			e.ackAll(acks)
			clear(acks)
			acks = acks[:0]
		}
		limit = takeLimit(time.Since(start) / time.Duration(len(taken)))
		clear(taken)
		taken = taken[:0]
		e.mu.Lock()
	}
}

// result is what became of a delivery run.
type result int

const (
	handled  result = iota // the handler returned nil: the caller acknowledges it
	released               // handed back to the broker
	retrying               // waiting out its backoff, keeping its place
)

// run handles d, or releases it when it must not run.
func (e *Engine) run(d *Delivery) result {
	if e.stopping.Load() || (d.Revoked != nil && d.Revoked.Load()) {
		e.s.Release(*d)
		return released
	}
	ctx := e.ctx
	if d.Ctx != nil {
		ctx = d.Ctx
	}
	if ctx.Err() != nil {
		e.s.Release(*d) // the partition of d has ended: the broker delivers it again
		return released
	}
	if d.Undecodable != nil && d.fail == nil {
		e.failed(d, courier.Permanent(d.Undecodable))
	}
	if d.fail == nil || !d.fail.exhausted {
		err := e.call(ctx, d)
		if err == nil {
			return handled
		}
		if ctx.Err() != nil {
			e.s.Release(*d) // stopped by the drain or its partition's end, not by its own fault
			return released
		}
		if !e.failed(d, err) {
			if e.stopping.Load() {
				e.s.Release(*d) // no retry once closing: the broker delivers it again
				return released
			}
			e.scheduleRetry(*d, err, "courier: handler failed; retrying after backoff")
			return retrying
		}
	}
	// Its last attempt failed: OnExhausted decides, in the message's place (also while
	// closing, within the drain time, so that a message is not handled once more for it).
	err := e.call(ctx, d)
	switch {
	case err == nil:
		return handled
	case errors.Is(err, courier.ErrStop):
		e.stop(err)
		e.s.Release(*d)
		return released
	case e.stopping.Load() || ctx.Err() != nil:
		e.s.Release(*d)
		return released
	default:
		e.scheduleRetry(*d, err, "courier: OnExhausted failed; calling it again after backoff")
		return retrying
	}
}

// failed records that d's handler failed with err, and reports whether that was its last
// attempt.
func (e *Engine) failed(d *Delivery, err error) (exhausted bool) {
	now := time.Now()
	if d.fail == nil {
		d.fail = &failures{ExhaustedError: courier.ExhaustedError{FirstAttempt: d.Msg.Attempt, FirstFailure: now}}
	}
	f := d.fail
	f.Err, f.Attempts, f.LastFailure = err, d.Msg.Attempt, now
	f.Permanent = courier.IsPermanent(err)
	f.exhausted = f.Permanent || (e.cfg.MaxAttempts > 0 && d.Msg.Attempt >= e.cfg.MaxAttempts)
	return f.exhausted
}

// stop stops the engine for good on OnExhausted's word: no handler starts any more, and the
// Consume run is told to end with err.
func (e *Engine) stop(err error) {
	err = fmt.Errorf("%s: group %q: %w", e.cfg.Broker, e.cfg.Group, err)
	if !e.stopErr.CompareAndSwap(nil, &err) {
		return
	}
	e.stopping.Store(true)
	e.log.Error("courier: OnExhausted stopped the consumer", "err", err)
	if e.stopConsume != nil {
		e.stopConsume(err)
	}
}

func (e *Engine) ack(d *Delivery) {
	if err := e.s.Ack(e.ctx, *d); err != nil {
		e.ackFailed(d, 1, err)
	}
}

func (e *Engine) ackAll(ds []*Delivery) {
	if err := e.batch.AckAll(e.ctx, ds); err != nil {
		e.ackFailed(ds[0], len(ds), err)
	}
}

// ackFailInterval is how often at most failed acknowledgements are logged: when a broker
// connection drops, every ack in flight fails at once, and one line says as much as a
// thousand.
const ackFailInterval = time.Second

// ackFailed logs that n acknowledgements, the first of d, failed: at once if none was logged
// in the last ackFailInterval, else counted into the next line.
func (e *Engine) ackFailed(d *Delivery, n int, err error) {
	e.ackLog.Lock()
	now := time.Now()
	e.ackLog.failed += n
	if now.Sub(e.ackLog.last) < ackFailInterval {
		e.ackLog.Unlock()
		return
	}
	failed := e.ackLog.failed
	e.ackLog.failed, e.ackLog.last = 0, now
	e.ackLog.Unlock()
	e.log.Warn("courier: ack failed; the broker will deliver the messages again",
		"topic", d.Msg.Topic, "id", d.Msg.ID, "failed", failed, "err", err)
}

// call runs the handler, or OnExhausted once the last attempt failed, turning a panic into
// an error.
func (e *Engine) call(ctx context.Context, d *Delivery) (err error) {
	hook := d.fail != nil && d.fail.exhausted
	defer func() {
		if p := recover(); p != nil {
			what := "handler"
			if hook {
				what = "OnExhausted"
			}
			e.log.Error("courier: "+what+" panicked", "topic", d.Msg.Topic, "id", d.Msg.ID,
				"attempt", d.Msg.Attempt, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("courier: %s panicked: %v", what, p)
		}
	}()
	if hook {
		ee := d.fail.ExhaustedError // a copy: the hook may keep it
		return e.cfg.OnExhausted(ctx, d.Msg, &ee)
	}
	return e.h.HandleMessage(ctx, d.Msg)
}

// forget frees the places of settled deliveries, given by their key queues (nil for one
// without key), with e.mu held: the next message of each key becomes ready, and Submit may
// go on once half the queue is free.
func (e *Engine) forget(kqs []*keyQueue) {
	if len(kqs) == 0 {
		return
	}
	e.outstanding -= len(kqs)
	if e.space.Waiting() && e.outstanding <= e.cfg.QueueSize/2 {
		e.space.Broadcast() // wake Submit once half the queue is free, not on every settle
	}
	if e.closed {
		return // Close releases what waits behind them
	}
	for _, kq := range kqs {
		switch {
		case kq == nil:
		case kq.len() == 0:
			delete(e.keys, kq.key)
			kq.key = ""
			e.free = append(e.free, kq)
		default:
			e.enqueue(kq.pop())
		}
	}
}

func (e *Engine) scheduleRetry(d Delivery, cause error, what string) {
	delay := e.cfg.Backoff.Delay(d.Msg.Attempt)
	e.log.Warn(what, "topic", d.Msg.Topic,
		"id", d.Msg.ID, "attempt", d.Msg.Attempt, "delay", delay, "err", cause)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.s.Release(d)
		return
	}
	r := &retry{d: d}
	e.retries[r] = struct{}{}
	e.timers.Add(1)
	r.t = time.AfterFunc(delay, func() { e.fireRetry(r) })
	e.mu.Unlock()
}

func (e *Engine) fireRetry(r *retry) {
	defer e.timers.Done()
	e.mu.Lock()
	_, mine := e.retries[r]
	delete(e.retries, r)
	e.mu.Unlock()
	if !mine { // Close took it over after the timer fired
		e.s.Release(r.d)
		return
	}
	d, err := e.s.Retry(e.ctx, r.d)
	if err != nil {
		if e.ctx.Err() != nil {
			e.s.Release(r.d) // it failed because the engine is closing, not because it moved away
		} else {
			e.log.Warn("courier: message cannot be retried here; leaving it to the broker",
				"topic", r.d.Msg.Topic, "id", r.d.Msg.ID, "err", err)
		}
		e.mu.Lock()
		e.forget([]*keyQueue{r.d.kq})
		e.wakeWorkers()
		return
	}
	d.kq, d.fail = r.d.kq, r.d.fail // its key's place and its story, even if the settler built a new Delivery
	e.requeue(d)
}

// requeue puts an accepted delivery back on the run queue, or releases it when closed.
func (e *Engine) requeue(d Delivery) {
	e.mu.Lock()
	if !e.closed {
		e.enqueue(d)
		e.wakeWorkers()
		return
	}
	e.mu.Unlock()
	e.s.Release(d)
}

// Close stops the engine: Submit returns ErrClosed, no handler starts, running handlers get
// DrainTimeout to finish before their context is cancelled, and every delivery not handled is
// released. It returns when no engine goroutine is left; idempotent.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		e.stopping.Store(true)
		e.mu.Lock()
		e.closed = true
		retries := e.retries
		e.retries = nil
		e.work.Broadcast()
		e.mu.Unlock()
		close(e.closing)
		for r := range retries {
			if r.t.Stop() {
				e.s.Release(r.d)
				e.timers.Done()
			} // else fireRetry is running and releases it
		}

		drained := make(chan struct{})
		go func() { e.workers.Wait(); close(drained) }()
		deadline := time.NewTimer(e.cfg.DrainTimeout)
		select {
		case <-drained:
		case <-deadline.C:
			e.log.Warn("courier: drain timeout; cancelling running handlers", "timeout", e.cfg.DrainTimeout)
			e.cancel()
			<-drained
		}
		deadline.Stop()
		e.cancel()
		e.timers.Wait()

		e.ackLog.Lock()
		if failed := e.ackLog.failed; failed > 0 {
			e.log.Warn("courier: acks failed since the last report; the broker will deliver the messages again", "failed", failed)
		}
		e.ackLog.failed = 0
		e.ackLog.Unlock()

		// Nothing runs any more: release what is left.
		for e.ready.len() > 0 {
			e.s.Release(e.ready.pop())
		}
		for _, kq := range e.keys {
			for kq.len() > 0 {
				e.s.Release(kq.pop())
			}
		}
		clear(e.keys)
	})
}

// keyQueue holds the messages of one key that wait for the one in flight.
type keyQueue struct {
	queue
	key string
}

// queue is a FIFO of deliveries on a ring that grows to the most it held and keeps that
// size: a steady flow neither allocates nor moves what it holds.
type queue struct {
	q       []Delivery // len is 0 or a power of two
	head, n int
}

func (e *Engine) newKeyQueue(key string) *keyQueue {
	if n := len(e.free); n > 0 {
		kq := e.free[n-1]
		e.free = e.free[:n-1]
		kq.key = key
		return kq
	}
	return &keyQueue{key: key}
}

func (q *queue) len() int { return q.n }

func (q *queue) push(d Delivery) {
	if q.n == len(q.q) {
		grown := make([]Delivery, max(16, 2*len(q.q)))
		q.copyTo(grown, q.n)
		q.q, q.head = grown, 0
	}
	q.q[(q.head+q.n)&(len(q.q)-1)] = d
	q.n++
}

func (q *queue) pop() Delivery {
	d := q.q[q.head]
	q.q[q.head] = Delivery{}
	q.head = (q.head + 1) & (len(q.q) - 1)
	q.n--
	return d
}

// take moves the first n deliveries to the end of dst, and returns it.
func (q *queue) take(n int, dst []Delivery) []Delivery {
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	q.copyTo(dst[start:], n)
	first := min(n, len(q.q)-q.head)
	clear(q.q[q.head : q.head+first])
	clear(q.q[:n-first])
	q.head = (q.head + n) & (len(q.q) - 1)
	q.n -= n
	return dst
}

// copyTo copies the first n deliveries to dst.
func (q *queue) copyTo(dst []Delivery, n int) {
	if n == 0 {
		return
	}
	first := copy(dst[:n], q.q[q.head:min(q.head+n, len(q.q))])
	copy(dst[first:n], q.q[:n-first])
}
