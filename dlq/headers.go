package dlq

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/courier-go/courier"
)

// Headers of a dead letter. They start with HeaderPrefix, never with courier's reserved
// "courier-" prefix, so dead letters are ordinary messages on every broker. Headers that
// start with HeaderPrefix belong to this package: DeadLetter replaces them and Replay removes
// them (but HeaderReplayCount), so applications must not use it for their own.
const (
	HeaderPrefix              = "dlq-"
	HeaderOriginalTopic       = "dlq-original-topic"        // topic the message failed on
	HeaderOriginalKey         = "dlq-original-key"          // its Key (the dead letter keeps the Key too)
	HeaderGroup               = "dlq-group"                 // group whose handler failed
	HeaderError               = "dlq-error"                 // text of the last error, at most MaxErrorBytes
	HeaderReason              = "dlq-reason"                // ReasonPermanent or ReasonExhausted
	HeaderAttempts            = "dlq-attempts"              // attempt that failed last, decimal
	HeaderFirstFailure        = "dlq-first-failure"         // RFC 3339 (nanoseconds), see the package doc
	HeaderFirstFailureAttempt = "dlq-first-failure-attempt" // attempt of that failure, decimal
	HeaderLastFailure         = "dlq-last-failure"          // RFC 3339 (nanoseconds)
	HeaderReplayCount         = "dlq-replay-count"          // times Replay sent the message back, decimal
	headerReplayPass          = "dlq-replay-kept-by-run"    // set by a Replay run on dead letters it kept
)

// Values of HeaderReason.
const (
	ReasonPermanent = "permanent"
	ReasonExhausted = "exhausted"
)

// MaxErrorBytes bounds HeaderError: error texts can be long, and headers travel with every
// copy of the message.
const MaxErrorBytes = 1024

// Info is what the headers of a dead letter say.
type Info struct {
	OriginalTopic       string
	OriginalKey         string
	Group               string
	Error               string
	Reason              string
	Attempts            int
	FirstFailure        time.Time
	FirstFailureAttempt int
	LastFailure         time.Time
	ReplayCount         int
}

// ParseInfo reads the dead-letter headers of msg. It never panics: a header that is missing or
// malformed leaves its field zero and is named in the returned error, which lists them all.
// The fields that parsed are set even when the error is not nil.
func ParseInfo(msg courier.Message) (Info, error) {
	h := msg.Headers // reading a nil map is fine
	info := Info{
		OriginalTopic: h[HeaderOriginalTopic],
		OriginalKey:   h[HeaderOriginalKey],
		Group:         h[HeaderGroup],
		Error:         h[HeaderError],
		Reason:        h[HeaderReason],
	}
	var errs []error
	if info.OriginalTopic == "" {
		errs = append(errs, fmt.Errorf("header %s is missing or empty", HeaderOriginalTopic))
	}
	number := func(key string, dst *int) {
		v, ok := h[key]
		if !ok {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("header %s=%.64q is not a whole number >= 0", key, v))
			return
		}
		*dst = n
	}
	moment := func(key string, dst *time.Time) {
		v, ok := h[key]
		if !ok {
			return
		}
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s=%.64q is not an RFC 3339 time", key, v))
			return
		}
		*dst = t
	}
	number(HeaderAttempts, &info.Attempts)
	number(HeaderFirstFailureAttempt, &info.FirstFailureAttempt)
	number(HeaderReplayCount, &info.ReplayCount)
	moment(HeaderFirstFailure, &info.FirstFailure)
	moment(HeaderLastFailure, &info.LastFailure)
	if err := errors.Join(errs...); err != nil {
		return info, fmt.Errorf("dlq: message %s on %q: %w", msg.ID, msg.Topic, err)
	}
	return info, nil
}

// errorText is err's text made fit for a header: valid UTF-8, at most MaxErrorBytes.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	s := strings.ToValidUTF8(err.Error(), "\uFFFD")
	if len(s) <= MaxErrorBytes {
		return s
	}
	s = s[:MaxErrorBytes-len("...")]
	return strings.ToValidUTF8(s, "") + "..." // the cut may have split a character
}

// withoutDeadLetterHeaders returns a copy of h without the dead-letter headers but
// HeaderReplayCount, which follows the message through replays.
func withoutDeadLetterHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h)+10)
	for k, v := range h {
		if !strings.HasPrefix(k, HeaderPrefix) || k == HeaderReplayCount {
			out[k] = v
		}
	}
	return out
}
