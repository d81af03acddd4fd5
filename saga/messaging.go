package saga

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/courier-go/courier"
)

// Correlation headers of commands and replies.
const (
	HeaderSagaID  = "saga-id"       // the saga's ID
	HeaderStep    = "saga-step"     // the step's name
	HeaderReplyTo = "saga-reply-to" // topic the reply goes to (commands only)
	HeaderError   = "saga-error"    // set on a reply: the step failed, with this text
)

// sendCommand sends the command of a message-driven step. The awaiting state (with the reply
// deadline as its timer) is saved first, so a reply can never find the saga not yet waiting,
// and a crash after the save is covered by the timer: the command is then sent again, with
// the same ID.
func (o *Orchestrator) sendCommand(inst Instance, def *Definition, step Step, x *Exec) (Instance, error) {
	ctx, cancel := context.WithTimeout(o.ctx, step.workTimeout(o.cfg.Lease))
	defer cancel()
	msg, err := guardValue("command", func() (courier.Message, error) { return step.Command(ctx, x) })
	if err != nil {
		if o.ctx.Err() != nil {
			o.release(inst)
			return inst, o.ctx.Err()
		}
		next, tr := o.failed(inst, def, fmt.Errorf("build command: %w", err))
		return o.commit(o.ctx, inst, next, tr)
	}
	msg.ID = x.Key
	msg.Headers = maps.Clone(msg.Headers)
	if msg.Headers == nil {
		msg.Headers = map[string]string{}
	}
	msg.Headers[HeaderSagaID], msg.Headers[HeaderStep], msg.Headers[HeaderReplyTo] = inst.ID, step.Name, o.cfg.ReplyTopic

	awaiting := inst
	awaiting.Awaiting, awaiting.WakeAt = true, o.now().Add(step.timeout())
	saved, err := o.commit(o.ctx, inst, awaiting, Transition{Event: EventCommandSent, Step: step.Name, Attempt: inst.Attempt})
	if err != nil {
		return inst, err
	}
	if err := o.cfg.Producer.Send(ctx, msg); err != nil {
		if o.ctx.Err() != nil {
			return saved, o.ctx.Err() // the reply deadline brings it back
		}
		next, tr := o.failed(saved, def, fmt.Errorf("send command to %q: %w", msg.Topic, err))
		return o.commit(o.ctx, saved, next, tr) // a conflict means a reply came anyway
	}
	return saved, nil
}

func guardValue[T any](what string, f func() (T, error)) (v T, err error) {
	err = guard(what, func() error {
		var ferr error
		v, ferr = f()
		return ferr
	})
	return v, err
}

// ErrNotReply is wrapped by ReplyHandler's log lines for messages without correlation
// headers; such messages are acknowledged and dropped.
var ErrNotReply = errors.New("saga: message has no saga correlation headers")

// ReplyHandler returns the handler to feed the replies of the ReplyTopic to, with a
// courier.Consumer:
//
//	c.Consume(ctx, o.ReplyHandler())
//
// A reply moves its saga on only while that saga's step awaits it; a duplicate or late
// reply is acknowledged and ignored, so two concurrent replies make one transition. A
// message without correlation headers, or for an unknown saga, is logged and acknowledged.
// A store failure returns an error, so the broker delivers the reply again.
func (o *Orchestrator) ReplyHandler() courier.MessageHandler {
	return courier.HandlerFunc(o.handleReply)
}

func (o *Orchestrator) handleReply(ctx context.Context, msg courier.Message) error {
	id, stepName := msg.Headers[HeaderSagaID], msg.Headers[HeaderStep]
	if id == "" || stepName == "" {
		o.log.Warn("saga: dropping a message on the reply topic", "topic", msg.Topic, "message_id", msg.ID, "error", ErrNotReply)
		return nil
	}
	if o.ctx.Err() != nil {
		return fmt.Errorf("saga: reply for %q step %q: %w", id, stepName, courier.ErrClosed) // for a live orchestrator
	}
	for range maxReplyTries {
		inst, err := o.store.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			o.log.Warn("saga: dropping a reply for an unknown saga", "saga_id", id, "step", stepName)
			return nil
		}
		if err != nil {
			return fmt.Errorf("saga: reply for %q step %q: %w", id, stepName, err)
		}
		def := o.defs[inst.Definition]
		if def == nil || inst.State != Running || !inst.Awaiting || inst.Step >= len(def.Steps) || def.Steps[inst.Step].Name != stepName {
			o.log.Debug("saga: ignoring a reply the saga does not await", "saga_id", id, "step", stepName, "state", string(inst.State))
			return nil
		}
		step := def.Steps[inst.Step]
		var next Instance
		var tr Transition
		if text, failed := msg.Headers[HeaderError]; failed {
			next, tr = o.failed(inst, def, fmt.Errorf("step %q replied with an error: %s", stepName, text))
		} else {
			x := o.exec(inst, step)
			err := error(nil)
			if step.OnReply != nil {
				err = guard("OnReply", func() error { return step.OnReply(ctx, x, msg) })
			}
			if err != nil {
				next, tr = o.failed(inst, def, fmt.Errorf("read reply: %w", err))
			} else {
				next, tr = o.succeeded(inst, def, x.Data)
			}
		}
		_, err = o.commit(ctx, inst, next, tr)
		if errors.Is(err, ErrConflict) {
			continue // changed meanwhile (another reply, the timer): look again
		}
		if err != nil {
			return fmt.Errorf("saga: reply for %q step %q: %w", id, stepName, err)
		}
		return nil
	}
	return fmt.Errorf("saga: reply for %q step %q: changed by others %d times in a row: %w", id, stepName, maxReplyTries, ErrConflict)
}

// maxReplyTries bounds how often a reply is applied again after a conflict before the broker
// is left to deliver it again.
const maxReplyTries = 16

// Reply returns the reply to a command, addressed to the command's reply topic with its
// correlation headers; failure, when not nil, marks it as a failed step (HeaderError). The
// service that handles commands sends it with any Producer.
func Reply(command courier.Message, value []byte, failure error) (courier.Message, error) {
	to, id, step := command.Headers[HeaderReplyTo], command.Headers[HeaderSagaID], command.Headers[HeaderStep]
	if to == "" || id == "" || step == "" {
		return courier.Message{}, fmt.Errorf("saga: reply to message %q: %w", command.ID, ErrNotReply)
	}
	h := map[string]string{HeaderSagaID: id, HeaderStep: step}
	if failure != nil {
		h[HeaderError] = failure.Error()
	}
	return courier.Message{Topic: to, Key: id, Value: slices.Clone(value), Headers: h}, nil
}
