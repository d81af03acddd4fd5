package redisstreams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// producer sends with XADD. Redis has the entry durably, as durably as its persistence is
// configured (appendfsync always makes an acknowledged XADD survive a crash), when XADD returns.
type producer struct {
	b    *Broker
	done chan struct{} // closed by Close: retries stop

	mu     sync.RWMutex // held for reading by each Send, so that Close waits for them
	closed bool
	once   sync.Once
}

func newProducer(b *Broker) *producer { return &producer{b: b, done: make(chan struct{})} }

// enter starts a send; false if the producer is closed. The caller calls p.mu.RUnlock after.
func (p *producer) enter() bool {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return false
	}
	return true
}

// Send appends msg to its topic's stream with XADD, retrying while Redis is unreachable (see
// Config.SendRetryTimeout) until ctx ends.
func (p *producer) Send(ctx context.Context, msg courier.Message) error {
	if !p.enter() {
		return fmt.Errorf("redis: send %s: %w", msg.Topic, courier.ErrClosed)
	}
	defer p.mu.RUnlock()
	args, err := p.prepare(msg)
	if err != nil {
		return err
	}
	err = p.withRetry(ctx, func(ctx context.Context) error { return p.b.client.Do(ctx, args...).Err() })
	if err != nil {
		return fmt.Errorf("redis: send %s: %w", msg.Topic, err)
	}
	return nil
}

// SendBatch sends msgs in one pipelined round trip (more only to retry what failed while
// Redis was unreachable). Invalid messages are reported in the *courier.BatchError; the valid
// ones are sent all the same.
func (p *producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	if !p.enter() {
		return fmt.Errorf("redis: send batch: %w", courier.ErrClosed)
	}
	defer p.mu.RUnlock()
	errs := make([]error, len(msgs))
	args := make([][]any, len(msgs))
	todo := make([]int, 0, len(msgs))
	for i, m := range msgs {
		if args[i], errs[i] = p.prepare(m); errs[i] == nil {
			todo = append(todo, i)
		}
	}
	cmds := make([]*redis.Cmd, len(msgs))
	err := p.withRetry(ctx, func(ctx context.Context) error {
		pipe := p.b.client.Pipeline()
		for _, i := range todo {
			cmds[i] = pipe.Do(ctx, args[i]...)
		}
		_, _ = pipe.Exec(ctx) // each command's own error is looked at below
		var retry error
		again := todo[:0]
		for _, i := range todo {
			err := cmds[i].Err()
			switch {
			case err == nil:
			case transient(err):
				again = append(again, i)
				retry = err
			default:
				errs[i] = fmt.Errorf("redis: send %s: %w", msgs[i].Topic, err)
			}
		}
		todo = again
		return retry
	})
	for _, i := range todo { // given up while Redis was unreachable
		errs[i] = fmt.Errorf("redis: send %s: %w", msgs[i].Topic, err)
	}
	return driver.NewBatchError(errs)
}

// prepare validates msg and returns its XADD command. It builds the command itself rather
// than through redis.XAddArgs, which costs two more allocations and a copy of the arguments.
func (p *producer) prepare(msg courier.Message) ([]any, error) {
	msg, err := driver.Prepare(msg)
	if err == nil {
		err = checkTimestamp(&msg)
	}
	if err != nil {
		return nil, fmt.Errorf("redis: send %s: %w", msg.Topic, err)
	}
	if n := msg.Size(); n > p.b.cfg.MaxMessageBytes {
		return nil, fmt.Errorf("redis: send %s: %w: %d bytes, limit %d (Config.MaxMessageBytes)",
			msg.Topic, courier.ErrMessageTooLarge, n, p.b.cfg.MaxMessageBytes)
	}
	args := make([]any, 0, 14+2*len(msg.Headers))
	args = append(args, "xadd", p.b.streamKey(msg.Topic))
	switch {
	case p.b.cfg.TrimMaxLen > 0:
		args = append(args, "maxlen", "~", p.b.cfg.TrimMaxLen)
	case p.b.cfg.TrimMaxAge > 0:
		args = append(args, "minid", "~", strconv.FormatInt(time.Now().Add(-p.b.cfg.TrimMaxAge).UnixMilli(), 10)+"-0")
	}
	args = append(args, "*")
	return p.b.cfg.layout().encode(&msg, args), nil
}

// withRetry runs op until it succeeds, fails for good, or the retry time runs out: the
// earlier of ctx's deadline and SendRetryTimeout, or Close.
func (p *producer) withRetry(ctx context.Context, op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.b.cfg.SendRetryTimeout)
	defer cancel()
	var last error // the last transient failure: why the retries failed
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err != nil && last != nil && ctx.Err() != nil {
			return fmt.Errorf("%w (gave up retrying: %w)", last, context.Cause(ctx))
		}
		if !transient(err) {
			return err
		}
		last = err
		if !pause(ctx, p.done, attempt) {
			if p.isDone() {
				return errors.Join(err, courier.ErrClosed)
			}
			return fmt.Errorf("%w (gave up retrying: %w)", err, context.Cause(ctx))
		}
		p.b.log.Debug("redis: retrying send", "attempt", attempt, "err", err)
	}
}

func (p *producer) isDone() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Close stops retries in progress, waits for the sends in flight and releases the producer.
// Idempotent.
func (p *producer) Close() error {
	p.once.Do(func() {
		close(p.done)
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.b.members.Remove(p)
	})
	return nil
}
