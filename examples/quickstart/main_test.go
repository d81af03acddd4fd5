package main

import (
	"context"
	"testing"
)

func TestQuickstartRunsOnMemory(t *testing.T) {
	if err := run(context.Background(), "memory://", 20); err != nil {
		t.Fatal(err)
	}
}

func TestQuickstartRejectsUnknownScheme(t *testing.T) {
	if err := run(context.Background(), "nosuch://host", 1); err == nil {
		t.Fatal("no error for an unregistered scheme")
	}
}
