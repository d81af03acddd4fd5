package main

import (
	"context"
	"testing"
)

func TestRunsOnEmbeddedCluster(t *testing.T) {
	if err := run(context.Background(), "", 20); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableBrokers(t *testing.T) {
	if err := run(context.Background(), "127.0.0.1:1", 1); err == nil {
		t.Fatal("no error for unreachable brokers")
	}
}
