package pulsartest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/courier-go/courier/pulsar/pulsartest/internal/wire"
)

// conn is one client connection: a reader goroutine handles commands in
// order, a writer goroutine drains an unbounded queue of encoded frames, so
// handlers never block on the network while holding the server lock.
type conn struct {
	s  *Server
	nc net.Conn

	outMu  sync.Mutex
	out    [][]byte
	wake   chan struct{} // capacity 1: "out has frames"
	done   chan struct{} // closed by close
	closer sync.Once

	// Guarded by s.mu.
	producers map[uint64]*producer
	consumers map[uint64]*consumer
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		s:         s,
		nc:        nc,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		producers: map[uint64]*producer{},
		consumers: map[uint64]*consumer{},
	}
}

// close shuts the connection; the read loop then cleans up its state.
func (c *conn) close() {
	c.closer.Do(func() {
		close(c.done)
		_ = c.nc.Close()
	})
}

// send queues cmd (and an optional stored payload) for the writer.
func (c *conn) send(cmd *wire.BaseCommand, payload []byte) {
	frame, err := encodeFrame(cmd, payload)
	if err != nil {
		// A bug in the fake, not the client's fault: say so loudly.
		c.s.log.Error("pulsartest: cannot encode command", "type", cmd.GetType().String(), "err", err)
		c.close()
		return
	}
	c.outMu.Lock()
	c.out = append(c.out, frame)
	c.outMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	w := bufio.NewWriter(c.nc)
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
		}
		c.outMu.Lock()
		frames := c.out
		c.out = nil
		c.outMu.Unlock()
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				c.close()
				return
			}
		}
		if err := w.Flush(); err != nil {
			c.close()
			return
		}
	}
}

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer c.cleanup()
	r := bufio.NewReader(c.nc)
	maxFrame := c.s.maxMsg + frameOverhead
	for {
		cmd, payload, err := readFrame(r, maxFrame)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.s.log.Debug("pulsartest: connection read ended", "remote", c.nc.RemoteAddr().String(), "err", err)
			}
			return
		}
		if !c.wait() {
			return
		}
		if !c.handle(cmd, payload) {
			return
		}
	}
}

// wait applies the server's response delay; false means the connection closed.
func (c *conn) wait() bool {
	d := time.Duration(c.s.delay.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// cleanup forgets the connection's producers and consumers; their
// unacknowledged messages go back to their subscriptions.
func (c *conn) cleanup() {
	c.close()
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	for id := range c.producers {
		delete(c.producers, id)
	}
	for id, cons := range c.consumers {
		delete(c.consumers, id)
		cons.sub.removeConsumer(cons)
	}
}
