package logbroker_test

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/driver/example/logbroker"
)

// quiet keeps the expected warnings of the suite's failure cases out of the test output.
var quiet = slog.New(slog.DiscardHandler)

func harness() brokertest.Harness {
	return brokertest.Harness{
		NewBroker: func(t testing.TB) courier.Broker {
			b, err := logbroker.New(context.Background(), logbroker.Config{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
}

// TestConformance: an adapter written with the public packages only keeps the contract.
func TestConformance(t *testing.T) {
	brokertest.Run(t, harness(), brokertest.Capabilities{
		Replay:          true, // a new group starts at the start of the log
		NilValue:        true, // the log keeps the caller's nil
		MaxMessageBytes: logbroker.DefaultMaxMessageBytes,
		KeyOrder:        brokertest.OrderWithinConsumer, // a group's consumers take messages in turn
		RedeliveryCount: true,                           // the group counts each message's deliveries
	})
}

func BenchmarkLogBroker(b *testing.B) {
	brokertest.Bench(b, harness(), brokertest.BenchOptions{})
}

// TestOnlyPublicPackages: the package imports nothing of courier's but what any module can.
func TestOnlyPublicPackages(t *testing.T) {
	allowed := map[string]bool{
		"github.com/courier-go/courier":                          true,
		"github.com/courier-go/courier/driver":                   true,
		"github.com/courier-go/courier/brokertest":               true,
		"github.com/courier-go/courier/driver/example/logbroker": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files: %v", err)
	}
	for _, f := range files {
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !strings.Contains(strings.Split(path, "/")[0], ".") {
				continue // the standard library
			}
			if !allowed[path] {
				t.Errorf("%s imports %s: an adapter outside this repository could not", f, path)
			}
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		url, err string
		max      int
	}{
		{url: "logbroker://"},
		{url: "logbroker://?max_message_bytes=1024", max: 1024},
		{url: "logbroker://?max_message_bytes=lots", err: "max_message_bytes"},
		{url: "logbroker://?max_message_bytes=-1", err: "negative MaxMessageBytes"},
		{url: "logbroker://?retention=1h", err: `unknown URL parameter "retention"`},
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := logbroker.ParseURL(u)
		if c.err != "" {
			if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseURL(%s) = %v, want an ErrInvalidConfig saying %s", c.url, err, c.err)
			}
			continue
		}
		if err != nil || cfg.MaxMessageBytes != c.max {
			t.Errorf("ParseURL(%s) = %+v, %v; want MaxMessageBytes %d", c.url, cfg, err, c.max)
		}
	}
	b, err := courier.Open(context.Background(), "LogBroker://")
	if err != nil {
		t.Fatalf("Open through the registered scheme: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
