package batch

import (
	"fmt"
	"strings"
	"time"

	"github.com/courier-go/courier"
)

// Defaults of Config.
const (
	DefaultMaxMessages = 100
	DefaultMaxBytes    = 1 << 20
	DefaultLinger      = 5 * time.Millisecond
	DefaultSendTimeout = 30 * time.Second
)

// Config configures a Producer. The zero Config selects the defaults.
type Config struct {
	// MaxMessages flushes a batch when it holds this many messages; 0 means DefaultMaxMessages.
	MaxMessages int
	// MaxBytes flushes a batch before it would grow past this many bytes (the sum of
	// courier.Message.Size); 0 means DefaultMaxBytes. A single larger message is sent alone.
	MaxBytes int
	// Linger is the longest a batch waits for more messages after its first one; 0 means
	// DefaultLinger.
	Linger time.Duration
	// MaxPending bounds the messages accepted and not yet settled (waiting in batches or being
	// sent); Send blocks beyond it. 0 means 4*MaxMessages. It must be at least MaxMessages.
	MaxPending int
	// SendTimeout bounds each SendBatch call on the inner producer; 0 means DefaultSendTimeout.
	SendTimeout time.Duration
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	var problems []string
	if c.MaxMessages < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxMessages %d", c.MaxMessages))
	}
	if c.MaxBytes < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxBytes %d", c.MaxBytes))
	}
	if c.Linger < 0 {
		problems = append(problems, fmt.Sprintf("negative Linger %v", c.Linger))
	}
	if c.SendTimeout < 0 {
		problems = append(problems, fmt.Sprintf("negative SendTimeout %v", c.SendTimeout))
	}
	if c.MaxPending < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxPending %d", c.MaxPending))
	} else if d := c.withDefaults(); c.MaxPending > 0 && c.MaxPending < d.MaxMessages {
		problems = append(problems, fmt.Sprintf("MaxPending %d is below MaxMessages %d: no batch could fill up", c.MaxPending, d.MaxMessages))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: batch producer config: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxMessages == 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.MaxPending == 0 {
		c.MaxPending = 4 * c.MaxMessages
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	return c
}
