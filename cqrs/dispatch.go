package cqrs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/courier-go/courier"
)

// UnknownPolicy says what a command bus, event processor or projection does with a message
// or event of a type it has no handler for.
type UnknownPolicy uint8

const (
	// SkipUnknown, the default, acknowledges it (a projection moves its checkpoint past it),
	// counts it in Stats.Skipped and logs it: at Warn the first time a type is seen, at Debug
	// after that. It is never delivered again.
	SkipUnknown UnknownPolicy = iota
	// RejectUnknown returns an error wrapping ErrNoHandler that names the type. Under a
	// courier consumer the message comes back after the consumer's backoff: pair it with
	// dlq.DeadLetter (MaxAttempts) so that it ends in a dead-letter topic instead of coming
	// back forever. A projection stops at the event (Status.LastError says why) until a
	// handler for the type is registered.
	RejectUnknown
)

func (p UnknownPolicy) String() string {
	switch p {
	case SkipUnknown:
		return "skip"
	case RejectUnknown:
		return "reject"
	}
	return fmt.Sprintf("UnknownPolicy(%d)", int(p))
}

func (p UnknownPolicy) validate() error {
	if p > RejectUnknown {
		return fmt.Errorf("unknown Unknown policy %d", int(p))
	}
	return nil
}

// maxWarned bounds the type names a dispatcher remembers having warned about, so that
// messages with ever new type names cannot grow it without end.
const maxWarned = 1024

// Stats counts what a command bus, event processor or projection did.
type Stats struct {
	Handled int64 // messages or events its handlers handled without error
	Skipped int64 // messages or events of a type without a handler, skipped under SkipUnknown
	Failed  int64 // handler, decode and rejection errors returned
}

// dispatcher finds the handler of an event's type and counts what happens; A is the extra
// argument its handlers take.
type dispatcher[A any] struct {
	table   handlerTable[A]
	unknown UnknownPolicy
	log     *slog.Logger

	countLater bool // the caller counts handled and skipped once its transaction commits

	handled, skipped, failed atomic.Int64
	warned                   sync.Map     // type names already logged at Warn, up to maxWarned
	nWarned                  atomic.Int64 // entries in warned
}

func (d *dispatcher[A]) init(what string, unknown UnknownPolicy, log *slog.Logger) {
	d.table.what = what
	d.unknown = unknown
	if log == nil {
		log = slog.Default()
	}
	d.log = log
}

// dispatch runs the handler of ev.Type; skipped reports an unknown type skipped under
// SkipUnknown.
func (d *dispatcher[A]) dispatch(ctx context.Context, a A, ev Event) (skipped bool, err error) {
	h := d.table.get(ev.Type)
	if h == nil {
		if d.unknown == RejectUnknown {
			if !d.countLater {
				d.failed.Add(1)
			}
			return false, fmt.Errorf("%w: %s: %q (id %s, stream %q, version %d)", ErrNoHandler, d.table.what, ev.Type, ev.ID, ev.Stream, ev.Version)
		}
		if !d.countLater {
			d.skipped.Add(1)
		}
		level := slog.LevelDebug
		if d.nWarned.Load() < maxWarned {
			if _, seen := d.warned.LoadOrStore(ev.Type, struct{}{}); !seen {
				d.nWarned.Add(1)
				level = slog.LevelWarn
			}
		}
		d.log.Log(ctx, level, "cqrs: skipped a type without a handler", "where", d.table.what, "type", ev.Type, "id", ev.ID, "stream", ev.Stream)
		return true, nil
	}
	if err := h(ctx, a, ev); err != nil {
		if !d.countLater {
			d.failed.Add(1)
		}
		return false, err
	}
	if !d.countLater {
		d.handled.Add(1)
	}
	return false, nil
}

func (d *dispatcher[A]) stats() Stats {
	return Stats{Handled: d.handled.Load(), Skipped: d.skipped.Load(), Failed: d.failed.Load()}
}

// handleMessage dispatches a message from a broker.
func (d *dispatcher[A]) handleMessage(ctx context.Context, msg courier.Message) error {
	ev, err := eventFromMessage(msg)
	if err != nil {
		d.failed.Add(1)
		return err
	}
	var none A
	_, err = d.dispatch(ctx, none, ev)
	return err
}
