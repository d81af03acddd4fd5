package dlq

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
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
	HeaderEncodedHeaders      = "dlq-encoded-headers"       // headers Send refuses, encoded: see EncodedHeaders
	HeaderOriginalID          = "dlq-original-id"           // an ID that is not valid UTF-8, as "base64:..."
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
// HeaderReplayCount and HeaderEncodedHeaders, which follow the message through replays.
func withoutDeadLetterHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h)+10)
	for k, v := range h {
		if !strings.HasPrefix(k, HeaderPrefix) || k == HeaderReplayCount || k == HeaderEncodedHeaders {
			out[k] = v
		}
	}
	return out
}

// encodeRefused moves out of h the headers Send would refuse (a key with courier's reserved
// prefix from another producer, a key or value that is not valid UTF-8, a key over 255
// bytes) into HeaderEncodedHeaders, added to what it held already, so that a message
// consumed from another producer can always be published as a dead letter, and nothing of it
// is lost.
func encodeRefused(h map[string]string) error {
	refused := map[string]string{}
	for k, v := range h {
		if k != HeaderEncodedHeaders && driver.ValidateHeader(k, v) != nil {
			refused[k] = v
			delete(h, k)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	if prev, ok := h[HeaderEncodedHeaders]; ok {
		old, err := decodeHeaders(prev)
		if err != nil {
			return err
		}
		for k, v := range old {
			if _, newer := refused[k]; !newer {
				refused[k] = v
			}
		}
	}
	pairs := make([][2]string, 0, len(refused))
	for _, k := range slices.Sorted(maps.Keys(refused)) {
		pairs = append(pairs, [2]string{base64.StdEncoding.EncodeToString([]byte(k)), base64.StdEncoding.EncodeToString([]byte(refused[k]))})
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		return err
	}
	h[HeaderEncodedHeaders] = string(b)
	return nil
}

// EncodedHeaders returns the headers a dead letter (or a message Replay sent back) carries in
// HeaderEncodedHeaders: those of the original message that Send refuses, byte for byte. The
// header holds a JSON array of [key, value] pairs, each in standard base64. A message without
// the header has none: the map is empty and the error nil.
func EncodedHeaders(msg courier.Message) (map[string]string, error) {
	v, ok := msg.Headers[HeaderEncodedHeaders]
	if !ok {
		return map[string]string{}, nil
	}
	h, err := decodeHeaders(v)
	if err != nil {
		return nil, fmt.Errorf("dlq: message %s on %q: %w", msg.ID, msg.Topic, err)
	}
	return h, nil
}

func decodeHeaders(v string) (map[string]string, error) {
	var pairs [][2]string
	if err := json.Unmarshal([]byte(v), &pairs); err != nil {
		return nil, fmt.Errorf("header %s is not a JSON array of pairs: %w", HeaderEncodedHeaders, err)
	}
	h := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, err1 := base64.StdEncoding.DecodeString(p[0])
		v, err2 := base64.StdEncoding.DecodeString(p[1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("header %s: %w", HeaderEncodedHeaders, err)
		}
		h[string(k)] = string(v)
	}
	return h, nil
}
