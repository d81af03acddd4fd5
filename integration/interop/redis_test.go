package interop

import (
	"bytes"
	"context"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	_ "github.com/courier-go/courier/redisstreams"
)

// redisTarget returns the test Redis URL, a broker with a prefix of the test's own, and the
// redis-cli arguments that reach the same database; the test's streams are deleted at its end.
func redisTarget(t *testing.T) (courier.Broker, string, []string) {
	t.Helper()
	cli := tool(t, "redis-cli", "redis-tools")
	url := testenv.Broker(t, testenv.RedisURL, nil)
	prefix := randomName("interop-") + ":"
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	b, err := courier.Open(context.Background(), url+sep+"prefix="+prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	args := []string{"-u", url}
	t.Cleanup(func() {
		keys := strings.Fields(string(run(t, nil, cli, append(args, "--scan", "--pattern", prefix+"*")...)))
		if len(keys) > 0 {
			run(t, nil, cli, append(append(args, "DEL"), keys...)...)
		}
	})
	return b, prefix, append([]string{cli}, args...)
}

// TestRedisCLIToCourier: an entry redis-cli added (a header field and a binary value read
// from standard input) reaches a courier consumer, with the ID and Timestamp of its entry ID.
func TestRedisCLIToCourier(t *testing.T) {
	b, prefix, cli := redisTarget(t)
	c := newConsumer(t, b, "g", "from-cli")
	value := binaryValue()
	// -x: the last argument, the value field "v", is standard input, byte for byte.
	entryID := strings.TrimSpace(string(run(t, value, cli[0], append(cli[1:], "-x", "XADD", prefix+"from-cli", "*", "source", "redis-cli", "v")...)))
	m := receiveOne(t, b, c)
	if !bytes.Equal(m.Value, value) {
		t.Errorf("value of %d bytes differs from the %d sent", len(m.Value), len(value))
	}
	if want := map[string]string{"source": "redis-cli"}; !maps.Equal(m.Headers, want) {
		t.Errorf("headers %q, want %q", m.Headers, want)
	}
	ms, _, _ := strings.Cut(entryID, "-")
	if got := strconv.FormatInt(m.Timestamp.UnixMilli(), 10); got != ms {
		t.Errorf("Timestamp %v (%s ms), want the entry ID %s's millisecond", m.Timestamp, got, entryID)
	}
	checkDerivedID(t, m.ID, m.Timestamp)
}

// TestCourierToRedisCLI: redis-cli reads courier's entry as the documented fields.
func TestCourierToRedisCLI(t *testing.T) {
	b, prefix, cli := redisTarget(t)
	ts := time.Unix(1767225600, 123456789)
	send(t, b, courier.Message{ID: "order-1", Topic: "to-cli", Key: "customer-9", Value: []byte("hello"),
		Timestamp: ts, Headers: map[string]string{"trace": "t-1"}})
	lines := strings.Split(strings.TrimSpace(string(run(t, nil, cli[0], append(cli[1:], "--raw", "XRANGE", prefix+"to-cli", "-", "+")...))), "\n")
	if len(lines) < 3 || len(lines)%2 != 1 {
		t.Fatalf("XRANGE printed %q", lines)
	}
	fields := map[string]string{}
	for i := 1; i+1 < len(lines); i += 2 {
		fields[lines[i]] = lines[i+1]
	}
	want := map[string]string{"id": "order-1", "key": "customer-9", "ts": strconv.FormatInt(ts.UnixNano(), 10), "h:trace": "t-1", "v": "hello"}
	if !maps.Equal(fields, want) {
		t.Errorf("redis-cli read %q, want %q", fields, want)
	}
}
