package testenv

import (
	"errors"
	"testing"
)

// fakeT records Skip and Fatal without stopping the calling goroutine's test.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Cleanup(func())        {}

func TestBrokerFromEnvironment(t *testing.T) {
	t.Setenv(RedisURL, "redis://example:6379/1")
	if got := Broker(t, RedisURL, nil); got != "redis://example:6379/1" {
		t.Fatalf("Broker = %q", got)
	}
}

func TestBrokerFromStarter(t *testing.T) {
	t.Setenv(RedisURL, "")
	got := Broker(t, RedisURL, func(testing.TB) (string, error) { return "redis://started:1/0", nil })
	if got != "redis://started:1/0" {
		t.Fatalf("Broker = %q", got)
	}
}

func TestUnavailableSkipsOrFails(t *testing.T) {
	t.Setenv(RedisURL, "")
	failing := func(testing.TB) (string, error) { return "", errors.New("no docker") }
	for _, req := range []string{"", "1"} {
		t.Setenv(RequireBrokers, req)
		f := &fakeT{TB: t}
		Broker(f, RedisURL, failing)
		if req == "" && (!f.skipped || f.failed) {
			t.Errorf("without %s: skipped=%v failed=%v, want a skip", RequireBrokers, f.skipped, f.failed)
		}
		if req == "1" && !f.failed {
			t.Errorf("with %s=1: skipped=%v failed=%v, want a failure", RequireBrokers, f.skipped, f.failed)
		}
	}
}
