package main

import (
	"context"
	"testing"
	"time"
)

func TestRunsOnEmbeddedCluster(t *testing.T) {
	if err := run(context.Background(), "", 20); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableBrokers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // the broker retries until then
	defer cancel()
	if err := run(ctx, "127.0.0.1:1", 1); err == nil {
		t.Fatal("no error for unreachable brokers")
	}
}
