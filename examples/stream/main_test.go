package main

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRun runs the example on the memory broker, as `go run` does by default, and checks
// what it printed.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := run(ctx, "memory://", f); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for s := bufio.NewScanner(f); s.Scan(); {
		lines = append(lines, s.Text())
	}
	if len(lines) != 4*3+1 || !strings.HasPrefix(lines[0], "12:00 /blog ") || lines[len(lines)-1] != "late clicks dropped: 1" {
		t.Fatalf("printed %q; want 3 minutes of 4 pages and 1 late click", lines)
	}
}
