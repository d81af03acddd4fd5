// Command courier-dlq moves dead letters back to the topics they failed on, with dlq.Replay.
//
//	courier-dlq -url redis://127.0.0.1:6379/0 -topic orders.billing.dlq [-group dlq-replay]
//	            [-limit N] [-idle 2s] [-only-topic orders] [-error-contains timeout]
//
// It stops when -limit messages were replayed, or when no dead letter arrived for -idle (the
// dead-letter topic is drained), and prints what it did. Dead letters are acknowledged only
// after their copy was sent, so an interrupted run may send a message twice, never lose it.
// Dead letters that the filters do not select stay in the dead-letter topic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/dlq"
	_ "github.com/courier-go/courier/memory"
	_ "github.com/courier-go/courier/redisstreams"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "courier-dlq:", err)
		}
		os.Exit(2)
	}
}

// run parses args, replays, and prints the result to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("courier-dlq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "broker URL, e.g. redis://127.0.0.1:6379/0 (required)")
	topic := fs.String("topic", "", "dead-letter topic to replay, e.g. orders.billing.dlq (required)")
	group := fs.String("group", dlq.DefaultReplayGroup, "consumer group that reads the dead-letter topic")
	limit := fs.Int("limit", 0, "stop after replaying this many messages; 0 means no limit")
	idle := fs.Duration("idle", dlq.DefaultIdleTimeout, "stop when no dead letter arrived for this long")
	onlyTopic := fs.String("only-topic", "", "replay only dead letters whose original topic is this")
	errContains := fs.String("error-contains", "", "replay only dead letters whose error text contains this")
	verbose := fs.Bool("v", false, "log each malformed dead letter and the summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var missing []string
	if *url == "" {
		missing = append(missing, "-url")
	}
	if *topic == "" {
		missing = append(missing, "-topic")
	}
	if len(missing) > 0 {
		fs.Usage()
		return fmt.Errorf("missing %s", strings.Join(missing, " and "))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	opts := dlq.ReplayOptions{Group: *group, Limit: *limit, IdleTimeout: *idle,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	if *onlyTopic != "" || *errContains != "" {
		opts.Filter = func(_ courier.Message, info dlq.Info) bool {
			return (*onlyTopic == "" || info.OriginalTopic == *onlyTopic) &&
				(*errContains == "" || strings.Contains(info.Error, *errContains))
		}
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := courier.Open(openCtx, *url)
	if err != nil {
		return err
	}
	defer b.Close()
	res, err := dlq.Replay(ctx, b, *topic, opts)
	fmt.Fprintf(stdout, "replayed %d, kept %d (filtered out), invalid %d (no original topic) from %s\n",
		res.Replayed, res.Kept, res.Invalid, *topic)
	return err
}
