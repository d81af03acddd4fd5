package redisstreams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/courier-go/courier"
	"github.com/redis/go-redis/v9"
)

func init() {
	// go-redis logs (failed dials of its pool, mostly) to a process-wide logger that writes
	// to stderr. Route it through slog.Default(), at Warn level, so that nothing of it
	// bypasses slog. A program that calls redis.SetLogger itself (after init) keeps its own.
	redis.SetLogger(goRedisLog{})
}

// goRedisLog is go-redis's logger, writing to slog.Default() at Warn level.
type goRedisLog struct{}

func (goRedisLog) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().Log(ctx, slog.LevelWarn, strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "go-redis")
}

// connect pings Redis until it answers, retrying with backoff (and logging each failure) until
// the credentials are refused, ctx ends or cfg.ConnectTimeout passes. Its error names addr and
// the cause. It pings with a client of its own on opts that makes one attempt per ping: the
// retries of go-redis (of the dial, then of the command) would take longer than a short
// ConnectTimeout and hide the cause behind the deadline.
func connect(ctx context.Context, opts *redis.Options, cfg Config) error {
	addr := opts.Addr
	once := *opts
	once.MaxRetries, once.DialerRetries, once.PoolSize = -1, 1, 1
	client := redis.NewClient(&once)
	defer func() { _ = client.Close() }()
	log := cfg.Logger.With("broker", "redis", "addr", addr)
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var last error
	for attempt := 1; ; attempt++ {
		err := client.Ping(cctx).Err()
		if err == nil {
			return nil
		}
		if last == nil || cctx.Err() == nil {
			last = err // the cause, rather than the deadline that cut it short
		}
		if authFailed(err) {
			return fmt.Errorf("redis: connect %s: %w: %w", addr, courier.ErrAuthentication, err)
		}
		if cctx.Err() != nil {
			break
		}
		var rerr redis.Error
		if !unreachable(err) && !(errors.As(err, &rerr) && transient(err)) {
			// An answer that is not Redis's, or a refusal other than the credentials'
			// (protected mode...): retrying would only delay the same error.
			return fmt.Errorf("redis: connect %s: the server did not answer as Redis does: %w", addr, err)
		}
		log.Warn("redis: connect failed; retrying", "attempt", attempt, "error", err)
		if !pause(cctx, nil, attempt) {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redis: connect %s: %w (last error: %v)", addr, err, last)
	}
	return fmt.Errorf("redis: connect %s: no Redis answered within %v (Config.ConnectTimeout): %w", addr, cfg.ConnectTimeout, last)
}

// authFailed reports whether err says that Redis refused the credentials: WRONGPASS, NOAUTH,
// or a password given to a Redis that has none ("ERR AUTH <password> called without any
// password configured", "ERR Client sent AUTH, but no password is set").
func authFailed(err error) bool {
	if redis.IsAuthError(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "without any password configured") || strings.Contains(msg, "no password is set")
}

// unreachable reports whether err is a failure of the network (a refused or reset
// connection, a timeout, a connection closed early) rather than an answer.
func unreachable(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
