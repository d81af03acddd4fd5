package testenv

import (
	"errors"
	"strings"
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

func TestContainerWithoutDockerFailsAtOnce(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	if noDocker() == "" {
		t.Skip("this machine has /var/run/docker.sock: a container would really start")
	}
	_, err := Container("redis-for-no-docker-test")(t)
	if err == nil || !strings.Contains(err.Error(), "no Docker engine") {
		t.Fatalf("Container without Docker: err %v, want one saying there is no Docker engine", err)
	}
}

func TestContainerWithDockerHostRunsTheCommand(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:1") // nothing listens there
	t.Setenv("PATH", t.TempDir())                // and there is no go command to run
	_, err := Container("rabbitmq-for-no-go-test")(t)
	if err == nil || !strings.Contains(err.Error(), containerCommand) {
		t.Fatalf("Container with a DOCKER_HOST but no go command: err %v, want one naming %s", err, containerCommand)
	}
}

func TestReportCountsSkips(t *testing.T) {
	skips.Lock()
	saved := skips.n
	skips.n = 0
	skips.Unlock()
	t.Cleanup(func() {
		skips.Lock()
		skips.n = saved
		delete(skips.vars, RedisURL)
		skips.Unlock()
	})
	t.Setenv(RequireBrokers, "")
	t.Setenv(RedisURL, "")
	f := &fakeT{TB: t}
	Broker(f, RedisURL, nil)
	if !f.skipped {
		t.Fatal("Broker without its variable did not skip")
	}
	skips.Lock()
	n, named := skips.n, skips.vars[RedisURL]
	skips.Unlock()
	if n != 1 || !named {
		t.Errorf("after one skip: count %d, %s recorded %v", n, RedisURL, named)
	}
}
