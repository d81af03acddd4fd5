package courier_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeProgram runs the program in README.md as it stands, in a module of its own that
// uses this checkout: copied into a main.go, it must build, run and print what it says.
func TestReadmeProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program with the go command")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```go\npackage main\n")
	program, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("README.md has no ```go block holding a package main")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"main.go": "package main\n" + program,
		"go.mod": "module example.com/readme\n\ngo 1.26.0\n\nrequire github.com/courier-go/courier v0.0.0-00010101000000-000000000000\n\n" +
			"replace github.com/courier-go/courier => " + root + "\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"mod", "tidy"}, {"run", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "run" && !strings.Contains(string(out), `order of customer-42: {"total":42}`) {
			t.Errorf("the README program printed %q", out)
		}
	}
}
