package pulsartest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is an in-process Pulsar broker. Create it with NewServer and stop it
// with Close. All methods are safe for concurrent use.
type Server struct {
	ln     net.Listener
	url    string
	log    *slog.Logger
	maxMsg int
	token  string       // required by CONNECT when not empty (WithToken)
	delay  atomic.Int64 // response delay in nanoseconds

	wg sync.WaitGroup // accept loop and connection goroutines

	// mu guards everything below and all topic, subscription and consumer
	// state: one lock keeps dispatch simple, and every write it triggers only
	// queues bytes on a connection, so nothing blocks while it is held.
	mu          sync.Mutex
	closed      bool
	conns       map[*conn]struct{}
	topics      map[string]*topic
	partitioned map[string]int
	nextLedger  uint64 // ledger ids, one per topic
	nextName    uint64 // names for producers that bring none
}

// NewServer starts a server listening on 127.0.0.1 with a free port, unless
// WithAddr says otherwise.
func NewServer(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("pulsartest: listen on %s: %w", cfg.addr, err)
	}
	s := &Server{
		ln:          ln,
		url:         "pulsar://" + ln.Addr().String(),
		log:         cfg.logger,
		maxMsg:      cfg.maxMessageSize,
		token:       cfg.token,
		conns:       map[*conn]struct{}{},
		topics:      map[string]*topic{},
		partitioned: map[string]int{},
	}
	s.delay.Store(int64(cfg.responseDelay))
	for t, n := range cfg.partitioned {
		if err := s.CreatePartitionedTopic(t, n); err != nil {
			_ = ln.Close()
			return nil, err
		}
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// URL returns the service URL clients connect to, e.g. "pulsar://127.0.0.1:41234".
func (s *Server) URL() string { return s.url }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server: it closes the listener and every connection and
// waits for all of the server's goroutines to end. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.close()
	}
	for _, t := range s.topics {
		for _, sub := range t.subs {
			sub.stopTimer()
		}
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("pulsartest: close listener: %w", err)
	}
	return nil
}

// DropConnections closes every client connection, as a broker restart would.
// Clients reconnect on their own; unacknowledged messages go back to their
// subscriptions for redelivery. It returns how many connections it closed.
func (s *Server) DropConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		c.close()
		n++
	}
	return n
}

// SetResponseDelay makes the server wait d before handling each command it
// receives (and so before answering it). Zero turns the delay off. Use it to
// test client timeouts and slow brokers.
func (s *Server) SetResponseDelay(d time.Duration) { s.delay.Store(int64(d)) }

// CreatePartitionedTopic declares topic as partitioned into n partitions,
// named "<topic>-partition-<i>" as on a real broker. A short name such as
// "orders" means "persistent://public/default/orders".
func (s *Server) CreatePartitionedTopic(topic string, n int) error {
	if n <= 0 {
		return fmt.Errorf("pulsartest: partitioned topic %q: partitions must be positive, got %d", topic, n)
	}
	name, err := canonicalTopic(topic)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partitioned[name] = n
	return nil
}

// MessageCount returns how many entries (single messages or batches) topic
// holds; a partitioned topic counts all its partitions.
func (s *Server) MessageCount(topic string) int {
	name, err := canonicalTopic(topic)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.partitioned[name]; ok {
		total := 0
		for i := range n {
			if t := s.topics[partitionName(name, i)]; t != nil {
				total += len(t.entries)
			}
		}
		return total
	}
	if t := s.topics[name]; t != nil {
		return len(t.entries)
	}
	return 0
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("pulsartest: accept failed", "err", err)
			}
			return
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(2)
		s.mu.Unlock()
		go c.readLoop()
		go c.writeLoop()
	}
}

// canonicalTopic turns "orders" or "tenant/ns/orders" into the full
// "persistent://tenant/ns/orders" form clients send.
func canonicalTopic(t string) (string, error) {
	if t == "" {
		return "", errors.New("pulsartest: empty topic name")
	}
	if strings.Contains(t, "://") {
		return t, nil
	}
	switch parts := strings.Split(t, "/"); len(parts) {
	case 1:
		return "persistent://public/default/" + t, nil
	case 3:
		return "persistent://" + t, nil
	default:
		return "", fmt.Errorf("pulsartest: invalid topic name %q", t)
	}
}

func partitionName(topic string, i int) string {
	return fmt.Sprintf("%s-partition-%d", topic, i)
}
