package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/courier-go/courier"
)

var (
	// ErrInProgress is wrapped by Dedup's error for a message whose key another handler call
	// holds a live claim on: the message comes back later, when the holder has either
	// committed (and the copy is acknowledged without running) or released (and it runs).
	ErrInProgress = errors.New("middleware: dedup: message is being handled elsewhere")
	// ErrLeaseLost is returned by Store.Commit when the claim's lease ran out and another
	// claim took the key: the handler ran twice.
	ErrLeaseLost = errors.New("middleware: dedup: lease lost")
	// ErrEmptyKey is wrapped by Dedup's error for a message whose key is empty.
	ErrEmptyKey = errors.New("middleware: dedup: empty key")
)

// ClaimStatus is the outcome of Store.Claim.
type ClaimStatus int

const (
	// Claimed: the caller holds the key until its lease runs out, and runs the handler.
	Claimed ClaimStatus = iota + 1
	// Done: the key was committed and is still remembered; the message is a duplicate.
	Done
	// Busy: another claim holds the key and its lease has not run out.
	Busy
)

func (s ClaimStatus) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Done:
		return "done"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("ClaimStatus(%d)", int(s))
}

// Token identifies one claim of a key, so that only its holder commits or releases it.
type Token uint64

// Store keeps the keys that Dedup claims and commits. Implementations are safe for
// concurrent use; a key's state lives until its lease or TTL runs out (or longer, never
// shorter, except where a bounded store says it evicts). deduptest.Run checks a Store.
type Store interface {
	// Claim takes key for lease and returns Claimed with a fresh token, unless the key is
	// committed (Done) or held by a claim whose lease has not run out (Busy). A claim whose
	// lease ran out counts as absent.
	Claim(ctx context.Context, key string, lease time.Duration) (ClaimStatus, Token, error)
	// Commit marks key done for ttl. It returns an error wrapping ErrLeaseLost, and changes
	// nothing, when another claim took the key since tok's lease ran out and still holds it
	// (or committed it). A key whose claims have all run out counts as absent: committing
	// it succeeds.
	Commit(ctx context.Context, key string, tok Token, ttl time.Duration) error
	// Release removes tok's claim of key so that the key can be claimed at once. It does
	// nothing when tok no longer holds the key.
	Release(ctx context.Context, key string, tok Token) error
}

// Defaults of DedupConfig.
const (
	DefaultLease = time.Minute
	DefaultTTL   = 24 * time.Hour
)

// DedupConfig configures Dedup. Store is required; the zero values of the other fields select
// the defaults.
type DedupConfig struct {
	// Store keeps the claims. Give each consumer group a store (or a store prefix) of its own:
	// two groups sharing one would each handle only the messages the other had not.
	Store Store
	// Key returns the key a message is known by; nil means its ID. Messages with equal keys
	// are duplicates of each other.
	Key func(courier.Message) string
	// Lease is how long a claim holds the key without a commit: longer than the handler can
	// run (see Timeout), since after it a redelivered copy runs too. It is also how long
	// a message whose consumer died before its commit waits to run again. 0 means DefaultLease.
	Lease time.Duration
	// TTL is how long a committed key is remembered; copies arriving later run again.
	// 0 means DefaultTTL.
	TTL time.Duration
	// Logger receives a line when a store call after the handler fails or a lease was lost
	// (never the payload); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c DedupConfig) Validate() error {
	var problems []string
	if c.Store == nil {
		problems = append(problems, "nil Store")
	}
	if c.Lease < 0 {
		problems = append(problems, fmt.Sprintf("negative Lease %v", c.Lease))
	}
	if c.TTL < 0 {
		problems = append(problems, fmt.Sprintf("negative TTL %v", c.TTL))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: dedup config: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// Dedup returns a middleware that runs the handler at most once per key while the key is
// remembered, and again after a failure: the key is claimed (with a lease) before the handler,
// committed after it returns nil and released after it returns an error or panics. A copy of
// a committed message is acknowledged without running; a copy of one being handled elsewhere
// fails with ErrInProgress and comes back later. See the package documentation.
//
// When the store fails before the handler, the message fails and comes back. When the commit
// fails after a successful handler, the message is acknowledged all the same (its effects are
// done) and the failure logged: a copy delivered after the lease may run again.
func Dedup(cfg DedupConfig) (courier.Middleware, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &deduper{next: next, cfg: cfg}
	}, nil
}

type deduper struct {
	next courier.MessageHandler
	cfg  DedupConfig
}

func (d *deduper) HandleMessage(ctx context.Context, msg courier.Message) error {
	key := msg.ID
	if d.cfg.Key != nil {
		key = d.cfg.Key(msg)
	}
	if key == "" {
		return fmt.Errorf("%w: message %q on %q", ErrEmptyKey, msg.ID, msg.Topic)
	}
	status, tok, err := d.cfg.Store.Claim(ctx, key, d.cfg.Lease)
	switch {
	case err != nil:
		return fmt.Errorf("middleware: dedup: claim message %s on %q: %w", msg.ID, msg.Topic, err)
	case status == Done:
		return nil
	case status == Busy:
		return fmt.Errorf("%w: message %s on %q", ErrInProgress, msg.ID, msg.Topic)
	case status != Claimed:
		return fmt.Errorf("middleware: dedup: claim message %s on %q: store returned %v", msg.ID, msg.Topic, status)
	}
	returned := false
	defer func() {
		if !returned { // the handler panicked: free the key for the redelivery
			d.release(ctx, msg, key, tok)
		}
	}()
	err = d.next.HandleMessage(ctx, msg)
	returned = true
	if err != nil {
		d.release(ctx, msg, key, tok)
		return err
	}
	if cerr := d.cfg.Store.Commit(afterHandler(ctx), key, tok, d.cfg.TTL); cerr != nil {
		d.logger().WarnContext(ctx, "middleware: dedup: commit after a successful handler failed; a copy may run again",
			"topic", msg.Topic, "id", msg.ID, "err", cerr)
	}
	return nil
}

func (d *deduper) release(ctx context.Context, msg courier.Message, key string, tok Token) {
	if err := d.cfg.Store.Release(afterHandler(ctx), key, tok); err != nil {
		d.logger().WarnContext(ctx, "middleware: dedup: release after a failed handler failed; the message runs again after its lease",
			"topic", msg.Topic, "id", msg.ID, "err", err)
	}
}

func (d *deduper) logger() *slog.Logger {
	if d.cfg.Logger != nil {
		return d.cfg.Logger
	}
	return slog.Default()
}

// afterHandler returns the context for the store calls that settle a claim: ctx, or, when
// ctx has ended (a consumer closing), one without its cancellation, so the outcome is kept.
func afterHandler(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}
