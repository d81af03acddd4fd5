package rabbitmq

import (
	"fmt"
	"log/slog"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

func init() {
	// amqp091-go logs its few messages to a process-wide logger, which discards them by
	// default. Route it through slog.Default() at Debug level, so that nothing of it bypasses
	// slog. A program that calls amqp.SetLogger itself (after init) keeps its own.
	if _, ok := amqp.Logger.(amqp.NullLogger); ok {
		amqp.SetLogger(amqpLog{})
	}
}

// amqpLog is amqp091-go's logger, writing to slog.Default() at Debug level.
type amqpLog struct{}

func (amqpLog) Printf(format string, v ...any) {
	slog.Default().Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "amqp091")
}
