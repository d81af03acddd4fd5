package rabbitmq

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQueueName(t *testing.T) {
	cases := []struct{ group, topic, want string }{
		{"billing", "orders", "billing.orders"},
		{"a.b", "c", "a%2Eb.c"},
		{"a", "b.c", "a.b.c"},
		{"100%", "x", "100%25.x"},
	}
	for _, c := range cases {
		if got := QueueName(c.group, c.topic); got != c.want {
			t.Errorf("QueueName(%q, %q) = %q, want %q", c.group, c.topic, got, c.want)
		}
	}
	// Pairs that a plain "group.topic" would give one queue get two.
	if QueueName("a.b", "c") == QueueName("a", "b.c") {
		t.Error("groups and topics with dots share a queue")
	}
	if QueueName("a%2Eb", "c") == QueueName("a.b", "c") {
		t.Error("an escaped group and its unescaped form share a queue")
	}
	long := strings.Repeat("g", 200)
	n1, n2 := QueueName(long, strings.Repeat("é", 100)), QueueName(long, strings.Repeat("é", 100)+"x")
	for _, n := range []string{n1, n2} {
		if len(n) > maxShortString || !utf8.ValidString(n) {
			t.Errorf("long name %q: %d bytes, valid UTF-8 %v", n, len(n), utf8.ValidString(n))
		}
	}
	if n1 == n2 {
		t.Error("two long names cut to the same queue")
	}
}
