package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	for _, c := range []struct {
		args    []string
		wantErr string
		wantOut string
	}{
		{nil, "missing -url and -topic", ""},
		{[]string{"-url", "memory://"}, "missing -topic", ""},
		{[]string{"-url", "memory://", "-topic", "t", "-limit", "-1"}, "negative Limit", ""},
		{[]string{"-url", "nope://x", "-topic", "t"}, `no broker registered for scheme "nope"`, ""},
		{[]string{"-url", "memory://", "-topic", "t", "extra"}, "unexpected arguments", ""},
		{[]string{"-bogus"}, "flag provided but not defined", ""},
		// A fresh memory broker has nothing to replay: the run ends on the idle timeout.
		{[]string{"-url", "memory://", "-topic", "t", "-idle", "20ms", "-only-topic", "a"}, "", "replayed 0, kept 0 (filtered out), invalid 0 (no original topic) from t"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: got %v, want an error containing %q", c.args, err, c.wantErr)
		case !strings.Contains(out.String(), c.wantOut):
			t.Errorf("%q: output %q, want %q", c.args, out.String(), c.wantOut)
		}
	}
}
