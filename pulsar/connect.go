package pulsar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
)

// probeTopic is the topic whose partitioned metadata check asks for: any name does, as the
// question only needs the connection to work (an error answer will do); the broker creates
// nothing to answer it.
const probeTopic = "courier-connect-check"

// check asks a broker at cfg.URL a question with a client of its own whose operations time
// out after cfg.ConnectTimeout, so that New fails fast, and says what failed: the client
// reports a failed connection only as a timeout, so the cause is the last failure it
// logged (each of which goes to cfg.Logger as well, as it retries).
func check(ctx context.Context, cfg Config) error {
	addr := redact(cfg.URL)
	seen := &lastFailure{refused: make(chan struct{})}
	cfg.Logger = slog.New(recordFailures{Handler: cfg.Logger.Handler(), seen: seen})
	client, err := pulsarclient.NewClient(clientOptions(cfg, cfg.ConnectTimeout))
	if err != nil {
		return fmt.Errorf("pulsar: connect %s: %w", addr, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := client.TopicPartitions(probeTopic)
		done <- err
	}()
	t := time.NewTimer(cfg.ConnectTimeout)
	defer t.Stop()
	refused := false
	select {
	case err = <-done:
	case <-seen.refused:
		refused = true
	case <-t.C:
		err = context.DeadlineExceeded
	case <-ctx.Done():
		err = ctx.Err()
	}
	// Close ends a lookup still waiting on a connection that never shook hands. After a
	// refusal the lookup goes on retrying until its timeout, cfg.ConnectTimeout: the
	// goroutine outlives check by that much at most, which is better than making the caller
	// wait that long to hear that the credentials are wrong.
	client.Close()
	switch {
	case refused:
	case err == nil:
		return nil
	case err.Error() == "AuthenticationError":
		return fmt.Errorf("pulsar: connect %s: %w: the broker answered the lookup with AuthenticationError", addr, courier.ErrAuthentication)
	case !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		// The broker answered, with an error of the lookup itself (the namespace
		// public/default does not exist, the role may not look it up...): the
		// connection works, which is all check wants to know.
		return nil
	}
	cause := seen.get()
	if cause == "" {
		cause = "no answer (a port that is not Pulsar's, or a broker that does not answer)"
	}
	switch {
	case refused:
		return fmt.Errorf("pulsar: connect %s: %w: %s", addr, courier.ErrAuthentication, cause)
	case ctx.Err() != nil:
		return fmt.Errorf("pulsar: connect %s: %w (last error: %s)", addr, ctx.Err(), cause)
	}
	return fmt.Errorf("pulsar: connect %s: no Pulsar broker answered within %v (Config.ConnectTimeout): %s",
		addr, cfg.ConnectTimeout, cause)
}

// lastFailure is the last warning or error the client logged, with its error.
type lastFailure struct {
	mu      sync.Mutex
	text    string
	refused chan struct{} // closed when the broker refused the credentials
}

// refusal reports whether a message the client logs says that the broker refused its
// credentials: an ERROR answer to CONNECT (AuthenticationError, "Unable to authenticate"
// from a broker, or its authorization counterpart), or credentials it could not load.
func refusal(msg string) bool {
	l := strings.ToLower(msg)
	return strings.HasPrefix(msg, "Failed to load auth credentials") ||
		strings.HasPrefix(msg, "Failed to establish connection with broker") && strings.Contains(l, "auth")
}

func (l *lastFailure) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text
}

// recordFailures passes records on to Handler and keeps the last warning or error in seen.
type recordFailures struct {
	slog.Handler
	seen *lastFailure
	err  string // the "error" attribute the client added with its logger's With
}

func (h recordFailures) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		text := strings.TrimSuffix(r.Message, ".")
		if h.err != "" {
			text += ": " + h.err
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				text += ": " + a.Value.String()
			}
			return true
		})
		h.seen.mu.Lock()
		h.seen.text = text
		if refusal(r.Message) {
			select {
			case <-h.seen.refused:
			default:
				close(h.seen.refused)
			}
		}
		h.seen.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h recordFailures) WithAttrs(a []slog.Attr) slog.Handler {
	h2 := recordFailures{h.Handler.WithAttrs(a), h.seen, h.err}
	for _, at := range a {
		if at.Key == "error" {
			h2.err = at.Value.String()
		}
	}
	return h2
}

func (h recordFailures) WithGroup(n string) slog.Handler {
	return recordFailures{h.Handler.WithGroup(n), h.seen, h.err}
}
