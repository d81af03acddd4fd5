package saga

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
)

// Defaults of Config.
const (
	DefaultWorkers      = 4
	DefaultLease        = 30 * time.Second
	DefaultPollInterval = 200 * time.Millisecond
	DefaultClaimBatch   = 1
)

// Config configures an Orchestrator. The zero values of the optional fields select the
// documented defaults.
type Config struct {
	Store       Store        // required
	Definitions []Definition // required, at least one; names unique

	// Owner names this orchestrator in leases; "" means host name, process ID and a random
	// suffix. Two live orchestrators must never share an Owner.
	Owner string
	// Workers is the number of sagas this orchestrator drives at once; 0 means DefaultWorkers.
	Workers int
	// Lease is how long a worker holds a saga it claimed (renewed at every transition); a
	// saga whose worker died is taken over after it. 0 means DefaultLease. Every action
	// step's Timeout must be below it.
	Lease time.Duration
	// PollInterval is how often idle workers look for due sagas (timers, sagas started or
	// replied to in other processes); 0 means DefaultPollInterval.
	PollInterval time.Duration
	// ClaimBatch is how many due sagas a worker claims at once; 0 means DefaultClaimBatch.
	ClaimBatch int

	// Producer sends the commands of message-driven steps; required when a definition has one.
	Producer courier.Producer
	// ReplyTopic is where replies to commands are expected (sent as the HeaderReplyTo header);
	// required when a definition has a message-driven step. Feed its messages to ReplyHandler.
	ReplyTopic string

	// OnTransition, optional, is called after every transition this orchestrator saved, on
	// the goroutine that made it; it must not block. It is a notification, not a durable
	// log: a save whose answer was lost (the store wrote it, then the connection failed) is
	// not reported. Use List and Get for the durable state.
	OnTransition func(Transition)
	// Logger receives the orchestrator's logs (saga ID and step, never data); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	var problems []string
	if c.Store == nil {
		problems = append(problems, "nil Store")
	}
	if len(c.Definitions) == 0 {
		problems = append(problems, "no Definitions")
	}
	for _, neg := range []struct {
		name string
		v    int64
	}{{"Workers", int64(c.Workers)}, {"Lease", int64(c.Lease)}, {"PollInterval", int64(c.PollInterval)}, {"ClaimBatch", int64(c.ClaimBatch)}} {
		if neg.v < 0 {
			problems = append(problems, fmt.Sprintf("negative %s", neg.name))
		}
	}
	d := c.withDefaults()
	names := map[string]bool{}
	messaging := false
	for _, def := range c.Definitions {
		if names[def.Name] && def.Name != "" {
			problems = append(problems, fmt.Sprintf("definition %q given twice", def.Name))
		}
		names[def.Name] = true
		problems = append(problems, def.validate(d.Lease)...)
		messaging = messaging || slices.ContainsFunc(def.Steps, func(s Step) bool { return s.Command != nil })
	}
	if messaging && c.Producer == nil {
		problems = append(problems, "a definition has message-driven steps but Producer is nil")
	}
	if messaging && c.ReplyTopic == "" {
		problems = append(problems, "a definition has message-driven steps but ReplyTopic is empty")
	}
	return joinProblems("saga config", problems)
}

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ClaimBatch == 0 {
		c.ClaimBatch = DefaultClaimBatch
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return c
}

// Event names what a transition did.
type Event string

// Transition events.
const (
	EventStarted           Event = "started"            // Start created the saga
	EventStepDone          Event = "step-done"          // a step succeeded; the next is due
	EventCommandSent       Event = "command-sent"       // a command is about to be sent; awaiting its reply
	EventRetryScheduled    Event = "retry-scheduled"    // an attempt failed; the next is due after a backoff
	EventStepFailed        Event = "step-failed"        // a step failed for good; compensation starts
	EventCompleted         Event = "completed"          // the last step succeeded
	EventStepCompensated   Event = "step-compensated"   // a compensation succeeded
	EventCompensationRetry Event = "compensation-retry" // a compensation failed; retried after a backoff
	EventCompensated       Event = "compensated"        // the last compensation succeeded
	EventParked            Event = "parked"             // a compensation kept failing
	EventResolved          Event = "resolved"           // Resolve changed a parked saga
	EventCancelled         Event = "cancelled"          // Cancel stopped a running saga; compensation starts
)

// Transition is one saved change of a saga, as OnTransition sees it.
type Transition struct {
	Event    Event
	From     State    // state before
	Step     string   // the step the event is about; "" when none
	Attempt  int      // the attempt that ended, for step events
	Err      error    // the failure, for failure events
	Instance Instance // the instance as saved
}

// Orchestrator runs sagas from a Store: its workers claim due sagas, run their steps,
// compensate failures and save every transition with compare-and-set. Many orchestrators in
// many processes can share one store. It is safe for concurrent use.
type Orchestrator struct {
	cfg   Config
	store Store
	defs  map[string]*Definition
	// defNames are the definitions' names: this orchestrator claims only sagas of these.
	defNames []string
	log      *slog.Logger
	wake     chan struct{}
	// Sagas started here go straight to a local worker, already leased to this orchestrator,
	// without a Claim, when the handoff queue has room: slots holds a token per queued saga.
	handoff chan Instance
	slots   chan struct{}

	claimFailures, claimLogged atomic.Int64 // failed claims not logged yet; when the last was logged (Unix ns)

	mu        sync.Mutex // guards closed against Start's handoffs
	closed    bool
	starts    sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New validates cfg and starts the orchestrator's workers. Close stops them.
func New(cfg Config) (*Orchestrator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := &Orchestrator{cfg: cfg, store: cfg.Store, defs: map[string]*Definition{}, log: cfg.Logger,
		wake: make(chan struct{}, cfg.Workers), handoff: make(chan Instance, cfg.Workers), slots: make(chan struct{}, cfg.Workers)}
	for i := range cfg.Definitions {
		d := cfg.Definitions[i]
		d.Steps = slices.Clone(d.Steps)
		o.defs[d.Name] = &d
		o.defNames = append(o.defNames, d.Name)
	}
	slices.Sort(o.defNames)
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go o.work()
	}
	return o, nil
}

// Owner returns the name this orchestrator's leases carry.
func (o *Orchestrator) Owner() string { return o.cfg.Owner }

// Close stops the workers and waits for them. An action or compensation in flight sees its
// context cancelled: if it still finishes, its transition is saved; if it fails, the attempt
// is left to be run again (with the same idempotency key) by the next orchestrator. Sagas
// this orchestrator holds are released. Close does not close the Store or the Producer. It
// is idempotent.
func (o *Orchestrator) Close() error {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		o.closed = true
		o.mu.Unlock()
		o.cancel()
		o.wg.Wait()
		o.starts.Wait()
		for len(o.handoff) > 0 { // started here but not driven: let others have them now
			o.release(<-o.handoff)
		}
	})
	return nil
}

// ErrUnknownDefinition is returned by Start for a definition the orchestrator was not given.
var ErrUnknownDefinition = errors.New("saga: unknown definition")

// Start starts saga id of the named definition with data, and returns it as stored. Starting
// an ID that exists is idempotent: it returns the existing saga unchanged (with its own data),
// or an error wrapping ErrExists if that saga is of another definition.
func (o *Orchestrator) Start(ctx context.Context, definition, id string, data []byte) (Instance, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return Instance{}, fmt.Errorf("saga: start %q: %w", id, courier.ErrClosed)
	}
	o.starts.Add(1)
	o.mu.Unlock()
	defer o.starts.Done()
	if id == "" {
		return Instance{}, fmt.Errorf("saga: start: empty saga ID")
	}
	if o.defs[definition] == nil {
		return Instance{}, fmt.Errorf("%w %q (start %q)", ErrUnknownDefinition, definition, id)
	}
	now := o.now()
	inst := Instance{ID: id, Definition: definition, State: Running, Attempt: 1, Data: slices.Clone(data),
		WakeAt: now, CreatedAt: now, UpdatedAt: now}
	handing := false
	select {
	case o.slots <- struct{}{}: // room in the handoff queue: create it leased to this orchestrator
		handing = true
		inst.LeaseOwner, inst.LeaseUntil = o.cfg.Owner, now.Add(o.cfg.Lease)
	default:
	}
	saved, err := o.store.Create(ctx, inst)
	if handing && err != nil {
		<-o.slots
	}
	if errors.Is(err, ErrExists) {
		if saved.Definition != definition {
			return saved, fmt.Errorf("saga: start %q as %q: it exists as %q: %w", id, definition, saved.Definition, ErrExists)
		}
		return saved, nil
	}
	if err != nil {
		return Instance{}, fmt.Errorf("saga: start %q: %w", id, err)
	}
	o.notify(Transition{Event: EventStarted, Instance: saved})
	if handing {
		o.handoff <- saved // room is reserved by the slot
	} else {
		o.poke()
	}
	return saved, nil
}

// Get returns the saga with the ID (errors.Is(err, ErrNotFound) when there is none).
func (o *Orchestrator) Get(ctx context.Context, id string) (Instance, error) {
	return o.store.Get(ctx, id)
}

// List returns the sagas q selects, ordered by ID.
func (o *Orchestrator) List(ctx context.Context, q Query) ([]Instance, error) {
	return o.store.List(ctx, q)
}

// Resolution is what Resolve does with a parked saga.
type Resolution int

const (
	// RetryCompensation runs the failed compensation again, with fresh attempts.
	RetryCompensation Resolution = iota + 1
	// MarkCompensated records that the remaining compensations were done by other means:
	// the saga becomes Compensated without running them.
	MarkCompensated
)

// ErrNotParked is returned by Resolve for a saga that is not parked.
var ErrNotParked = errors.New("saga: not parked")

// Resolve unparks a parked saga as r says. It returns an error wrapping ErrNotParked if the
// saga is not parked (say, resolved already) and ErrConflict if it changed meanwhile.
func (o *Orchestrator) Resolve(ctx context.Context, id string, r Resolution) (Instance, error) {
	inst, err := o.store.Get(ctx, id)
	if err != nil {
		return Instance{}, fmt.Errorf("saga: resolve %q: %w", id, err)
	}
	if inst.State != Parked {
		return inst, fmt.Errorf("saga: resolve %q: it is %s: %w", id, inst.State, ErrNotParked)
	}
	next := inst
	next.Error = ""
	switch r {
	case RetryCompensation:
		next.State, next.Attempt, next.WakeAt = Compensating, 1, o.now()
	case MarkCompensated:
		next.State, next.Step, next.Attempt = Compensated, 0, 0
	default:
		return inst, fmt.Errorf("saga: resolve %q: unknown resolution %d", id, r)
	}
	step := ""
	if d := o.defs[inst.Definition]; d != nil && inst.Step < len(d.Steps) {
		step = d.Steps[inst.Step].Name
	}
	saved, err := o.commit(ctx, inst, next, Transition{Event: EventResolved, Step: step})
	if err != nil {
		return inst, fmt.Errorf("saga: resolve %q: %w", id, err)
	}
	return saved, nil
}

// ErrNotRunning is returned by Cancel for a saga that is no longer running (completed,
// compensating, compensated or parked).
var ErrNotRunning = errors.New("saga: not running")

// Cancel stops a running saga: it compensates the steps that may have had an effect, the
// current one included, as if that step had failed for good with the given reason. A saga
// a worker holds (one of its steps is running) cannot change under it: Cancel then waits,
// looking again every PollInterval, until the worker lets go or ctx ends. It returns the
// saga as saved, or an error wrapping ErrNotRunning if the saga is past running (say, it
// completed first).
func (o *Orchestrator) Cancel(ctx context.Context, id, reason string) (Instance, error) {
	for {
		inst, err := o.store.Get(ctx, id)
		if err != nil {
			return Instance{}, fmt.Errorf("saga: cancel %q: %w", id, err)
		}
		if inst.State != Running {
			return inst, fmt.Errorf("saga: cancel %q: it is %s: %w", id, inst.State, ErrNotRunning)
		}
		def := o.defs[inst.Definition]
		if def == nil || inst.Step >= len(def.Steps) {
			return inst, fmt.Errorf("saga: cancel %q: %w %q", id, ErrUnknownDefinition, inst.Definition)
		}
		if inst.LeaseOwner == "" || !inst.LeaseUntil.After(o.now()) {
			next := inst
			next.State, next.Awaiting, next.Error = Compensating, false, "cancelled: "+reason
			next = o.undoFrom(next, def, inst.Step)
			saved, err := o.commit(ctx, inst, next, Transition{Event: EventCancelled, Step: def.Steps[inst.Step].Name, Attempt: inst.Attempt})
			if err == nil {
				return saved, nil
			}
			if !errors.Is(err, ErrConflict) {
				return inst, fmt.Errorf("saga: cancel %q: %w", id, err)
			}
			continue // changed meanwhile: look again
		}
		select {
		case <-ctx.Done():
			return inst, fmt.Errorf("saga: cancel %q: held by %s: %w", id, inst.LeaseOwner, ctx.Err())
		case <-time.After(o.cfg.PollInterval):
		}
	}
}

func (o *Orchestrator) now() time.Time { return time.Now().Round(0).Truncate(time.Microsecond) }

// poke wakes an idle worker.
func (o *Orchestrator) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *Orchestrator) work() {
	defer o.wg.Done()
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case inst := <-o.handoff:
			o.driveHandedOff(inst)
			continue
		default:
		}
		insts, err := o.store.Claim(o.ctx, ClaimRequest{Owner: o.cfg.Owner, Now: o.now(), Lease: o.cfg.Lease,
			Limit: o.cfg.ClaimBatch, Definitions: o.defNames})
		if err != nil && o.ctx.Err() == nil {
			o.claimFailed(err)
		}
		for _, inst := range insts {
			o.drive(inst)
		}
		if err == nil && len(insts) == o.cfg.ClaimBatch && o.ctx.Err() == nil {
			continue // there may be more due
		}
		poll.Reset(o.cfg.PollInterval)
		select {
		case <-o.ctx.Done():
			return
		case inst := <-o.handoff:
			o.driveHandedOff(inst)
		case <-o.wake:
		case <-poll.C:
		}
	}
}

// claimFailed logs a failed claim, at most once a second with how many failed since: while
// the store is down every worker fails at every poll.
func (o *Orchestrator) claimFailed(err error) {
	n := o.claimFailures.Add(1)
	now := time.Now().UnixNano()
	last := o.claimLogged.Load()
	if now-last < int64(time.Second) || !o.claimLogged.CompareAndSwap(last, now) {
		return
	}
	o.claimFailures.Add(-n)
	o.log.Warn("saga: claiming due sagas failed", "owner", o.cfg.Owner, "failures", n, "error", err)
}

func (o *Orchestrator) driveHandedOff(inst Instance) {
	<-o.slots
	o.drive(inst)
}

// drive runs a claimed saga for as long as it stays due and leased to this orchestrator.
func (o *Orchestrator) drive(inst Instance) {
	for {
		if o.ctx.Err() != nil {
			o.release(inst)
			return
		}
		now := o.now()
		if inst.LeaseOwner != o.cfg.Owner || !inst.State.Active() || inst.WakeAt.IsZero() || inst.WakeAt.After(now) {
			return
		}
		def := o.defs[inst.Definition]
		if def == nil || inst.Step >= len(def.Steps) {
			// Left leased: an orchestrator that knows the definition takes it when the lease ends.
			o.log.Error("saga: cannot run saga: unknown definition or step", "saga_id", inst.ID,
				"saga", inst.Definition, "step_index", inst.Step)
			return
		}
		step := def.Steps[inst.Step]
		if inst.LeaseUntil.Sub(now) <= step.workTimeout(o.cfg.Lease) {
			// Too little lease left for the work: renew it first (which fails if it was lost).
			renewed := inst
			renewed.LeaseUntil = now.Add(o.cfg.Lease)
			var err error
			if inst, err = o.store.Save(o.ctx, renewed); err != nil {
				o.storeFailed(renewed, step.Name, "renew lease", err)
				return
			}
		}
		var err error
		if inst.State == Running {
			inst, err = o.runStep(inst, def, step)
		} else {
			inst, err = o.undoStep(inst, def, step)
		}
		if err != nil {
			return
		}
	}
}

func (o *Orchestrator) exec(inst Instance, step Step) *Exec {
	return &Exec{SagaID: inst.ID, Step: step.Name, Key: IdempotencyKey(inst.ID, step.Name),
		Attempt: inst.Attempt, Data: slices.Clone(inst.Data)}
}

// runStep runs one attempt of the current step and saves its outcome.
func (o *Orchestrator) runStep(inst Instance, def *Definition, step Step) (Instance, error) {
	if inst.Awaiting { // the reply deadline passed
		next, tr := o.failed(inst, def, ErrReplyTimeout)
		return o.commit(o.ctx, inst, next, tr)
	}
	x := o.exec(inst, step)
	if step.Command != nil {
		return o.sendCommand(inst, def, step, x)
	}
	ctx, cancel := context.WithTimeout(o.ctx, step.timeout())
	err := guard("action", func() error { return step.Action(ctx, x) })
	cancel()
	if err != nil && o.ctx.Err() != nil {
		o.release(inst) // closing: the failure may be the cancellation; the attempt runs again later
		return inst, o.ctx.Err()
	}
	sctx, scancel := o.saveContext()
	defer scancel()
	if err != nil {
		next, tr := o.failed(inst, def, err)
		return o.commit(sctx, inst, next, tr)
	}
	next, tr := o.succeeded(inst, def, x.Data)
	return o.commit(sctx, inst, next, tr)
}

// saveContext is the context for saving the outcome of work that finished: the
// orchestrator's, or while it closes a short one of its own, so that finished work is not
// done again by the next orchestrator.
func (o *Orchestrator) saveContext() (context.Context, context.CancelFunc) {
	if o.ctx.Err() == nil {
		return o.ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(o.ctx), min(5*time.Second, o.cfg.Lease/2))
}

// undoStep runs one attempt of the current compensation and saves its outcome.
func (o *Orchestrator) undoStep(inst Instance, def *Definition, step Step) (Instance, error) {
	x := o.exec(inst, step)
	ctx, cancel := context.WithTimeout(o.ctx, step.workTimeout(o.cfg.Lease))
	err := guard("compensation", func() error { return step.Compensate(ctx, x) })
	cancel()
	if err != nil && o.ctx.Err() != nil {
		o.release(inst)
		return inst, o.ctx.Err()
	}
	var next Instance
	var tr Transition
	if err != nil {
		next, tr = o.undoFailed(inst, def, err)
	} else {
		next, tr = o.undone(inst, def)
	}
	sctx, scancel := o.saveContext()
	defer scancel()
	return o.commit(sctx, inst, next, tr)
}

// guard calls f, turning a panic into an error.
func guard(what string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("saga: %s panicked: %v", what, p)
		}
	}()
	return f()
}

// The transition functions below compute the next instance; commit saves it.

// dueNow returns the timer of an instance that is due now: wake itself if it has come (a
// saga running on keeps its timer, so a store's timer index need not change with every
// step), else now.
func (o *Orchestrator) dueNow(wake time.Time) time.Time {
	if now := o.now(); wake.IsZero() || wake.After(now) {
		return now
	}
	return wake
}

func (o *Orchestrator) succeeded(inst Instance, def *Definition, data []byte) (Instance, Transition) {
	tr := Transition{Event: EventStepDone, Step: def.Steps[inst.Step].Name, Attempt: inst.Attempt}
	next := inst
	next.Data, next.Awaiting, next.Error = data, false, ""
	next.Step, next.Attempt, next.WakeAt = inst.Step+1, 1, o.dueNow(inst.WakeAt)
	if next.Step == len(def.Steps) {
		next.State, next.WakeAt = Completed, time.Time{}
		tr.Event = EventCompleted
	}
	return next, tr
}

func (o *Orchestrator) failed(inst Instance, def *Definition, err error) (Instance, Transition) {
	step := def.Steps[inst.Step]
	tr := Transition{Event: EventRetryScheduled, Step: step.Name, Attempt: inst.Attempt, Err: err}
	next := inst
	next.Awaiting, next.Error = false, err.Error()
	if !IsPermanent(err) && inst.Attempt < step.Retry.max(DefaultMaxAttempts) {
		next.Attempt, next.WakeAt = inst.Attempt+1, o.now().Add(step.Retry.Backoff.Delay(inst.Attempt))
		return next, tr
	}
	tr.Event = EventStepFailed
	next.State = Compensating
	// The failed step's own compensation is owed too: its effect is unknown.
	return o.undoFrom(next, def, inst.Step), tr
}

func (o *Orchestrator) undone(inst Instance, def *Definition) (Instance, Transition) {
	tr := Transition{Event: EventStepCompensated, Step: def.Steps[inst.Step].Name, Attempt: inst.Attempt}
	next := o.undoFrom(inst, def, inst.Step-1)
	if next.State == Compensated {
		tr.Event = EventCompensated
	}
	return next, tr
}

// undoFrom moves inst to the first step at or before from that has a compensation, or to
// Compensated when none is left.
func (o *Orchestrator) undoFrom(inst Instance, def *Definition, from int) Instance {
	inst.Attempt, inst.WakeAt = 1, o.dueNow(inst.WakeAt)
	for j := from; j >= 0; j-- {
		if def.Steps[j].Compensate != nil {
			inst.Step = j
			return inst
		}
	}
	inst.State, inst.Step, inst.WakeAt = Compensated, 0, time.Time{}
	return inst
}

func (o *Orchestrator) undoFailed(inst Instance, def *Definition, err error) (Instance, Transition) {
	step := def.Steps[inst.Step]
	tr := Transition{Event: EventCompensationRetry, Step: step.Name, Attempt: inst.Attempt, Err: err}
	next := inst
	next.Error = err.Error()
	if inst.Attempt < step.CompensateRetry.max(DefaultCompensateTries) {
		next.Attempt, next.WakeAt = inst.Attempt+1, o.now().Add(step.CompensateRetry.Backoff.Delay(inst.Attempt))
		return next, tr
	}
	tr.Event = EventParked
	next.State, next.WakeAt = Parked, time.Time{}
	return next, tr
}

// commit saves next over prev (compare-and-set), keeping this orchestrator's lease only while
// the saga stays due now, and reports the transition.
func (o *Orchestrator) commit(ctx context.Context, prev, next Instance, tr Transition) (Instance, error) {
	now := o.now()
	next.UpdatedAt = now
	if prev.LeaseOwner == o.cfg.Owner && next.State.Active() && !next.WakeAt.After(now) {
		next.LeaseOwner, next.LeaseUntil = o.cfg.Owner, now.Add(o.cfg.Lease)
	} else {
		next.LeaseOwner, next.LeaseUntil = "", time.Time{}
	}
	saved, err := o.store.Save(ctx, next)
	if err != nil {
		o.storeFailed(next, tr.Step, string(tr.Event), err)
		return prev, err
	}
	tr.From, tr.Instance = prev.State, saved
	o.notify(tr)
	if saved.LeaseOwner == "" && saved.Due(now) {
		o.poke()
	}
	return saved, nil
}

func (o *Orchestrator) storeFailed(inst Instance, step, what string, err error) {
	if errors.Is(err, ErrConflict) {
		o.log.Debug("saga: changed meanwhile; left to its new holder", "saga_id", inst.ID,
			"saga", inst.Definition, "step", step, "transition", what)
		return
	}
	if o.ctx.Err() == nil {
		o.log.Warn("saga: saving a transition failed; the saga is retried after its lease", "saga_id", inst.ID,
			"saga", inst.Definition, "step", step, "transition", what, "error", err)
	}
}

// release gives a claimed saga back without changing it, so that another worker need not wait
// for the lease to end. Best effort: on failure the lease just runs out.
func (o *Orchestrator) release(inst Instance) {
	if inst.LeaseOwner != o.cfg.Owner {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), time.Second)
	defer cancel()
	inst.LeaseOwner, inst.LeaseUntil = "", time.Time{}
	_, _ = o.store.Save(ctx, inst)
}

func (o *Orchestrator) notify(tr Transition) {
	inst := tr.Instance
	level := slog.LevelDebug
	switch tr.Event {
	case EventRetryScheduled, EventCompensationRetry, EventStepFailed:
		level = slog.LevelWarn
	case EventParked:
		level = slog.LevelError
	case EventCompleted, EventCompensated, EventResolved, EventCancelled:
		level = slog.LevelInfo
	}
	if o.log.Enabled(o.ctx, level) {
		attrs := []slog.Attr{slog.String("saga_id", inst.ID), slog.String("saga", inst.Definition),
			slog.String("state", string(inst.State))}
		if tr.Step != "" {
			attrs = append(attrs, slog.String("step", tr.Step), slog.Int("attempt", tr.Attempt))
		}
		if tr.Err != nil {
			attrs = append(attrs, slog.String("error", tr.Err.Error()))
		}
		o.log.LogAttrs(context.Background(), level, "saga: "+string(tr.Event), attrs...)
	}
	if o.cfg.OnTransition != nil {
		o.cfg.OnTransition(tr)
	}
}
