package kafka

import (
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
)

// TestStrArenaStringsStayIntact fills several chunks with strings of every size up to past
// the arena's limit and checks that none changed as later ones were made.
func TestStrArenaStringsStayIntact(t *testing.T) {
	var a strArena
	var got, want []string
	for i := range 3 * arenaChunk / 8 {
		s := strings.Repeat(string(rune('a'+i%26)), i%(arenaMax+40))
		want = append(want, s)
		got = append(got, a.copy([]byte(s)))
		u := recordUUID("topic-x", 3, int64(i), time.UnixMilli(int64(i)))
		want = append(want, uuid.UUID(u).String())
		got = append(got, a.uuid(&u))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d is %q, want %q", i, got[i], want[i])
		}
	}
	if a.copy(nil) != "" || a.copy([]byte{}) != "" {
		t.Error("empty bytes did not give an empty string")
	}
}

func BenchmarkFromRecord(b *testing.B) {
	cm := &sarama.ConsumerMessage{Topic: "orders", Partition: 3, Offset: 123456789, Value: make([]byte, 1024)}
	d := newDecoder(cm.Topic, cm.Partition)
	b.ReportAllocs()
	for b.Loop() {
		_ = d.message(cm)
	}
}
