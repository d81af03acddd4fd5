package redisstreams

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/courier-go/courier"
)

// Field names of a stream entry. See the package documentation for the layout.
const (
	fieldID        = "id"
	fieldKey       = "key"
	fieldTimestamp = "ts"
	fieldValue     = "v"
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
func encode(msg *courier.Message, args []any) []any {
	args = append(args, fieldID, msg.ID, fieldTimestamp, msg.Timestamp.UnixNano())
	if msg.Key != "" {
		args = append(args, fieldKey, msg.Key)
	}
	for k, v := range msg.Headers {
		args = append(args, headerPrefix+k, v)
	}
	if msg.Value != nil { // no "v" field at all is how a nil Value travels
		args = append(args, fieldValue, msg.Value)
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

// decoder builds a message from an entry's fields, one at a time.
type decoder struct {
	msg   courier.Message
	hasID bool
	hasTS bool
	// ownsStrings: no one else holds the strings given to field, so Value may share their
	// memory (see bytes).
	ownsStrings bool
}

func (d *decoder) field(name, value string) error {
	switch name {
	case fieldID:
		d.msg.ID, d.hasID = value, true
	case fieldKey:
		d.msg.Key = value
	case fieldTimestamp:
		ns, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("field %s=%q is not Unix nanoseconds", fieldTimestamp, value)
		}
		d.msg.Timestamp, d.hasTS = time.Unix(0, ns), true
	case fieldValue:
		d.msg.Value = d.bytes(value) // never nil: an empty "v" is an empty Value
	default:
		h, ok := strings.CutPrefix(name, headerPrefix)
		if !ok {
			return fmt.Errorf("unknown field %q", name)
		}
		if d.msg.Headers == nil {
			d.msg.Headers = make(map[string]string)
		}
		d.msg.Headers[h] = value
	}
	return nil
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

func (d *decoder) done() (courier.Message, error) {
	if !d.hasID || !d.hasTS {
		return courier.Message{}, fmt.Errorf("entry lacks the %q or %q field: not written by courier", fieldID, fieldTimestamp)
	}
	return d.msg, nil
}

// decodeMap decodes an entry as go-redis's XREADGROUP returns it. The caller must drop
// fields after: the Value shares memory with its "v" string.
func decodeMap(topic string, fields map[string]any) (courier.Message, error) {
	d := decoder{msg: courier.Message{Topic: topic, Attempt: 1}, ownsStrings: true}
	for k, v := range fields {
		s, ok := v.(string)
		if !ok {
			return courier.Message{}, fmt.Errorf("field %q holds a %T", k, v)
		}
		if err := d.field(k, s); err != nil {
			return courier.Message{}, err
		}
	}
	return d.done()
}

// decodePairs decodes an entry's flat field-value list, as a Lua script returns it.
func decodePairs(topic string, fields []any) (courier.Message, error) {
	if len(fields)%2 != 0 {
		return courier.Message{}, fmt.Errorf("odd number (%d) of field names and values", len(fields))
	}
	d := decoder{msg: courier.Message{Topic: topic, Attempt: 1}}
	for i := 0; i < len(fields); i += 2 {
		k, ok1 := fields[i].(string)
		v, ok2 := fields[i+1].(string)
		if !ok1 || !ok2 {
			return courier.Message{}, fmt.Errorf("field %d is not a string pair (%T, %T)", i/2, fields[i], fields[i+1])
		}
		if err := d.field(k, v); err != nil {
			return courier.Message{}, err
		}
	}
	return d.done()
}
