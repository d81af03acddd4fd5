package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/courier-go/courier"
	amqp "github.com/rabbitmq/amqp091-go"
)

// conn is one AMQP connection that comes back by itself: when the broker or the network drops
// it, a goroutine redials with backoff until it succeeds or the conn is closed. Users get the
// current connection with get, which waits while there is none.
type conn struct {
	cfg  Config
	role string // "publish" or "consume": RabbitMQ blocks publishing connections under
	// memory pressure, so consumers get their own and can still ack
	log *slog.Logger

	mu      sync.Mutex
	c       *amqp.Connection // nil while reconnecting
	gen     uint64           // counts successful dials
	ready   chan struct{}    // closed when c is set or the conn is closed
	closed  bool
	closing chan struct{}
	done    chan struct{} // closed when the redial goroutine has ended

	adminMu sync.Mutex
	admin   *amqp.Channel // channel for declarations; a failed declaration closes it
	adminOf uint64        // gen it belongs to

	declared sync.Map // exchange name -> gen (uint64) it was declared on
}

// dialConn connects; it fails when the broker cannot be reached before ctx ends.
func dialConn(ctx context.Context, cfg Config, role string) (*conn, error) {
	c := &conn{
		cfg:     cfg,
		role:    role,
		log:     cfg.Logger.With("broker", "rabbitmq", "connection", role),
		ready:   make(chan struct{}),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	ac, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.set(ac)
	go c.watch(ac)
	return c, nil
}

func (c *conn) dial(ctx context.Context) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(c.cfg.ConnectionName + "-" + c.role)
	ac, err := amqp.DialConfig(c.cfg.URL, amqp.Config{
		Heartbeat:       c.cfg.Heartbeat,
		TLSClientConfig: c.cfg.TLS,
		Properties:      props,
		Dial: func(network, addr string) (net.Conn, error) {
			deadline := time.Now().Add(c.cfg.ConnectTimeout)
			if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
				deadline = d
			}
			nc, err := (&net.Dialer{Deadline: deadline}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The handshake has no context: bound it too. amqp091 clears it once connected.
			return nc, nc.SetDeadline(deadline)
		},
	})
	return ac, err
}

// connect dials until RabbitMQ answers, retrying with c.cfg.ReconnectBackoff (and logging
// each failure) until the credentials are refused or ctx ends. Its error names the address
// (the URL without its password) and the cause.
func (c *conn) connect(ctx context.Context) (*amqp.Connection, error) {
	addr := redact(c.cfg.URL)
	var last error
	for attempt := 1; ; attempt++ {
		ac, err := c.dial(ctx)
		if err == nil {
			return ac, nil
		}
		if last == nil || ctx.Err() == nil {
			last = err // the cause, rather than the deadline that cut it short
		}
		if authFailed(err) {
			return nil, fmt.Errorf("rabbitmq: connect %s: %w: %w", addr, courier.ErrAuthentication, err)
		}
		if ctx.Err() != nil {
			break
		}
		if notAMQP(err) {
			// Retrying would only delay the same error.
			return nil, fmt.Errorf("rabbitmq: connect %s: the server did not answer as an AMQP 0-9-1 broker does: %w", addr, err)
		}
		c.log.Warn("rabbitmq: connect failed; retrying", "addr", addr, "attempt", attempt, "err", err)
		t := time.NewTimer(c.cfg.ReconnectBackoff.Delay(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("rabbitmq: connect %s: no RabbitMQ answered within %v (Config.ConnectTimeout) or the context's deadline: %w",
			addr, c.cfg.ConnectTimeout, last)
	}
	return nil, fmt.Errorf("rabbitmq: connect %s: %w (last error: %v)", addr, ctx.Err(), last)
}

// notAMQP reports whether err says that what answered does not speak AMQP 0-9-1: frames
// that do not parse, or that come out of order.
func notAMQP(err error) bool {
	var aerr *amqp.Error
	if !errors.As(err, &aerr) {
		return false
	}
	switch aerr.Code {
	case amqp.FrameError, amqp.SyntaxError, amqp.CommandInvalid, amqp.UnexpectedFrame:
		return true
	}
	return false
}

// authFailed reports whether err is RabbitMQ refusing the credentials (403 ACCESS_REFUSED:
// a wrong user or password, a mechanism it does not offer, or no access to the vhost).
func authFailed(err error) bool {
	var aerr *amqp.Error
	return errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused
}

func (c *conn) set(ac *amqp.Connection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c = ac
	c.gen++
	close(c.ready)
}

// watch waits for the connection to drop and redials, until Close.
func (c *conn) watch(ac *amqp.Connection) {
	defer close(c.done)
	for {
		lost := ac.NotifyClose(make(chan *amqp.Error, 1))
		select {
		case err := <-lost:
			c.log.Warn("rabbitmq: connection lost; reconnecting", "err", err)
		case <-c.closing:
			return
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		c.c = nil
		c.ready = make(chan struct{})
		c.mu.Unlock()
		if ac = c.redial(); ac == nil {
			return
		}
		c.set(ac)
		c.log.Info("rabbitmq: reconnected")
	}
}

// redial dials until it succeeds (returning the connection) or the conn is closed (nil).
func (c *conn) redial() *amqp.Connection {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(c.cfg.ReconnectBackoff.Delay(attempt))
		select {
		case <-t.C:
		case <-c.closing:
			t.Stop()
			return nil
		}
		ac, err := c.dial(ctx)
		if err == nil {
			c.mu.Lock()
			closed := c.closed
			c.mu.Unlock()
			if closed {
				_ = ac.Close()
				return nil
			}
			return ac
		}
		c.log.Warn("rabbitmq: reconnect failed", "attempt", attempt, "err", err)
	}
}

// get returns the current connection and its generation, waiting for a reconnect while there
// is none. It fails with ctx's error or courier.ErrClosed.
func (c *conn) get(ctx context.Context) (*amqp.Connection, uint64, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, 0, courier.ErrClosed
		}
		ac, gen, ready := c.c, c.gen, c.ready
		c.mu.Unlock()
		if ac != nil && !ac.IsClosed() {
			return ac, gen, nil
		}
		if ac != nil { // closed, and watch has not noticed yet
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return nil, 0, fmt.Errorf("waiting for the connection: %w", ctx.Err())
			}
			continue
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("waiting for the connection: %w", ctx.Err())
		case <-c.closing:
			return nil, 0, courier.ErrClosed
		}
	}
}

// channel opens a channel on the current connection, waiting for a reconnect if needed.
func (c *conn) channel(ctx context.Context) (*amqp.Channel, uint64, error) {
	for {
		ac, gen, err := c.get(ctx)
		if err != nil {
			return nil, 0, err
		}
		ch, err := ac.Channel()
		if err == nil {
			return ch, gen, nil
		}
		if !ac.IsClosed() {
			return nil, 0, fmt.Errorf("open channel: %w", err)
		}
		// The connection dropped under us: wait for the next one.
	}
}

// declare runs fn on the connection's declaration channel. A failed declaration closes that
// channel on the broker's side, so it is reopened on the next call.
func (c *conn) declare(ctx context.Context, fn func(ch *amqp.Channel) error) error {
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	for {
		if c.admin == nil || c.admin.IsClosed() {
			ch, gen, err := c.channel(ctx)
			if err != nil {
				return err
			}
			c.admin, c.adminOf = ch, gen
		}
		err := fn(c.admin)
		if err == nil || !connectionLost(err) || ctx.Err() != nil {
			return err
		}
		c.admin = nil // the connection went away: declare again on the next one
	}
}

// declareExchange declares topic's exchange once per connection.
func (c *conn) declareExchange(ctx context.Context, topic string, gen uint64) error {
	if g, ok := c.declared.Load(topic); ok && g.(uint64) == gen {
		return nil
	}
	err := c.declare(ctx, func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare(topic, c.cfg.ExchangeType, true, false, false, false, nil)
	})
	if err != nil {
		return fmt.Errorf("declare exchange %s (type %s): %w", topic, c.cfg.ExchangeType, err)
	}
	c.declared.Store(topic, gen)
	return nil
}

// forgetDeclared makes the next publish to each exchange declare it again: the broker said
// one was missing (deleted while we ran).
func (c *conn) forgetDeclared() {
	c.declared.Clear()
}

// close closes the connection and stops reconnecting. Idempotent.
func (c *conn) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ac := c.c
	c.c = nil
	close(c.closing)
	c.mu.Unlock()
	<-c.done
	if ac != nil && !ac.IsClosed() {
		if err := ac.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			return fmt.Errorf("rabbitmq: close %s connection: %w", c.role, err)
		}
	}
	return nil
}

// connectionLost reports whether err comes from a channel or connection that went away, as
// opposed to the broker refusing the operation.
func connectionLost(err error) bool {
	if errors.Is(err, amqp.ErrClosed) {
		return true
	}
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return ae.Code == amqp.ConnectionForced || !ae.Server
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// redact hides the password of an AMQP URL for logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed URL)"
	}
	return u.Redacted()
}

// current returns the connection of this moment, or nil while it is being re-established.
func (c *conn) current() *amqp.Connection {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil || c.c.IsClosed() {
		return nil
	}
	return c.c
}

// generation returns how many times the connection was dialled.
func (c *conn) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// up reports whether the connection is open now.
func (c *conn) up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c != nil && !c.c.IsClosed()
}
