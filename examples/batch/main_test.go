package main

import (
	"context"
	"testing"
	"time"
)

// TestRun runs the example on the memory broker, as `go run` does by default.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, "memory://"); err != nil {
		t.Fatal(err)
	}
}
