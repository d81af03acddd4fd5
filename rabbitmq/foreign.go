package rabbitmq

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/courier-go/courier"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Properties carried as headers. The AMQP properties below travel as the header of the same
// name both ways: a message sent with Headers["content-type"] has that content-type property
// (not a header), and a delivery's content-type property arrives as Headers["content-type"],
// whoever published it. A value over 255 bytes (an AMQP short string) stays a header.
const (
	HeaderContentType     = "content-type"
	HeaderContentEncoding = "content-encoding"
	HeaderCorrelationID   = "correlation-id"
	HeaderReplyTo         = "reply-to"
	HeaderType            = "type"
	HeaderAppID           = "app-id"
)

// Properties a delivery reports as headers but Send does not set from them, since the broker
// checks or acts on them: user-id must name the connection's user, expiration and priority
// change what happens to the message. Set those with SendWith options where they exist.
const (
	HeaderUserID     = "amqp-user-id"
	HeaderExpiration = "amqp-expiration"
	HeaderPriority   = "amqp-priority"
)

// propertyField returns the field of p that the header key travels in, or nil when it
// travels as a header.
func propertyField(p *amqp.Publishing, key string) *string {
	switch key {
	case HeaderContentType:
		return &p.ContentType
	case HeaderContentEncoding:
		return &p.ContentEncoding
	case HeaderCorrelationID:
		return &p.CorrelationId
	case HeaderReplyTo:
		return &p.ReplyTo
	case HeaderType:
		return &p.Type
	case HeaderAppID:
		return &p.AppId
	}
	return nil
}

// decodeProperties adds d's properties to msg's headers. A header the publisher set under
// the same name keeps its name; the property then arrives as "amqp-" + its name, so neither
// is lost.
func decodeProperties(d *amqp.Delivery, msg *courier.Message) {
	for _, p := range []struct{ name, value string }{
		{HeaderContentType, d.ContentType},
		{HeaderContentEncoding, d.ContentEncoding},
		{HeaderCorrelationID, d.CorrelationId},
		{HeaderReplyTo, d.ReplyTo},
		{HeaderType, d.Type},
		{HeaderAppID, d.AppId},
		{HeaderUserID, d.UserId},
		{HeaderExpiration, d.Expiration},
		{HeaderPriority, priorityText(d.Priority)},
	} {
		if p.value == "" {
			continue
		}
		if msg.Headers == nil {
			msg.Headers = make(map[string]string)
		}
		name := p.name
		if _, taken := msg.Headers[name]; taken {
			name = "amqp-" + name
		}
		msg.Headers[name] = p.value
	}
}

func priorityText(p uint8) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(int(p))
}

// headerText is the text form of an AMQP header value, as Headers carry it:
//
//	string                    itself
//	byte array                itself when it is valid UTF-8, else "base64:" and its standard base64
//	boolean                   "true" or "false"
//	integer                   decimal ("-42")
//	float, double             the shortest decimal that reads back as the same value ("0.1", "1e+21")
//	decimal                   decimal with its scale ("12.345")
//	timestamp                 RFC 3339 in UTC ("2024-02-29T23:59:58Z")
//	void                      "" (empty)
//	table, array              JSON, with the values above as JSON strings, numbers and booleans
//	                          (a string inside that is not valid UTF-8 as "base64:...", too)
func headerText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return "base64:" + base64.StdEncoding.EncodeToString(x)
	case nil:
		return ""
	case amqp.Table, []any:
		b, err := json.Marshal(jsonValue(x))
		if err != nil { // jsonValue leaves nothing json cannot write; keep a readable form anyway
			return fmt.Sprint(x)
		}
		return string(b)
	}
	if s, ok := scalarText(v); ok {
		return s
	}
	return fmt.Sprint(v)
}

// scalarText is the text of a value that is neither a string, bytes, void nor a container.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case amqp.Decimal:
		return decimalText(x), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	}
	if n, ok := asInt(v); ok {
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

// decimalText writes Value * 10^-Scale exactly.
func decimalText(d amqp.Decimal) string {
	r := new(big.Rat).SetFrac(big.NewInt(int64(d.Value)), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil))
	return r.FloatString(int(d.Scale))
}

// jsonValue turns a table or array into values encoding/json writes as documented at
// headerText: numbers stay numbers, booleans booleans, the rest strings.
func jsonValue(v any) any {
	switch x := v.(type) {
	case amqp.Table:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonValue(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = jsonValue(e)
		}
		return a
	case string:
		if !utf8.ValidString(x) { // JSON would replace the bytes that are not UTF-8
			return "base64:" + base64.StdEncoding.EncodeToString([]byte(x))
		}
		return x
	case bool, float64, nil:
		return x
	case float32:
		return float64(x)
	}
	if n, ok := asInt(v); ok {
		return n
	}
	return headerText(v)
}
