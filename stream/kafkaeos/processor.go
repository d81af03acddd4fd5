package kafkaeos

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/recordid"
)

// Header keys of the IDs and sub-millisecond timestamps, the same as courier's Kafka adapter
// writes and reads, so its consumers see the IDs this package sends.
const (
	headerID    = courier.ReservedHeaderPrefix + "id"
	headerUUID  = courier.ReservedHeaderPrefix + "uuid"
	headerNanos = courier.ReservedHeaderPrefix + "ns"
)

// Defaults of Config.
const (
	DefaultMaxBatch = 500
	// DefaultTransactionTimeout is the transaction timeout when Config.Sarama is nil (as Kafka
	// Streams' exactly-once default): a process that dies leaves its transaction open, and
	// the group's committed offsets unstable, until the broker aborts it after this long.
	DefaultTransactionTimeout = 10 * time.Second
)

// ErrNoTransaction is returned by the Producer's Send when its context does not come from a
// handler that Run called.
var ErrNoTransaction = errors.New("kafkaeos: send outside a transaction (use Processor.Producer only inside the handler given to Run)")

// Config configures a Processor. The zero values of the optional fields select the defaults.
type Config struct {
	Brokers []string // required
	Group   string   // consumer group; required
	Topics  []string // input topics; required
	// TransactionalID starts the transactional IDs of the partitions' producers; required,
	// and the same for every process of the group (it is what fences a dead owner).
	TransactionalID string
	// MaxBatch is the most records in one transaction; 0 means DefaultMaxBatch.
	MaxBatch int
	// Backoff is the delay before a failed batch is processed again; zero means
	// courier.DefaultBackoff.
	Backoff courier.Backoff
	// Sarama is the base client configuration (version, TLS, SASL, timeouts); nil means
	// sarama.NewConfig() with Producer.Transaction.Timeout = DefaultTransactionTimeout. The
	// Processor sets what exactly-once needs on a copy of it: idempotent transactional
	// producers, read_committed, no automatic offset commits. Producer.Transaction.Timeout
	// bounds both a batch's processing time and how long a dead process's partitions wait.
	// Version must be 2.5.0 or later (the default is).
	Sarama *sarama.Config
	// Logger receives the processor's logs (never payloads); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	var problems []string
	if len(c.Brokers) == 0 {
		problems = append(problems, "no Brokers")
	}
	if c.Group == "" {
		problems = append(problems, "empty Group")
	}
	if len(c.Topics) == 0 {
		problems = append(problems, "no Topics")
	}
	for i, t := range c.Topics {
		if t == "" {
			problems = append(problems, fmt.Sprintf("Topics[%d] is empty", i))
		}
	}
	if c.TransactionalID == "" {
		problems = append(problems, "empty TransactionalID")
	}
	if c.MaxBatch < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxBatch %d", c.MaxBatch))
	}
	if err := c.Backoff.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: kafkaeos: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// Processor consumes Kafka topics and runs a handler on them with transactional outputs.
type Processor struct {
	cfg    Config
	sarama *sarama.Config
	client sarama.Client
	group  sarama.ConsumerGroup
	log    *slog.Logger

	mu      sync.Mutex
	running bool
	closed  bool
}

// New connects to the cluster and returns a Processor; Run starts it.
func New(ctx context.Context, cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Backoff == (courier.Backoff{}) {
		cfg.Backoff = courier.DefaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sc := sarama.NewConfig()
	sc.Producer.Transaction.Timeout = DefaultTransactionTimeout
	if cfg.Sarama != nil {
		c := *cfg.Sarama
		sc = &c
	}
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Return.Errors = true
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Errors = true
	sc.Producer.Return.Successes = false
	sc.Net.MaxOpenRequests = 1
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("%w: kafkaeos: sarama config: %w", courier.ErrInvalidConfig, err)
	}
	if !sc.Version.IsAtLeast(sarama.V2_5_0_0) {
		return nil, fmt.Errorf("%w: kafkaeos: sarama Version %s: need 2.5.0 or later (stable offset fetches, KIP-447)",
			courier.ErrInvalidConfig, sc.Version)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafkaeos: connecting to %v: %w", cfg.Brokers, err)
	}
	group, err := sarama.NewConsumerGroupFromClient(cfg.Group, client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafkaeos: group %q: %w", cfg.Group, err)
	}
	return &Processor{cfg: cfg, sarama: sc, client: client, group: group, log: cfg.Logger}, nil
}

// Producer returns the producer whose sends join the transaction of the record being handled;
// give it to stream.To. It works only inside the handler given to Run.
func (p *Processor) Producer() courier.Producer { return txnSender{} }

// Run consumes until ctx ends or Close is called, and returns nil then; it returns an error
// for a failure it cannot recover from. A Processor runs once.
func (p *Processor) Run(ctx context.Context, h courier.MessageHandler) error {
	if h == nil {
		return fmt.Errorf("%w: kafkaeos: nil handler", courier.ErrInvalidConfig)
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return courier.ErrClosed
	case p.running:
		p.mu.Unlock()
		return errors.New("kafkaeos: Run called twice")
	}
	p.running = true
	p.mu.Unlock()

	errs := make(chan struct{})
	defer close(errs)
	go func() {
		for {
			select {
			case err, ok := <-p.group.Errors():
				if !ok {
					return
				}
				p.log.Warn("kafkaeos: consumer group", "group", p.cfg.Group, "error", err)
			case <-errs:
				return
			}
		}
	}()
	gh := &groupHandler{p: p, h: h}
	failures := 0
	for ctx.Err() == nil {
		err := p.group.Consume(ctx, p.cfg.Topics, gh)
		switch {
		case errors.Is(err, sarama.ErrClosedConsumerGroup):
			return nil
		case isFatal(err):
			return fmt.Errorf("kafkaeos: group %q: %w", p.cfg.Group, err)
		case err != nil:
			failures++
			p.log.Warn("kafkaeos: session ended", "group", p.cfg.Group, "error", err)
			if !sleep(ctx, p.cfg.Backoff.Delay(failures)) {
				return nil
			}
		default:
			failures = 0
		}
	}
	return nil
}

// Close stops Run (the transaction in progress is aborted when its partition's next owner
// starts) and closes the connections. It is idempotent.
func (p *Processor) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	return errors.Join(p.group.Close(), p.client.Close())
}

// isFatal reports errors that joining again cannot cure: the configuration or the rights.
func isFatal(err error) bool {
	for _, e := range []error{sarama.ErrInvalidSessionTimeout, sarama.ErrInvalidGroupId,
		sarama.ErrGroupAuthorizationFailed, sarama.ErrTopicAuthorizationFailed, sarama.ErrClusterAuthorizationFailed,
		sarama.ErrTransactionalIDAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type groupHandler struct {
	p *Processor
	h courier.MessageHandler
}

func (g *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (g *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim processes one partition in transactions until the session ends.
func (g *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	p := g.p
	topic, partition := claim.Topic(), claim.Partition()
	// Taking the partition's transactional ID fences the previous owner and aborts a
	// transaction it left open. The session fetched the partition's offset with
	// RequireStable (sarama does for read_committed consumers): no transaction held an offset
	// for it then, so the offset is final.
	p.log.Debug("kafkaeos: starting the partition's transactional producer", "topic", topic, "partition", partition)
	tx, err := p.newTxn(topic, partition)
	if err != nil {
		return err
	}
	defer tx.close()
	p.log.Debug("kafkaeos: partition claimed", "topic", topic, "partition", partition,
		"offset", claim.InitialOffset(), "transactional_id", tx.id)
	defer p.log.Debug("kafkaeos: partition released", "topic", topic, "partition", partition)
	dec := decoder{mix: recordid.PartitionMix(topic, partition)}
	batch := make([]*sarama.ConsumerMessage, 0, p.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch = append(batch, m)
		case <-ctx.Done():
			return nil
		}
	fill:
		for len(batch) < p.cfg.MaxBatch {
			select {
			case m, ok := <-claim.Messages():
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		done, err := g.process(ctx, tx, &dec, batch)
		if err != nil {
			return err
		}
		if !done {
			return nil
		}
	}
}

// process runs batch in a transaction until one commits (true), ctx ends (false), or the
// producer can no longer be used (an error).
func (g *groupHandler) process(ctx context.Context, tx *txn, dec *decoder, batch []*sarama.ConsumerMessage) (bool, error) {
	p := g.p
	for attempt := 1; ; attempt++ {
		err := tx.run(ctx, g.h, dec, batch, attempt)
		if err == nil {
			return true, nil
		}
		if tx.fatal() {
			return false, fmt.Errorf("kafkaeos: %s: %w", tx.id, err)
		}
		if ctx.Err() != nil {
			return false, nil // stopping or rebalancing: the batch's next owner processes it
		}
		last := batch[len(batch)-1]
		p.log.Warn("kafkaeos: transaction aborted; processing the batch again",
			"topic", last.Topic, "partition", last.Partition, "first_offset", batch[0].Offset,
			"last_offset", last.Offset, "attempt", attempt, "error", err)
		if !sleep(ctx, p.cfg.Backoff.Delay(attempt)) {
			return false, nil
		}
	}
}

// txn is a partition's transactional producer.
type txn struct {
	id    string
	group string
	prod  sarama.AsyncProducer

	mu   sync.Mutex
	errs []error // send errors of the open transaction
	done chan struct{}
}

func (p *Processor) newTxn(topic string, partition int32) (*txn, error) {
	sc := *p.sarama
	id := p.cfg.TransactionalID + "-" + topic + "-" + strconv.Itoa(int(partition))
	sc.Producer.Transaction.ID = id
	prod, err := sarama.NewAsyncProducer(p.cfg.Brokers, &sc) // InitProducerId: fences the previous owner
	if err != nil {
		return nil, fmt.Errorf("kafkaeos: transactional producer %s: %w", id, err)
	}
	t := &txn{id: id, group: p.cfg.Group, prod: prod, done: make(chan struct{})}
	go t.drain()
	return t, nil
}

func (t *txn) drain() {
	defer close(t.done)
	for pe := range t.prod.Errors() {
		t.mu.Lock()
		t.errs = append(t.errs, pe.Err)
		t.mu.Unlock()
	}
}

// close aborts a transaction left open (so that the group's offsets do not stay unstable
// until it times out) and closes the producer.
func (t *txn) close() {
	if t.prod.TxnStatus()&(sarama.ProducerTxnFlagInTransaction|sarama.ProducerTxnFlagAbortableError) != 0 {
		_ = t.prod.AbortTxn()
	}
	_ = t.prod.Close()
	<-t.done
}

func (t *txn) fatal() bool {
	return t.prod.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0
}

type txnKey struct{}

// run handles batch in one transaction and commits it with the consumed offsets.
func (t *txn) run(ctx context.Context, h courier.MessageHandler, dec *decoder, batch []*sarama.ConsumerMessage, attempt int) (err error) {
	if err := t.prod.BeginTxn(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t.mu.Lock()
	t.errs = nil
	t.mu.Unlock()
	defer func() {
		open := sarama.ProducerTxnFlagInTransaction | sarama.ProducerTxnFlagAbortableError
		if err != nil && t.prod.TxnStatus()&open != 0 {
			if aerr := t.prod.AbortTxn(); aerr != nil {
				err = errors.Join(err, fmt.Errorf("abort: %w", aerr))
			}
		}
	}()
	tctx := context.WithValue(ctx, txnKey{}, t)
	for _, cm := range batch {
		msg := dec.message(cm)
		msg.Attempt = attempt
		if err := h.HandleMessage(tctx, msg); err != nil {
			return fmt.Errorf("handler: %s/%d offset %d: %w", cm.Topic, cm.Partition, cm.Offset, err)
		}
	}
	last := batch[len(batch)-1]
	offsets := map[string][]*sarama.PartitionOffsetMetadata{
		last.Topic: {{Partition: last.Partition, Offset: last.Offset + 1}},
	}
	if err := t.prod.AddOffsetsToTxn(offsets, t.group); err != nil {
		return fmt.Errorf("adding offsets: %w", err)
	}
	if err := t.prod.CommitTxn(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.errs) > 0 { // cannot happen after a successful commit, but never hide one
		return fmt.Errorf("send: %w", errors.Join(t.errs...))
	}
	return nil
}

// txnSender is the courier.Producer of Processor.Producer.
type txnSender struct{}

func (txnSender) Send(ctx context.Context, msg courier.Message) error {
	return txnSender{}.SendBatch(ctx, []courier.Message{msg})
}

func (txnSender) SendBatch(ctx context.Context, msgs []courier.Message) error {
	t, _ := ctx.Value(txnKey{}).(*txn)
	if t == nil {
		return ErrNoTransaction
	}
	pms := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pm, err := producerMessage(m)
		if err != nil {
			return err
		}
		pms[i] = pm
	}
	for _, pm := range pms {
		select {
		case t.prod.Input() <- pm:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (txnSender) Close() error { return nil }

func producerMessage(m courier.Message) (*sarama.ProducerMessage, error) {
	if m.Topic == "" {
		return nil, fmt.Errorf("%w: empty topic", courier.ErrInvalidMessage)
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = time.Now()
	}
	pm := &sarama.ProducerMessage{Topic: m.Topic, Timestamp: m.Timestamp}
	if m.Key != "" {
		pm.Key = sarama.StringEncoder(m.Key)
	}
	if m.Value != nil {
		pm.Value = sarama.ByteEncoder(m.Value)
	}
	if m.ID != "" {
		if u, ok := parseUUID(m.ID); ok {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(headerUUID), Value: u[:]})
		} else {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(headerID), Value: []byte(m.ID)})
		}
	}
	if ns := recordid.SubMilli(m.Timestamp); ns != 0 {
		pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(headerNanos), Value: strconv.AppendInt(nil, ns, 10)})
	}
	for k, v := range m.Headers {
		if k == "" || strings.HasPrefix(k, courier.ReservedHeaderPrefix) {
			return nil, fmt.Errorf("%w: topic %q: header key %q is empty or uses the reserved prefix %q",
				courier.ErrInvalidMessage, m.Topic, k, courier.ReservedHeaderPrefix)
		}
		pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	return pm, nil
}

// parseUUID reads a canonical lowercase UUID.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || strings.ToLower(s) != s {
		return u, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// decoder turns records into courier messages as courier's Kafka adapter does, IDs included.
type decoder struct {
	mix recordid.Mix
}

func (d *decoder) message(cm *sarama.ConsumerMessage) courier.Message {
	m := courier.Message{Topic: cm.Topic, Key: string(cm.Key), Value: cm.Value, Timestamp: cm.Timestamp,
		Partition: cm.Partition, Offset: cm.Offset}
	for _, h := range cm.Headers {
		switch string(h.Key) {
		case headerID:
			m.ID = string(h.Value)
		case headerUUID:
			if len(h.Value) == 16 {
				m.ID = formatUUID([16]byte(h.Value))
			}
		case headerNanos:
			if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil && ns > 0 && ns < int64(time.Millisecond) {
				m.Timestamp = m.Timestamp.Add(time.Duration(ns))
			}
		default:
			if m.Headers == nil {
				m.Headers = map[string]string{}
			}
			m.Headers[string(h.Key)] = string(h.Value)
		}
	}
	if m.ID == "" {
		m.ID = formatUUID(d.mix.UUID(uint64(cm.Offset), cm.Timestamp))
	}
	return m
}
