package saga

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// State is where a saga instance is in its life.
type State string

// The states of a saga instance. Running and Compensating are active: the orchestrator's
// workers drive them when they are due. Completed and Compensated are final. Parked waits
// for a person: see Orchestrator.Resolve.
const (
	Running      State = "running"      // running its steps' actions forward
	Compensating State = "compensating" // a step failed for good: undoing the steps, last first
	Completed    State = "completed"    // every step succeeded
	Compensated  State = "compensated"  // every step that may have had an effect was undone
	Parked       State = "parked"       // a compensation kept failing; waits for Resolve
)

// Active reports whether the orchestrator still drives instances in state s.
func (s State) Active() bool { return s == Running || s == Compensating }

// Final reports whether s is a state an instance never leaves.
func (s State) Final() bool { return s == Completed || s == Compensated }

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return s.Active() || s.Final() || s == Parked }

// Instance is one saga as a Store keeps it. The orchestrator writes every field but Version,
// which the store owns.
type Instance struct {
	ID         string // unique; chosen by the caller of Start
	Definition string // name of its Definition
	State      State
	// Version is 1 after Create and grows by one with every Save and Claim: Save succeeds
	// only when the stored version is the one given (compare-and-set).
	Version int64
	// Step is the index of the step being run (Running) or undone (Compensating, Parked).
	// While Running, the saved Step is the compensation obligation: steps 0..Step may have
	// had effects and are undone if the saga fails.
	Step int
	// Attempt is the attempt of the current action or compensation, 1 the first time.
	Attempt int
	// Awaiting is set while a message-driven step waits for its reply; WakeAt is then the
	// reply deadline.
	Awaiting bool
	Data     []byte // the saga's own data, as the steps left it
	Error    string // the last failure, "" when none
	// WakeAt is when the instance is next due (its timer); the zero time means never
	// (final or parked instances, and none else).
	WakeAt time.Time
	// LeaseOwner holds the instance until LeaseUntil; "" when no worker holds it.
	LeaseOwner string
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Due reports whether a worker may claim inst at now: it is active, its timer has come and
// no unexpired lease holds it.
func (inst Instance) Due(now time.Time) bool {
	return inst.State.Active() && !inst.WakeAt.IsZero() && !inst.WakeAt.After(now) &&
		(inst.LeaseOwner == "" || !inst.LeaseUntil.After(now))
}

// Query selects instances for Store.List. The zero Query selects all.
type Query struct {
	State      State  // "" means any state
	Definition string // "" means any definition
	AfterID    string // only IDs greater than this (for paging); "" means from the start
	Limit      int    // at most this many; 0 means no limit
}

// ClaimRequest says what Store.Claim takes.
type ClaimRequest struct {
	Owner string        // the lease's owner; not empty
	Now   time.Time     // the claimer's clock: instances due at it are claimed
	Lease time.Duration // how long the lease lasts; > 0
	Limit int           // at most this many instances; > 0
	// Definitions are the definitions the claimer can run; at least one. Instances of others
	// are left to orchestrators that know them.
	Definitions []string
}

// Validate says what is wrong with c.
func (c ClaimRequest) Validate() error {
	if c.Owner == "" || c.Lease <= 0 || c.Limit <= 0 || len(c.Definitions) == 0 {
		return fmt.Errorf("saga: claim needs an owner, a positive lease and limit, and definitions (got %q, %v, %d, %q)",
			c.Owner, c.Lease, c.Limit, c.Definitions)
	}
	return nil
}

// Errors stores return, for callers to branch on with errors.Is.
var (
	// ErrNotFound: no instance has the ID.
	ErrNotFound = errors.New("saga: instance not found")
	// ErrExists: Create found an instance with the ID already.
	ErrExists = errors.New("saga: instance exists")
	// ErrConflict: Save's version is not the stored one; someone else wrote the instance.
	ErrConflict = errors.New("saga: version conflict")
)

// Store keeps saga instances durably. Implementations must be safe for concurrent use by
// many orchestrators in many processes; sagatest is the acceptance suite they pass.
//
// Times go through at microsecond precision (stores may round finer times down).
type Store interface {
	// Create stores inst with Version 1. If an instance with inst.ID exists it returns that
	// one and an error wrapping ErrExists.
	Create(ctx context.Context, inst Instance) (Instance, error)
	// Get returns the instance with the ID, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (Instance, error)
	// Save replaces the instance if its stored Version equals inst.Version, storing and
	// returning it with Version+1; otherwise it returns an error wrapping ErrConflict (or
	// ErrNotFound). A Save that would change the instance's Definition is an error.
	Save(ctx context.Context, inst Instance) (Instance, error)
	// Claim leases to c.Owner, until c.Now+c.Lease, up to c.Limit instances of c.Definitions
	// that are Due at c.Now, earliest WakeAt first, raising their Version. An instance is never
	// returned to two concurrent claims. A ClaimRequest that fails Validate is an error.
	Claim(ctx context.Context, c ClaimRequest) ([]Instance, error)
	// List returns the instances q selects, ordered by ID.
	List(ctx context.Context, q Query) ([]Instance, error)
}

// CheckInstance says what is wrong with an instance given to Create or Save, for stores to
// refuse bad input with a clear error.
func CheckInstance(inst Instance) error {
	switch {
	case inst.ID == "":
		return fmt.Errorf("saga: instance has an empty ID")
	case inst.Definition == "":
		return fmt.Errorf("saga: instance %q has an empty Definition", inst.ID)
	case !inst.State.Valid():
		return fmt.Errorf("saga: instance %q has unknown state %q", inst.ID, inst.State)
	case inst.Step < 0 || inst.Attempt < 0:
		return fmt.Errorf("saga: instance %q has negative Step %d or Attempt %d", inst.ID, inst.Step, inst.Attempt)
	}
	return nil
}
