package courier_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// heavy are module path prefixes that must stay out of the root module's graph and out of a
// program that uses only the root module and the Redis adapter: the clients of other
// brokers, containers and what they bring.
var heavy = []string{
	"github.com/IBM/sarama",
	"github.com/apache/pulsar-client-go",
	"github.com/testcontainers/",
	"github.com/docker/",
	"github.com/moby/",
	"k8s.io/",
	"github.com/prometheus/",
	"github.com/twmb/franz-go",
}

// listModules returns `go list -m all` of the module in dir, outside the workspace.
func listModules(t *testing.T, dir string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all in %s: %v\n%s", dir, err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func heavyIn(mods []string) []string {
	var found []string
	for _, m := range mods {
		for _, h := range heavy {
			if strings.HasPrefix(m, h) {
				found = append(found, m)
			}
		}
	}
	return found
}

// TestRootModuleGraphIsLight checks what the module split is for: a service that uses the
// root module gets no broker client, container library or Kubernetes module in its graph.
func TestRootModuleGraphIsLight(t *testing.T) {
	mods := listModules(t, ".")
	if found := heavyIn(mods); len(found) > 0 {
		t.Errorf("the root module's graph has heavy modules: %q", found)
	}
	t.Logf("root module graph: %d modules (251 before the split)", len(mods))
}

// TestRedisProgramGraph builds the graph of a program that imports courier, memory and
// redisstreams, as a user's module would require them: it must hold no other broker's client
// and be a small fraction of the 251 modules of the single-module layout.
func TestRedisProgramGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module graph with the go command")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", `module example.com/app

go 1.26.0

require (
	github.com/courier-go/courier v0.0.0-00010101000000-000000000000
	github.com/courier-go/courier/redisstreams v0.0.0-00010101000000-000000000000
)

replace github.com/courier-go/courier => `+root+`

replace github.com/courier-go/courier/redisstreams => `+filepath.Join(root, "redisstreams")+`
`)
	write("main.go", `package main

import (
	"context"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/memory"
	_ "github.com/courier-go/courier/redisstreams"
)

func main() { _, _ = courier.Open(context.Background(), "memory://") }
`)
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir = dir
	tidy.Env = append(os.Environ(), "GOWORK=off")
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	mods := listModules(t, dir)
	if found := heavyIn(mods); len(found) > 0 {
		t.Errorf("a Redis program's graph has heavy modules: %q", found)
	}
	const before, limit = 251, 251 / 3
	if len(mods) > limit {
		t.Errorf("a Redis program's graph has %d modules, more than a third of the %d before the split:\n%s", len(mods), before, strings.Join(mods, "\n"))
	}
	t.Logf("courier + memory + redisstreams: %d modules (%d before the split)", len(mods), before)
}
