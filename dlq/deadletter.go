package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/courier-go/courier"
)

// DefaultTopic is the dead-letter topic of a group's messages from topic: "<topic>.<group>.dlq".
// The group is part of it because each group fails on its own: two services reading one topic
// must not replay each other's dead letters.
func DefaultTopic(topic, group string) string { return topic + "." + group + ".dlq" }

// DeadLetterConfig configures DeadLetter.
type DeadLetterConfig struct {
	// Group is the consumer group the middleware runs in; required. It goes into HeaderGroup
	// and the default topic name.
	Group string
	// Topic is the dead-letter topic for every message; "" means DefaultTopic(msg.Topic, Group).
	Topic string
	// MaxAttempts, when > 0, also dead-letters a message whose handler failed with any error
	// once its Attempt reached MaxAttempts: for use without Retry, counting on the broker's
	// redeliveries. 0 dead-letters only what Retry gave up on and permanent errors.
	MaxAttempts int
	// Logger receives a line per dead letter (never the payload); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c DeadLetterConfig) Validate() error {
	var problems []string
	if c.Group == "" {
		problems = append(problems, "empty Group")
	}
	if c.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxAttempts %d", c.MaxAttempts))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: dlq dead-letter config: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// DeadLetter returns a middleware that publishes, with p, the messages the handler gave up on
// to the dead-letter topic, and acknowledges them only once that publish succeeded (see the
// package documentation). p is not closed by the middleware.
func DeadLetter(p courier.Producer, cfg DeadLetterConfig) (courier.Middleware, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: dlq: nil dead-letter producer", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &deadLetterer{next: next, p: p, cfg: cfg}
	}, nil
}

type deadLetterer struct {
	next courier.MessageHandler
	p    courier.Producer
	cfg  DeadLetterConfig
}

func (d *deadLetterer) HandleMessage(ctx context.Context, msg courier.Message) error {
	err := d.next.HandleMessage(ctx, msg)
	if err == nil || ctx.Err() != nil { // a stopped consumer is no reason to give a message up
		return err
	}
	now := time.Now()
	f := RetryError{Err: err, Attempts: msg.Attempt, FirstAttempt: msg.Attempt, FirstFailure: now, LastFailure: now}
	var re *RetryError
	switch {
	case errors.As(err, &re):
		f = *re
	case IsPermanent(err):
		f.Permanent = true
	case d.cfg.MaxAttempts > 0 && msg.Attempt >= d.cfg.MaxAttempts:
	default:
		return err // the message comes back and is tried again
	}
	topic := d.cfg.Topic
	if topic == "" {
		topic = DefaultTopic(msg.Topic, d.cfg.Group)
	}
	dl := d.letter(msg, topic, f)
	if perr := d.p.Send(ctx, dl); perr != nil {
		return fmt.Errorf("dlq: message %s on %q not acknowledged: publishing it to dead-letter topic %q failed: %w (handler error: %v)",
			msg.ID, msg.Topic, topic, perr, err)
	}
	d.cfg.Logger.Warn("dlq: message dead-lettered", "topic", msg.Topic, "id", msg.ID, "group", d.cfg.Group,
		"dead_letter_topic", topic, "reason", dl.Headers[HeaderReason], "attempts", f.Attempts, "err", err)
	return nil
}

// letter is the dead letter of msg: the same message on topic, with the dead-letter headers.
func (d *deadLetterer) letter(msg courier.Message, topic string, f RetryError) courier.Message {
	h := withoutDeadLetterHeaders(msg.Headers)
	reason := ReasonExhausted
	if f.Permanent {
		reason = ReasonPermanent
	}
	h[HeaderOriginalTopic] = msg.Topic
	h[HeaderOriginalKey] = msg.Key
	h[HeaderGroup] = d.cfg.Group
	h[HeaderError] = errorText(f.Err)
	h[HeaderReason] = reason
	h[HeaderAttempts] = strconv.Itoa(f.Attempts)
	h[HeaderFirstFailure] = f.FirstFailure.UTC().Format(time.RFC3339Nano)
	h[HeaderFirstFailureAttempt] = strconv.Itoa(f.FirstAttempt)
	h[HeaderLastFailure] = f.LastFailure.UTC().Format(time.RFC3339Nano)
	return courier.Message{ID: msg.ID, Topic: topic, Key: msg.Key, Value: msg.Value, Headers: h, Timestamp: msg.Timestamp}
}
