package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/courier-go/courier"
)

// LoggingConfig configures Logging. The zero value selects the defaults.
type LoggingConfig struct {
	// Logger receives the lines; nil means slog.Default().
	Logger *slog.Logger
	// SuccessLevel is the level of the line for a handled message; the zero value is
	// slog.LevelInfo, so set slog.LevelDebug to keep busy consumers quiet.
	SuccessLevel slog.Level
	// FailureLevel is the level of the line for a failed message; 0 (slog.LevelInfo) means
	// slog.LevelWarn, since a failure is not normally the end of the message: it comes back.
	FailureLevel slog.Level
}

// Logging returns a middleware that logs one line per handled message: its topic, ID,
// attempt, partition and offset (where the broker has them), the handler's duration and error.
// It never logs the payload, the key or the headers, which may hold personal data or secrets.
// A line whose level the logger does not enable costs nothing but the check.
func Logging(cfg LoggingConfig) courier.Middleware {
	if cfg.FailureLevel == 0 {
		cfg.FailureLevel = slog.LevelWarn
	}
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &logger{next: next, cfg: cfg}
	}
}

type logger struct {
	next courier.MessageHandler
	cfg  LoggingConfig
}

func (l *logger) HandleMessage(ctx context.Context, msg courier.Message) error {
	start := time.Now()
	err := l.next.HandleMessage(ctx, msg)
	lg := l.cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	level, text := l.cfg.SuccessLevel, "courier: message handled"
	if err != nil {
		level, text = l.cfg.FailureLevel, "courier: message failed"
	}
	if !lg.Enabled(ctx, level) {
		return err
	}
	attrs := []slog.Attr{
		slog.String("topic", msg.Topic), slog.String("id", msg.ID), slog.Int("attempt", msg.Attempt),
		slog.Duration("duration", time.Since(start)),
	}
	if msg.Partition != 0 || msg.Offset != 0 {
		attrs = append(attrs, slog.Int("partition", int(msg.Partition)), slog.Int64("offset", msg.Offset))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	lg.LogAttrs(ctx, level, text, attrs...)
	return err
}
