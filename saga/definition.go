package saga

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/courier-go/courier"
)

// Defaults of Step and RetryPolicy.
const (
	DefaultStepTimeout     = 10 * time.Second
	DefaultMaxAttempts     = 3 // actions
	DefaultCompensateTries = 5 // compensations, before the saga parks
)

// Exec is what an action, a compensation or a command builder gets about the step it runs.
type Exec struct {
	SagaID string
	Step   string
	// Key is the step's idempotency key, SagaID + "/" + Step: the same for every attempt and
	// after any crash, and the Message.ID of a message-driven step's command. Effects keyed
	// by it happen once however often the step runs.
	Key     string
	Attempt int // 1 the first time
	// Data is the saga's data. An action (or OnReply) may replace it; the new value is saved
	// with the step's transition. Compensations see the data as the saga left it.
	Data []byte
}

// IdempotencyKey returns the idempotency key of a step of a saga.
func IdempotencyKey(sagaID, step string) string { return sagaID + "/" + step }

// RetryPolicy says how often an action or compensation is tried and how long to wait between
// tries. The zero value selects the defaults.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts; 0 means DefaultMaxAttempts for actions and
	// DefaultCompensateTries for compensations.
	MaxAttempts int
	// Backoff is the wait before the next attempt; the zero value means courier.DefaultBackoff.
	// The wait is a timer kept in the store, so it survives restarts.
	Backoff courier.Backoff
}

// Step is one step of a saga: either a local Action, or a Command sent through the
// orchestrator's Producer whose reply completes the step.
type Step struct {
	Name string // unique in its Definition; part of the idempotency key

	// Action does the step's work. It must finish within Timeout (its context says so).
	// An error fails the attempt; Permanent(err) fails the step at once.
	Action func(ctx context.Context, x *Exec) error

	// Command builds the command of a message-driven step (Topic, Key, Value, Headers); it
	// must not change x.Data (use OnReply for that). The orchestrator sets its ID to the idempotency key, adds the correlation headers and
	// sends it; the step then waits, up to Timeout, for a reply (see Reply). A reply with an
	// error, or no reply in time, fails the attempt.
	Command func(ctx context.Context, x *Exec) (courier.Message, error)
	// OnReply, optional, reads a successful reply into x.Data. An error fails the attempt.
	OnReply func(ctx context.Context, x *Exec, reply courier.Message) error

	// Compensate undoes the step. It runs when a later step, or this one, fails for good:
	// a step that failed may still have had an effect (a timeout, a crash), so its own
	// compensation runs too and must accept that the action may never have happened.
	// nil means there is nothing to undo.
	Compensate func(ctx context.Context, x *Exec) error

	Retry           RetryPolicy // for Action / Command
	CompensateRetry RetryPolicy // for Compensate; when its attempts run out the saga parks
	// Timeout bounds each attempt of the action and of the compensation; it must be below the
	// orchestrator's Lease. For a message-driven step it is the reply deadline instead, which
	// may be long: the command is then built and sent, and the compensation run, within half
	// the Lease. 0 means DefaultStepTimeout.
	Timeout time.Duration
}

// Definition is a named sequence of steps.
type Definition struct {
	Name  string
	Steps []Step
}

func (d Definition) validate(lease time.Duration) []string {
	var problems []string
	if d.Name == "" {
		problems = append(problems, "definition with an empty Name")
	}
	if len(d.Steps) == 0 {
		problems = append(problems, fmt.Sprintf("definition %q has no steps", d.Name))
	}
	seen := map[string]bool{}
	for i, s := range d.Steps {
		where := fmt.Sprintf("definition %q step %d (%q)", d.Name, i, s.Name)
		switch {
		case s.Name == "":
			problems = append(problems, where+": empty Name")
		case seen[s.Name]:
			problems = append(problems, where+": name used twice")
		}
		seen[s.Name] = true
		switch {
		case s.Action == nil && s.Command == nil:
			problems = append(problems, where+": neither Action nor Command")
		case s.Action != nil && s.Command != nil:
			problems = append(problems, where+": both Action and Command")
		case s.Action != nil && s.OnReply != nil:
			problems = append(problems, where+": OnReply without Command")
		}
		if s.Timeout < 0 {
			problems = append(problems, fmt.Sprintf("%s: negative Timeout %v", where, s.Timeout))
		} else if s.Action != nil && s.timeout() >= lease {
			problems = append(problems, fmt.Sprintf("%s: Timeout %v must be below the lease %v, or another worker could take the saga while the action runs", where, s.timeout(), lease))
		}
		problems = append(problems, s.Retry.validate(where+": Retry")...)
		problems = append(problems, s.CompensateRetry.validate(where+": CompensateRetry")...)
	}
	return problems
}

func (s Step) timeout() time.Duration {
	if s.Timeout == 0 {
		return DefaultStepTimeout
	}
	return s.Timeout
}

// workTimeout bounds one run of the step's work under a lease: the action, or for a
// message-driven step (whose Timeout is the reply deadline, which no lease covers) the
// sending of its command and its compensation.
func (s Step) workTimeout(lease time.Duration) time.Duration {
	if s.Command != nil {
		return min(s.timeout(), lease/2)
	}
	return s.timeout()
}

func (r RetryPolicy) validate(where string) []string {
	var problems []string
	if r.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("%s: negative MaxAttempts %d", where, r.MaxAttempts))
	}
	if err := r.Backoff.Validate(); err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", where, err))
	}
	return problems
}

func (r RetryPolicy) max(def int) int {
	if r.MaxAttempts == 0 {
		return def
	}
	return r.MaxAttempts
}

// Permanent marks an action's error as one that retrying cannot fix: the step fails at once
// and the saga compensates. Permanent(nil) is nil. It is courier.Permanent, so an error marked
// for a consumer's retries means the same here.
func Permanent(err error) error { return courier.Permanent(err) }

// IsPermanent reports whether err, or an error it wraps, was marked with Permanent (or
// courier.Permanent).
func IsPermanent(err error) bool { return courier.IsPermanent(err) }

// ErrReplyTimeout is the failure of an attempt of a message-driven step whose reply did not
// come within the step's Timeout.
var ErrReplyTimeout = errors.New("saga: no reply within the step's timeout")

func joinProblems(what string, problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", courier.ErrInvalidConfig, what, strings.Join(problems, "; "))
}
