package dlq

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/courier-go/courier"
)

// DefaultTopic is the dead-letter topic of a group's messages from topic: "<topic>.<group>.dlq".
// The group is part of it because each group fails on its own: two services reading one topic
// must not replay each other's dead letters.
func DefaultTopic(topic, group string) string { return topic + "." + group + ".dlq" }

// DeadLetterConfig configures DeadLetter.
type DeadLetterConfig struct {
	// Group is the consumer group whose messages are dead-lettered; required. It goes into
	// HeaderGroup and the default topic name.
	Group string
	// Topic is the dead-letter topic for every message; "" means DefaultTopic(msg.Topic, Group).
	Topic string
	// Logger receives a line per dead letter (never the payload); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c DeadLetterConfig) Validate() error {
	if c.Group == "" {
		return fmt.Errorf("%w: dlq dead-letter config: empty Group", courier.ErrInvalidConfig)
	}
	return nil
}

// DeadLetter returns a courier.ConsumerConfig.OnExhausted hook that publishes, with p, each
// message whose last attempt failed to the dead-letter topic (see the package documentation).
// The consumer acknowledges the message only once that publish succeeded; when it fails, the
// hook fails, and the consumer calls it again after its Backoff, the message keeping its place.
// p is not closed by the hook.
func DeadLetter(p courier.Producer, cfg DeadLetterConfig) (courier.ExhaustedFunc, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: dlq: nil dead-letter producer", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &deadLetterer{p: p, cfg: cfg}
	return d.deadLetter, nil
}

type deadLetterer struct {
	p   courier.Producer
	cfg DeadLetterConfig
}

func (d *deadLetterer) deadLetter(ctx context.Context, msg courier.Message, err error) error {
	var f *courier.ExhaustedError
	if !errors.As(err, &f) { // called by hand rather than by a consumer
		now := time.Now()
		f = &courier.ExhaustedError{Err: err, Permanent: courier.IsPermanent(err), Attempts: msg.Attempt,
			FirstAttempt: msg.Attempt, FirstFailure: now, LastFailure: now}
	}
	topic := d.cfg.Topic
	if topic == "" {
		topic = DefaultTopic(msg.Topic, d.cfg.Group)
	}
	dl, lerr := d.letter(msg, topic, f)
	if lerr != nil {
		return fmt.Errorf("dlq: message %s on %q: %w", msg.ID, msg.Topic, lerr)
	}
	if perr := d.p.Send(ctx, dl); perr != nil {
		return fmt.Errorf("dlq: message %s on %q not acknowledged: publishing it to dead-letter topic %q failed: %w (handler error: %v)",
			msg.ID, msg.Topic, topic, perr, f.Err)
	}
	d.cfg.Logger.Warn("dlq: message dead-lettered", "topic", msg.Topic, "id", msg.ID, "group", d.cfg.Group,
		"dead_letter_topic", topic, "reason", dl.Headers[HeaderReason], "attempts", f.Attempts, "err", f.Err)
	return nil
}

// letter is the dead letter of msg: the same message on topic, with the dead-letter headers.
// Headers that Send would refuse travel encoded (see EncodedHeaders), and an ID that is not
// valid UTF-8 in HeaderOriginalID, the dead letter getting a new one.
func (d *deadLetterer) letter(msg courier.Message, topic string, f *courier.ExhaustedError) (courier.Message, error) {
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
	if err := encodeRefused(h); err != nil {
		return courier.Message{}, err
	}
	id := msg.ID
	if !utf8.ValidString(id) {
		h[HeaderOriginalID] = "base64:" + base64.StdEncoding.EncodeToString([]byte(id))
		id = ""
	}
	return courier.Message{ID: id, Topic: topic, Key: msg.Key, Value: msg.Value, Headers: h, Timestamp: msg.Timestamp}, nil
}
