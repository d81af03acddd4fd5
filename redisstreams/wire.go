package redisstreams

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/recordid"
)

// Field names of a stream entry. See the package documentation for the layout.
const (
	fieldID        = "id"
	fieldKey       = "key"
	fieldTimestamp = "ts"
	fieldValue     = "v" // the default of Config.ValueField
	headerPrefix   = "h:"
)

// Timestamps travel as Unix nanoseconds, which an int64 holds from 1678 to 2262.
var (
	minTimestamp = time.Unix(0, -1<<63)
	maxTimestamp = time.Unix(0, 1<<63-1)
)

// encode appends the field-value pairs of msg's stream entry, for XADD, to args. The value is
// passed as []byte so go-redis writes it without a copy, and the timestamp as an int64, which
// go-redis writes in decimal without making a string of it.
func (l layout) encode(msg *courier.Message, args []any) []any {
	args = append(args, fieldID, msg.ID, fieldTimestamp, msg.Timestamp.UnixNano())
	if msg.Key != "" {
		args = append(args, fieldKey, msg.Key)
	}
	for k, v := range msg.Headers {
		args = append(args, headerPrefix+k, v)
	}
	if msg.Value != nil { // no "v" field at all is how a nil Value travels
		args = append(args, l.valueField, msg.Value)
	}
	return args
}

// checkTimestamp refuses a timestamp that Unix nanoseconds cannot carry.
func checkTimestamp(msg *courier.Message) error {
	if msg.Timestamp.Before(minTimestamp) || msg.Timestamp.After(maxTimestamp) {
		return fmt.Errorf("%w: topic %q: Timestamp %v is outside the years 1678 to 2262 that Redis entries carry",
			courier.ErrInvalidMessage, msg.Topic, msg.Timestamp)
	}
	return nil
}

// layout is how a consumer reads entries: the field that holds the Value, for courier's
// entries and for those of any other layout.
type layout struct {
	valueField string
}

// decoder builds a message from an entry's fields, one at a time.
type decoder struct {
	msg     courier.Message
	layout  layout
	courier bool // the entry has courier's id and ts fields: its key and h: fields are courier's
	hasTS   bool
	// ownsStrings: no one else holds the strings given to field, so Value may share their
	// memory (see bytes).
	ownsStrings bool
}

func (d *decoder) field(name, value string) error {
	switch {
	case name == d.layout.valueField:
		d.msg.Value = d.bytes(value) // never nil: an empty value field is an empty Value
	case !d.courier:
		d.header(name, value)
	case name == fieldID:
		d.msg.ID = value
	case name == fieldKey:
		d.msg.Key = value
	case name == fieldTimestamp:
		ns, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("field %s=%q is not Unix nanoseconds", fieldTimestamp, value)
		}
		d.msg.Timestamp, d.hasTS = time.Unix(0, ns), true
	default:
		if h, ok := strings.CutPrefix(name, headerPrefix); ok {
			name = h
		}
		d.header(name, value)
	}
	return nil
}

func (d *decoder) header(name, value string) {
	if d.msg.Headers == nil {
		d.msg.Headers = make(map[string]string)
	}
	d.msg.Headers[name] = value
}

// bytes returns value as a byte slice. When the decoder owns the reply's strings (go-redis
// reads each bulk string of a reply into a buffer of its own, and the caller drops the reply
// after decoding), it shares their memory instead of copying: nothing else reads that string
// again, and the copy of every value cost as much as the rest of the decoding.
func (d *decoder) bytes(value string) []byte {
	if !d.ownsStrings || len(value) == 0 {
		return []byte(value)
	}
	return unsafe.Slice(unsafe.StringData(value), len(value))
}

// done finishes the message of the entry with the given ID. An entry of another layout gets
// the ID and Timestamp the entry ID gives it (see entryIdentity).
func (d *decoder) done(entryID string) (courier.Message, error) {
	if d.courier && d.hasTS {
		return d.msg, nil
	}
	id, ts, err := entryIdentity(d.msg.Topic, entryID)
	if err != nil {
		return courier.Message{}, err
	}
	if d.msg.ID == "" {
		d.msg.ID = id
	}
	if !d.hasTS {
		d.msg.Timestamp = ts
	}
	return d.msg, nil
}

// entryIdentity derives an ID and a Timestamp from a stream entry ID ("<ms>-<seq>"): the
// entry's millisecond, and a UUIDv7 of that millisecond whose other bits mix the sequence
// number with the topic (see internal/recordid), the same in every group and on every
// delivery. Two entries of one stream never get the same ID.
func entryIdentity(topic, entryID string) (string, time.Time, error) {
	msText, seqText, ok := strings.Cut(entryID, "-")
	ms, err1 := strconv.ParseUint(msText, 10, 64)
	seq, err2 := strconv.ParseUint(seqText, 10, 64)
	if !ok || err1 != nil || err2 != nil || ms > 1<<47 {
		return "", time.Time{}, fmt.Errorf("entry ID %q is not <milliseconds>-<sequence>", entryID)
	}
	ts := time.UnixMilli(int64(ms))
	u := recordid.PartitionMix(topic, 0).UUID(seq, ts)
	return uuidString(u), ts, nil
}

// uuidString is u in the canonical 8-4-4-4-12 form.
func uuidString(u [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// isCourierEntry reports whether an entry with these field names was written by courier: it
// has the id and ts fields.
func isCourierEntry(has func(string) bool) bool {
	return has(fieldID) && has(fieldTimestamp)
}

// decodeMap decodes an entry as go-redis's XREADGROUP returns it. The caller must drop
// fields after: the Value shares memory with its value string.
func (l layout) decodeMap(topic, entryID string, fields map[string]any) (courier.Message, error) {
	d := decoder{msg: courier.Message{Topic: topic, Attempt: 1}, layout: l, ownsStrings: true}
	d.courier = isCourierEntry(func(name string) bool { _, ok := fields[name]; return ok })
	for k, v := range fields {
		s, ok := v.(string)
		if !ok {
			return courier.Message{}, fmt.Errorf("field %q holds a %T", k, v)
		}
		if err := d.field(k, s); err != nil {
			return l.asForeign(d, entryID, err, func(f func(name, value string)) {
				for k, v := range fields {
					s, _ := v.(string)
					f(k, s)
				}
			})
		}
	}
	return d.done(entryID)
}

// asForeign is the message of an entry that failed to decode as courier's (with err): its
// fields read as those of another layout, so that what it holds reaches OnExhausted (and a
// dead letter), and err. fields calls f with each field.
func (l layout) asForeign(d decoder, entryID string, err error, fields func(f func(name, value string))) (courier.Message, error) {
	f := decoder{msg: courier.Message{Topic: d.msg.Topic, Attempt: 1}, layout: l}
	fields(func(name, value string) { _ = f.field(name, value) }) // a foreign field never fails
	msg, idErr := f.done(entryID)
	return msg, errors.Join(err, idErr)
}

// decodePairs decodes an entry's flat field-value list, as a Lua script returns it.
func (l layout) decodePairs(topic, entryID string, fields []any) (courier.Message, error) {
	if len(fields)%2 != 0 {
		return courier.Message{}, fmt.Errorf("odd number (%d) of field names and values", len(fields))
	}
	d := decoder{msg: courier.Message{Topic: topic, Attempt: 1}, layout: l}
	d.courier = isCourierEntry(func(name string) bool {
		for i := 0; i < len(fields); i += 2 {
			if fields[i] == name {
				return true
			}
		}
		return false
	})
	for i := 0; i < len(fields); i += 2 {
		k, ok1 := fields[i].(string)
		v, ok2 := fields[i+1].(string)
		if !ok1 || !ok2 {
			return courier.Message{}, fmt.Errorf("field %d is not a string pair (%T, %T)", i/2, fields[i], fields[i+1])
		}
		if err := d.field(k, v); err != nil {
			return l.asForeign(d, entryID, err, func(f func(name, value string)) {
				for i := 0; i+1 < len(fields); i += 2 {
					k, _ := fields[i].(string)
					v, _ := fields[i+1].(string)
					f(k, v)
				}
			})
		}
	}
	return d.done(entryID)
}
