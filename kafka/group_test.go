package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/courier-go/courier"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// record is where a handled message was read from.
type record struct {
	partition int32
	offset    int64
}

// ledger records every handled message, before its handler returns (so before its offset
// can be committed).
type ledger struct {
	mu      sync.Mutex
	handled map[record]int // deliveries per record
	ids     map[string]int
	changed chan struct{}
}

func newLedger() *ledger {
	return &ledger{handled: map[record]int{}, ids: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (l *ledger) handle(m courier.Message) {
	l.mu.Lock()
	l.handled[record{m.Partition, m.Offset}]++
	l.ids[m.ID]++
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

func (l *ledger) unique() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

func (l *ledger) duplicates() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.ids {
		n += c - 1
	}
	return n
}

func (l *ledger) was(r record) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.handled[r] > 0
}

// waitFor waits until cond holds, re-checking when the ledger changes and every 20ms.
func waitFor(t *testing.T, timeout time.Duration, what string, changed <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// committed returns the group's committed offset of each partition of topic (-1: none).
func committed(t *testing.T, admin sarama.ClusterAdmin, group, topic string, partitions int32) []int64 {
	t.Helper()
	out, err := fetchCommitted(admin, group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fetchCommitted(admin sarama.ClusterAdmin, group, topic string, partitions int32) ([]int64, error) {
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	out := make([]int64, partitions)
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if errors.Is(err, sarama.ErrGroupIDNotFound) { // kfake, before the group's first member joined
		for p := range out {
			out[p] = -1
		}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets: %w", err)
	}
	for p := range out {
		out[p] = -1
		if blk := resp.GetBlock(topic, int32(p)); blk != nil && blk.Err == sarama.ErrNoError {
			out[p] = blk.Offset
		}
	}
	return out, nil
}

func newAdmin(t *testing.T, brokers []string) sarama.ClusterAdmin {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return admin
}

// consumeInBackground runs c.Consume and returns a function that closes c and checks that
// Consume returned nil.
func consumeInBackground(t *testing.T, c courier.Consumer, h courier.HandlerFunc) (stop func()) {
	done := make(chan error, 1)
	go func() { done <- c.Consume(context.Background(), h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := c.Close(); err != nil {
				t.Errorf("consumer Close: %v", err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Consume: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Consume did not return after Close")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestRebalance: two consumers share a 6-partition topic; one is closed mid-stream and the
// other takes its partitions over. Every message is handled, and at no time does the
// group's committed offset of a partition pass a message that was not handled.
func TestRebalance(t *testing.T) {
	for _, strategy := range []string{"range", "cooperative-sticky"} {
		t.Run(strategy, func(t *testing.T) { testRebalance(t, strategy) })
	}
}

func testRebalance(t *testing.T, strategy string) {
	const partitions, total = 6, 3000
	brokers := kfakeBrokers(t)
	cfg := testConfig(brokers, 0)
	cfg.Rebalance = strategy
	b := openBroker(t, cfg)
	t.Cleanup(func() { _ = b.Close() })
	admin := newAdmin(t, brokers)
	ctx := context.Background()
	topic, group := "rebalance", "rebalance-group"
	if err := b.CreateTopic(ctx, topic, partitions, 0); err != nil {
		t.Fatal(err)
	}

	l := newLedger()
	var perConsumer [2]atomic.Int64
	handler := func(i int) courier.HandlerFunc {
		return func(ctx context.Context, m courier.Message) error {
			if rand.IntN(50) == 0 { // some work in flight when the first consumer is closed
				select {
				case <-time.After(time.Duration(rand.IntN(5)) * time.Millisecond):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			l.handle(m)
			perConsumer[i].Add(1)
			return nil
		}
	}
	cc := courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: 4, DrainTimeout: 5 * time.Second, Logger: quiet}
	var stops [2]func()
	for i := range stops {
		c, err := b.NewConsumer(ctx, cc)
		if err != nil {
			t.Fatal(err)
		}
		stops[i] = consumeInBackground(t, c, handler(i))
	}

	// Watch the committed offsets while the test runs: each must have every record below
	// it handled. Offsets are fetched before the ledger is read, and the ledger only grows.
	watchDone := make(chan struct{})
	var violations []string
	var checks atomic.Int64
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-watchDone:
				return
			case <-time.After(20 * time.Millisecond):
			}
			offs, err := fetchCommitted(admin, group, topic, partitions)
			if err != nil {
				violations = append(violations, err.Error())
				return
			}
			for p, off := range offs {
				for o := int64(0); o < off; o++ {
					if !l.was(record{int32(p), o}) {
						violations = append(violations, fmt.Sprintf("partition %d committed at %d, but offset %d was not handled", p, off, o))
						break
					}
				}
			}
			checks.Add(1)
		}
	}()

	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		batch := make([]courier.Message, 0, 50)
		for i := range total {
			batch = append(batch, courier.Message{ID: fmt.Sprint("m-", i), Topic: topic, Key: fmt.Sprint("key-", i%97), Value: []byte("v")})
			if len(batch) == cap(batch) {
				if err := p.SendBatch(ctx, batch); err != nil {
					sent <- err
					return
				}
				batch = batch[:0]
			}
		}
		sent <- nil
	}()

	waitFor(t, 60*time.Second, "both consumers handling messages", l.changed, func() bool {
		return perConsumer[0].Load() > 0 && perConsumer[1].Load() > 0 && l.unique() >= total/3
	})
	closedAt := l.unique()
	stops[0]() // mid-stream: the second consumer takes its partitions over
	if err := <-sent; err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d messages handled", total), l.changed, func() bool { return l.unique() == total })
	// Every message was handled, some by the first consumer only: those after its last
	// commit come to the second one again. Wait for the second one to have handled and
	// committed everything too (records a consumer fetched and did not start when it closes
	// go back to the group, so closing now could leave them to a next member).
	ends := make([]int64, partitions)
	for p := range ends {
		ends[p] = highWater(t, brokers, topic, int32(p))
	}
	waitFor(t, 60*time.Second, "every partition committed to its end", nil, func() bool {
		offs, err := fetchCommitted(admin, group, topic, partitions)
		return err == nil && slices.Equal(offs, ends)
	})
	stops[1]() // commits what it handled, and must not move any offset back

	close(watchDone)
	watch.Wait()
	for i, v := range violations {
		if i == 10 {
			t.Errorf("... %d violations", len(violations))
			break
		}
		t.Error(v)
	}
	// After the last consumer closed, every partition is still committed to its end.
	end := 0
	for p, off := range committed(t, admin, group, topic, partitions) {
		hw := highWater(t, brokers, topic, int32(p))
		if off != hw {
			t.Errorf("partition %d: committed %d after Close, want its end %d", p, off, hw)
		}
		end += int(hw)
	}
	if end != total {
		t.Errorf("partitions hold %d records, want %d", end, total)
	}
	t.Logf("first consumer closed after %d of %d messages; consumer 1 handled %d, consumer 2 %d; %d duplicates; %d committed-offset checks",
		closedAt, total, perConsumer[0].Load(), perConsumer[1].Load(), l.duplicates(), checks.Load())
}

// highWater returns the end offset of a partition.
func highWater(t *testing.T, brokers []string, topic string, partition int32) int64 {
	t.Helper()
	c, err := sarama.NewClient(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	off, err := c.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// TestCrashRedeliversUncommitted: a consumer commits the first messages, then its commits
// stop reaching the broker (as when a process dies before committing) and it is stopped.
// The group's next consumer gets every message that was not committed, and none that was.
func TestCrashRedeliversUncommitted(t *testing.T) {
	const partitions, half = 3, 60
	cluster := newCluster(t)
	brokers := cluster.ListenAddrs()
	b := openBroker(t, testConfig(brokers, 0))
	t.Cleanup(func() { _ = b.Close() })
	admin := newAdmin(t, brokers)
	ctx := context.Background()
	topic, group := "crash", "crash-group"
	if err := b.CreateTopic(ctx, topic, partitions, 0); err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(prefix string) {
		var msgs []courier.Message
		for i := range half {
			msgs = append(msgs, courier.Message{ID: fmt.Sprint(prefix, i), Topic: topic, Key: fmt.Sprint("k", i%7), Value: []byte("v")})
		}
		if err := p.SendBatch(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(offs []int64) (n int64) {
		for _, o := range offs {
			n += max(o, 0)
		}
		return n
	}

	// The first consumer handles and commits the first half.
	first := newLedger()
	cfg := courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: 2, Logger: quiet}
	c1, err := b.NewConsumer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop1 := consumeInBackground(t, c1, func(_ context.Context, m courier.Message) error { first.handle(m); return nil })
	send("committed-")
	waitFor(t, 30*time.Second, "the first half committed", first.changed, func() bool {
		return sum(committed(t, admin, group, topic, partitions)) == half
	})

	// From here on the broker refuses the group's commits, and the second half is handled.
	var crashed atomic.Bool
	crashed.Store(true)
	cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cr := req.(*kmsg.OffsetCommitRequest)
		if !crashed.Load() {
			cluster.DropControl()
			return nil, nil, false
		}
		if cr.Group != group {
			return nil, nil, false
		}
		cluster.KeepControl()
		resp := cr.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range cr.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	send("uncommitted-")
	waitFor(t, 30*time.Second, "the first consumer handling everything", first.changed, func() bool { return first.unique() == 2*half })
	stop1()
	if got := sum(committed(t, admin, group, topic, partitions)); got != half {
		t.Fatalf("after the crash the group has %d offsets committed, want %d", got, half)
	}
	crashed.Store(false)

	// The next consumer of the group gets what was not committed, and nothing that was.
	second := newLedger()
	c2, err := b.NewConsumer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var early []string
	var mu sync.Mutex
	consumeInBackground(t, c2, func(_ context.Context, m courier.Message) error {
		if strings.HasPrefix(m.ID, "committed-") {
			mu.Lock()
			early = append(early, m.ID)
			mu.Unlock()
		}
		second.handle(m)
		return nil
	})
	waitFor(t, 30*time.Second, "the uncommitted half redelivered", second.changed, func() bool { return second.unique() >= half })
	for i := range half {
		id := fmt.Sprint("uncommitted-", i)
		second.mu.Lock()
		n := second.ids[id]
		second.mu.Unlock()
		if n == 0 {
			t.Errorf("%s, handled but never committed, was not delivered to the next consumer", id)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Errorf("committed messages delivered again: %v", early)
	}
}

// TestKeysOfOnePartitionInParallel: with Concurrency 2, two keys of a single partition are
// handled at the same time, while the messages of each key keep their order.
func TestKeysOfOnePartitionInParallel(t *testing.T) {
	b := openBroker(t, testConfig(kfakeBrokers(t), 0))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.CreateTopic(ctx, "one", 1, 0); err != nil {
		t.Fatal(err)
	}
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"one"}, Concurrency: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	both := make(chan struct{})
	var started atomic.Int64
	var mu sync.Mutex
	order := map[string][]string{}
	l := newLedger()
	consumeInBackground(t, c, func(ctx context.Context, m courier.Message) error {
		if m.Value[0] == '0' { // the first message of each key waits for the other key's
			if started.Add(1) == 2 {
				close(both)
			}
			select {
			case <-both:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		mu.Lock()
		order[m.Key] = append(order[m.Key], string(m.Value))
		mu.Unlock()
		l.handle(m)
		return nil
	})
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []courier.Message
	for i := range 5 {
		for _, k := range []string{"a", "b"} {
			msgs = append(msgs, courier.Message{Topic: "one", Key: k, Value: []byte(fmt.Sprint(i))})
		}
	}
	if err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "all 10 messages (the first of each key only finishes once both run at once)", l.changed,
		func() bool { return l.unique() == len(msgs) })
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"a", "b"} {
		if got := strings.Join(order[k], ","); got != "0,1,2,3,4" {
			t.Errorf("key %s handled in order %s, want 0,1,2,3,4", k, got)
		}
	}
}

// TestRevokedPartitionIsBoundedAndCommitted: a handler stuck on a message holds its
// partition only for DrainTimeout after a rebalance revokes it: then its context is
// cancelled, the message goes back to the group, and what was handled before it is
// committed at the revocation (periodic commits are off here), so it is not delivered again.
func TestRevokedPartitionIsBoundedAndCommitted(t *testing.T) {
	cfg := testConfig(kfakeBrokers(t), 0)
	cfg.CommitInterval = time.Hour // only the commit at the end of a claim can commit
	b := openBroker(t, cfg)
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.CreateTopic(ctx, "revoke", 1, 0); err != nil {
		t.Fatal(err)
	}
	const drain = 300 * time.Millisecond
	cc := courier.ConsumerConfig{Group: "g", Topics: []string{"revoke"}, DrainTimeout: drain, Logger: quiet}
	l := newLedger()
	stuck := make(chan struct{})
	cancelled := make(chan time.Duration, 1)
	var once atomic.Bool
	handler := func(ctx context.Context, m courier.Message) error {
		if string(m.Value) == "stuck" && once.CompareAndSwap(false, true) {
			close(stuck)
			start := time.Now()
			<-ctx.Done() // ignores nothing: ends when its partition's bound is over
			cancelled <- time.Since(start)
			return ctx.Err()
		}
		l.handle(m)
		return nil
	}
	c1, err := b.NewConsumer(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	consumeInBackground(t, c1, handler)
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []courier.Message
	for _, v := range []string{"ok-0", "ok-1", "ok-2", "stuck", "after-0", "after-1"} {
		msgs = append(msgs, courier.Message{ID: v, Topic: "revoke", Value: []byte(v)})
	}
	if err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stuck:
	case <-time.After(30 * time.Second):
		t.Fatal("the first consumer never reached the stuck message")
	}

	joined := time.Now()
	c2, err := b.NewConsumer(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	consumeInBackground(t, c2, handler) // its joining revokes the first consumer's partition
	select {
	case held := <-cancelled:
		if held < drain || time.Since(joined) > drain+10*time.Second {
			t.Errorf("stuck handler cancelled after %v (%v after the rebalance began), want after the drain timeout %v and soon after it", held, time.Since(joined), drain)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck handler was never cancelled: the revoked partition is held")
	}
	waitFor(t, 30*time.Second, "every message handled after the rebalance", l.changed, func() bool { return l.unique() == len(msgs) })
	for _, id := range []string{"ok-0", "ok-1", "ok-2"} {
		l.mu.Lock()
		n := l.ids[id]
		l.mu.Unlock()
		if n != 1 {
			t.Errorf("%s handled %d times, want once: what was handled before the revocation must be committed with it", id, n)
		}
	}
}
