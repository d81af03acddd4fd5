package redisstreams_test

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	_ "github.com/courier-go/courier/redisstreams"
)

const testMaxMessageBytes = 4 << 20

// testPrefix returns a stream key prefix of its own for one test, and deletes the streams
// under it when the test ends.
func testPrefix(t testing.TB, url string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "courier-test-" + hex.EncodeToString(b[:]) + ":"
	admin := adminClient(t, url)
	t.Cleanup(func() { deleteKeys(t, admin, prefix) })
	return prefix
}

// harness opens a broker per case, configured through the URL. Claim passes are frequent so
// that, in the case where a consumer closes mid-handling, the group's other consumer takes the
// entries it hands back promptly; ClaimIdle (for entries of consumers that die without
// handing back) stays long enough that a loaded machine does not make a live consumer's
// entries look abandoned.
func harness(url, prefix string) brokertest.Harness {
	return brokertest.Harness{NewBroker: func(t testing.TB) courier.Broker {
		b, err := courier.Open(t.Context(), withParams(url, "prefix="+prefix, "max_message_bytes="+strconv.Itoa(testMaxMessageBytes),
			"block=100ms", "claim_idle=2s", "claim_interval=100ms"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}}
}

// withParams adds query parameters to url.
func withParams(url string, params ...string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + strings.Join(params, "&")
}

func TestConformance(t *testing.T) {
	url := redisURL(t)
	brokertest.Run(t, harness(url, testPrefix(t, url)), brokertest.Capabilities{
		Replay:          true,
		NilValue:        true,
		MaxMessageBytes: testMaxMessageBytes,
		// Redis hands a stream's entries to a group's consumers in turn, whatever their key.
		KeyOrder: brokertest.OrderWithinConsumer,
		// Attempt is the entry's delivery count in the group's pending list.
		RedeliveryCount: true,
	})
}
