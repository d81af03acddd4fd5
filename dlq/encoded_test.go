package dlq

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/courier-go/courier"
)

// foreignHeaders are headers another producer may put on a message that Send refuses: a key
// with courier's reserved prefix (in any case), a value and a key that are not UTF-8, a key
// over 255 bytes.
func foreignHeaders() map[string]string {
	return map[string]string{
		"Courier-ID":             "theirs",
		"courier-meta":           "x",
		"binary":                 "\xff\x00\xfe",
		"\xffkey":                "v",
		strings.Repeat("k", 300): "long key",
		"ok":                     "kept as it is",
	}
}

// TestDeadLetterCarriesRefusedHeaders: a consumed message whose headers Send would refuse is
// still dead-lettered (the publish used to fail, and the message came back without end): the
// refused headers travel encoded, the others as they are, and an ID that is not UTF-8 in
// HeaderOriginalID; Replay keeps the encoded headers, which EncodedHeaders gives back byte
// for byte.
func TestDeadLetterCarriesRefusedHeaders(t *testing.T) {
	b := newBroker(t)
	p := producer(t, b)
	dl := deadLetterTo(t, p, DeadLetterConfig{Group: "g"})
	in := foreignHeaders()
	msg := courier.Message{ID: "id-\xff", Topic: "orders", Key: "k", Value: []byte("v"), Attempt: 3, Headers: maps.Clone(in)}
	if err := dl(context.Background(), msg, Permanent(errors.New("cannot handle"))); err != nil {
		t.Fatalf("dead-lettering a message with headers Send refuses: %v", err)
	}
	if !maps.Equal(msg.Headers, in) {
		t.Error("DeadLetter changed the consumed message's headers")
	}

	h := newCollector(nil)
	c := consume(t, b, courier.ConsumerConfig{Group: "read-dlq", Topics: []string{DefaultTopic("orders", "g")}}, h)
	h.wait(t, 1)
	c.stop(t)
	letter := h.all()[0]
	if letter.Headers["ok"] != "kept as it is" {
		t.Errorf("an acceptable header did not travel as it is: %q", letter.Headers)
	}
	if got := letter.Headers[HeaderOriginalID]; got != "base64:aWQt/w==" {
		t.Errorf("%s = %q, want the ID in base64", HeaderOriginalID, got)
	}
	refused, err := EncodedHeaders(letter)
	if err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(in)
	delete(want, "ok")
	if !maps.Equal(refused, want) {
		t.Errorf("EncodedHeaders = %q, want %q", refused, want)
	}

	res := replay(t, b, DefaultTopic("orders", "g"), ReplayOptions{IdleTimeout: idle})
	if res.Replayed != 1 {
		t.Fatalf("replayed %+v", res)
	}
	back := newCollector(nil)
	c = consume(t, b, courier.ConsumerConfig{Group: "fixed", Topics: []string{"orders"}}, back)
	back.wait(t, 1)
	c.stop(t)
	again, err := EncodedHeaders(back.all()[0])
	if err != nil || !maps.Equal(again, want) {
		t.Errorf("after Replay: EncodedHeaders = %q, %v; want %q", again, err, want)
	}
}

func TestEncodedHeadersMalformed(t *testing.T) {
	for _, v := range []string{"{", `[["!!", "aa=="]]`, `[1]`} {
		if _, err := EncodedHeaders(courier.Message{Headers: map[string]string{HeaderEncodedHeaders: v}}); err == nil {
			t.Errorf("%s=%q: no error", HeaderEncodedHeaders, v)
		}
	}
	if h, err := EncodedHeaders(courier.Message{}); err != nil || len(h) != 0 {
		t.Errorf("a message without the header: %q, %v", h, err)
	}
}
