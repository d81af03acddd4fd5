// Package testenv finds the brokers that tests run against, the same way in every package:
// from a COURIER_* environment variable, else from a container that testcontainers-go starts
// when a Docker engine is there, else the test is skipped, or, with COURIER_REQUIRE_BROKERS=1
// (as .ci/run sets), failed, so that CI never goes green on skipped broker tests.
package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables naming the brokers under test.
const (
	KafkaBrokers   = "COURIER_KAFKA_BROKERS" // host:port[,host:port...]
	AMQPURL        = "COURIER_AMQP_URL"      // amqp://user:pass@host:5672/vhost
	RedisURL       = "COURIER_REDIS_URL"     // redis://host:6379/0
	PulsarURL      = "COURIER_PULSAR_URL"    // pulsar://host:6650
	PostgresURL    = "COURIER_POSTGRES_URL"  // postgres://user@host:5432/db?sslmode=disable (stores)
	RequireBrokers = "COURIER_REQUIRE_BROKERS"
)

// Required reports whether COURIER_REQUIRE_BROKERS asks that broker tests never skip.
func Required() bool {
	v := os.Getenv(RequireBrokers)
	return v != "" && v != "0" && v != "false"
}

// Starter starts a broker for the test (with testcontainers-go, say) and returns its address.
// The starter arranges its own cleanup with t.Cleanup.
type Starter func(t testing.TB) (string, error)

// Broker returns the address of the broker named by the environment variable env, or the
// one start brings up (start may be nil). If neither gives one, the test is skipped with a
// message saying how to provide it, or failed when Required.
func Broker(t testing.TB, env string, start Starter) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	why := "no " + env + " set and no way to start a broker"
	if start != nil {
		addr, err := start(t)
		if err == nil {
			return addr
		}
		why = "no " + env + " set, and starting a container failed: " + err.Error()
	}
	unavailable(t, env, why)
	return ""
}

// Unavailable skips the test for want of a broker, or fails it when Required.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	unavailable(t, "", why)
}

func unavailable(t testing.TB, env, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("broker unavailable and %s=1 forbids skipping: %s", RequireBrokers, why)
	}
	skips.Lock()
	skips.n++
	if env != "" {
		skips.vars[env] = true
	}
	skips.Unlock()
	t.Skipf("skipped: broker unavailable: %s (set the COURIER_* variables, or run a Docker engine)", why)
}

// skips counts the tests of this process skipped for want of a broker, and the variables
// that would have named one.
var skips = struct {
	sync.Mutex
	n    int
	vars map[string]bool
}{vars: map[string]bool{}}

// Main runs a package's tests (call it from TestMain: os.Exit(testenv.Main(m))) and then
// reports, as Report does, the tests skipped for want of a broker.
func Main(m *testing.M) int {
	code := m.Run()
	Report()
	return code
}

// Report says how many tests of this package were skipped for want of a broker, and which
// variables to set, when any were. go test shows a passing package's output only with -v, so
// the line also goes to the terminal (/dev/tty) when there is one: a developer who runs
// `go test ./...` without the variables sees which packages tested less than they seem to.
func Report() {
	skips.Lock()
	n := skips.n
	vars := make([]string, 0, len(skips.vars))
	for v := range skips.vars {
		vars = append(vars, v)
	}
	skips.Unlock()
	if n == 0 {
		return
	}
	slices.Sort(vars)
	set := "the COURIER_* variables"
	if len(vars) > 0 {
		set = strings.Join(vars, ", ")
	}
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	line := fmt.Sprintf("courier: %s: %d tests skipped for want of a broker: set %s (or run a Docker engine); %s=1 makes them fail instead\n",
		pkg, n, set, RequireBrokers)
	fmt.Print(line)
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		_, _ = tty.WriteString(line)
		_ = tty.Close()
	}
}

// Container returns a Starter that runs a broker of the given kind (redis, rabbitmq, kafka,
// pulsar) in a container, once per test binary, when a Docker engine is there. The container
// is started by the command courier-containers of the containers module, in a process of its
// own, so that no module but that one has testcontainers-go in its module graph; the command
// removes the container when this process exits (its standard input, a pipe from here, then
// closes). Without a Docker engine the Starter fails at once, saying so.
func Container(kind string) Starter {
	return func(testing.TB) (string, error) {
		started.Lock()
		c, ok := started.m[kind]
		if !ok {
			c = &containerOnce{}
			started.m[kind] = c
		}
		started.Unlock()
		c.once.Do(func() { c.addr, c.err = startContainer(kind) })
		return c.addr, c.err
	}
}

type containerOnce struct {
	once sync.Once
	addr string
	err  error
}

// started holds the containers of this process by kind, and the standard inputs of their
// commands, open until this process exits.
var started = struct {
	sync.Mutex
	m         map[string]*containerOnce
	keepAlive []io.WriteCloser
}{m: map[string]*containerOnce{}}

// containerCommand is the package `go run` runs to start a container.
const containerCommand = "github.com/courier-go/courier/containers/cmd/courier-containers"

// containerStartTimeout bounds building the command, pulling the image and starting it.
const containerStartTimeout = 10 * time.Minute

func startContainer(kind string) (string, error) {
	if why := noDocker(); why != "" {
		return "", errors.New(why)
	}
	cmd := exec.Command("go", "run", containerCommand, kind)
	stdin, err := cmd.StdinPipe() // never closed here: it closes when this process exits
	if err != nil {
		return "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", containerCommand, err)
	}
	started.Lock()
	started.keepAlive = append(started.keepAlive, stdin)
	started.Unlock()
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- strings.TrimSpace(s.Text())
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case addr, ok := <-line:
		if ok && addr != "" {
			return addr, nil
		}
		_ = cmd.Wait()
		return "", fmt.Errorf("%s %s: %s", containerCommand, kind, strings.TrimSpace(stderr.String()))
	case <-time.After(containerStartTimeout):
		_ = cmd.Process.Kill()
		return "", fmt.Errorf("%s %s: no address after %v", containerCommand, kind, containerStartTimeout)
	}
}

// noDocker says why no Docker engine can be reached, or "" when one may be.
func noDocker() string {
	if os.Getenv("DOCKER_HOST") != "" {
		return ""
	}
	for _, sock := range []string{"/var/run/docker.sock", os.ExpandEnv("$XDG_RUNTIME_DIR/docker.sock"), os.ExpandEnv("$HOME/.docker/run/docker.sock")} {
		if _, err := os.Stat(sock); err == nil {
			return ""
		}
	}
	return "no Docker engine (DOCKER_HOST unset and no docker.sock found)"
}
