package kafka_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test of the package leaves a goroutine behind (brokertest checks
// each conformance case by itself as well).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, ignoreGoroutines...)
}
