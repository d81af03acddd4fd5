package kafka

import (
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/google/uuid"
)

func TestPackUUID(t *testing.T) {
	var a strArena
	for range 100 {
		for _, id := range []string{courier.NewID(time.Now()), uuid.NewString()} {
			var b [16]byte
			if !packUUID(id, &b) {
				t.Fatalf("canonical UUID %q not packed", id)
			}
			if got := a.uuid(b[:]); got != id {
				t.Fatalf("unpack(pack(%q)) = %q", id, got)
			}
		}
	}
	for _, id := range []string{
		"", "plain", "01234567-89AB-cdef-0123-456789abcdef", // uppercase would not come back as it was
		"0123456789abcdef0123456789abcdef0123", "01234567-89ab-cdef-0123-456789abcdeg",
		"01234567-89ab-cdef-0123_456789abcdef", "{1234567-89ab-cdef-0123-456789abcdef",
	} {
		var b [16]byte
		if packUUID(id, &b) {
			t.Errorf("%q packed as a UUID; it must travel as text", id)
		}
	}
}
