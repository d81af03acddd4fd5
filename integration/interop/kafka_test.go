package interop

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/kafka"
)

// kafkaCluster starts a kfake cluster with the topics and opens courier on it.
func kafkaCluster(t *testing.T, topics ...string) (addr string, b courier.Broker) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr = c.ListenAddrs()[0]
	b, err = courier.Open(context.Background(), "kafka://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return addr, b
}

// TestKcatToCourier: a record kcat produced (key, headers, a binary value in a file) reaches
// a courier consumer with all of them, an ID derived from the record and its timestamp.
func TestKcatToCourier(t *testing.T) {
	kcat := tool(t, "kcat", "kcat")
	addr, b := kafkaCluster(t, "from-kcat")
	c := newConsumer(t, b, "g", "from-kcat")
	value := binaryValue()
	file := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(file, value, 0o600); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	run(t, nil, kcat, "-b", addr, "-t", "from-kcat", "-P", "-k", "order-7", "-H", "trace=abc", "-H", "empty=", file)
	after := time.Now()
	m := receiveOne(t, b, c)
	if m.Key != "order-7" || !bytes.Equal(m.Value, value) {
		t.Errorf("key %q value of %d bytes, want order-7 and the file's %d bytes", m.Key, len(m.Value), len(value))
	}
	if want := map[string]string{"trace": "abc", "empty": ""}; !maps.Equal(m.Headers, want) {
		t.Errorf("headers %q, want %q", m.Headers, want)
	}
	between(t, "Timestamp", m.Timestamp, before, after)
	checkDerivedID(t, m.ID, m.Timestamp)
}

// TestCourierToKcat: what courier sends, kcat reads as a plain record: the key, the headers
// and the value byte for byte, and the timestamp as the record's.
func TestCourierToKcat(t *testing.T) {
	kcat := tool(t, "kcat", "kcat")
	addr, b := kafkaCluster(t, "to-kcat")
	value := binaryValue()
	ts := time.UnixMilli(1767225600123)
	send(t, b, courier.Message{Topic: "to-kcat", Key: "user-1", Value: value, Timestamp: ts,
		Headers: map[string]string{"content-type": "application/octet-stream"}})
	out := run(t, nil, kcat, "-b", addr, "-t", "to-kcat", "-C", "-o", "beginning", "-c", "1", "-e",
		"-f", "key=%k\nts=%T\nheaders=%h\n%s")
	fields := bytes.SplitN(out, []byte("\n"), 4)
	if len(fields) != 4 {
		t.Fatalf("kcat printed %q", out)
	}
	if k := string(fields[0]); k != "key=user-1" {
		t.Errorf("kcat read %s, want key=user-1", k)
	}
	if got, _ := strconv.ParseInt(strings.TrimPrefix(string(fields[1]), "ts="), 10, 64); got != ts.UnixMilli() {
		t.Errorf("kcat read %s, want ts=%d", fields[1], ts.UnixMilli())
	}
	if h := string(fields[2]); h != "headers=content-type=application/octet-stream" {
		t.Errorf("kcat read %s, want only the user's header", h)
	}
	if !bytes.Equal(fields[3], value) {
		t.Errorf("kcat read a value of %d bytes that differs from the %d sent", len(fields[3]), len(value))
	}
}
