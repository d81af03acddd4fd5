package statetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/stream"
)

var errInjected = errors.New("statetest: injected failure")

// crashingStore stores an update and then, now and then, fails as a process that crashed
// between the state commit and the acknowledgement would: the input comes back.
type crashingStore struct {
	stream.Store
	crash   func() bool
	crashes atomic.Int64
}

func (c *crashingStore) Apply(ctx context.Context, table, key string, u stream.Update) (stream.Outcome, stream.State, error) {
	out, st, err := c.Store.Apply(ctx, table, key, u)
	if err == nil && out == stream.Applied && c.crash() {
		c.crashes.Add(1)
		return 0, stream.State{}, errInjected
	}
	return out, st, err
}

// collector is a Producer keeping the outputs it is sent, by ID.
type collector struct {
	mu    sync.Mutex
	byID  map[string][]string // every value sent under the ID
	total int
	all   chan struct{} // closed once want distinct IDs came
	want  int
	fail  func() bool // whether a send fails
	fails int
}

func (c *collector) Send(ctx context.Context, m courier.Message) error {
	return c.SendBatch(ctx, []courier.Message{m})
}

func (c *collector) SendBatch(_ context.Context, ms []courier.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail() {
		c.fails++
		return errInjected
	}
	for _, m := range ms {
		c.byID[m.ID] = append(c.byID[m.ID], string(m.Value))
		c.total++
	}
	if len(c.byID) == c.want {
		select {
		case <-c.all:
		default:
			close(c.all)
		}
	}
	return nil
}

func (c *collector) Close() error { return nil }

// fold is the reference fold: an order-sensitive hash of a key's values, so a value counted
// twice, missed or taken out of order changes the result.
func fold(h int64, v int) int64 { return (h*1_000_003 + int64(v)) % (1 << 61) }

// aggregateFold runs an Aggregate on s through a memory:// consumer handling keys in parallel,
// with crashes after state commits, failed output sends and lost acknowledgements: the state and the outputs equal
// a reference fold of the input, and every redelivery resent its outputs with the same IDs
// and values.
func aggregateFold(t *testing.T, s stream.Store) {
	const n, keys = 600, 25
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(rand.Uint64(), 1))
	chance := func(p float64) bool { mu.Lock(); defer mu.Unlock(); return rnd.Float64() < p }
	store := &crashingStore{Store: s, crash: func() bool { return chance(0.1) }}
	out := &collector{byID: map[string][]string{}, all: make(chan struct{}), want: n, fail: func() bool { return chance(0.05) }}

	name := "fold-" + strconv.FormatUint(rand.Uint64(), 36)
	p := stream.New(stream.Config{Name: name})
	sums := stream.Aggregate(stream.From(p, func(m courier.Message) (int, error) { return strconv.Atoi(string(m.Value)) }),
		stream.Aggregation[int, int64]{Name: "hash", Store: store, Codec: stream.Int64Codec,
			Add: func(_ string, h int64, v int) int64 { return fold(h, v) }})
	stream.To(sums, out, "sums", func(h int64) ([]byte, error) { return strconv.AppendInt(nil, h, 10), nil })
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	var lostAcks atomic.Int64
	h := courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		err := p.HandleMessage(ctx, m)
		if err == nil && m.Attempt <= 2 && chance(0.1) {
			lostAcks.Add(1)
			return errInjected // handled, not acknowledged: it comes back
		}
		return err
	})

	ref := map[string]int64{}
	want := map[string]int64{}
	var msgs []courier.Message
	for i := range n {
		key := "k" + strconv.Itoa(rand.IntN(keys))
		v := rand.IntN(1000)
		ref[key] = fold(ref[key], v)
		id := "in-" + strconv.Itoa(i)
		want[stream.DeriveID(name, id, 0)] = ref[key]
		msgs = append(msgs, courier.Message{Topic: "in", ID: id, Key: key, Value: []byte(strconv.Itoa(v))})
	}
	if err := in.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"in"}, Concurrency: 4,
		Backoff: courier.Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, Multiplier: 2}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, h) }()
	select {
	case <-out.all:
	case <-ctx.Done():
		t.Errorf("timed out: %d of %d outputs", len(out.byID), n)
	}
	_ = c.Close()
	if err := <-done; err != nil {
		t.Errorf("Consume: %v", err)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	for id, vals := range out.byID {
		for _, v := range vals {
			if w, ok := want[id]; !ok || v != strconv.FormatInt(w, 10) {
				t.Fatalf("output %s = %s; want %d (known ID: %v)", id, v, w, ok)
			}
		}
	}
	for key, w := range ref {
		st, err := s.Get(context.Background(), name+"/hash", key)
		if err != nil {
			t.Fatal(err)
		}
		if string(st.Value) != strconv.FormatInt(w, 10) {
			t.Errorf("key %s: state %s; reference fold %d", key, st.Value, w)
		}
	}
	if store.crashes.Load() == 0 || lostAcks.Load() == 0 || out.fails == 0 {
		t.Errorf("injected %d crashes after commit, %d lost acks, %d failed sends; want some of each",
			store.crashes.Load(), lostAcks.Load(), out.fails)
	}
	t.Logf("%d inputs, %d outputs sent (%d distinct IDs); %d crashes after commit, %d lost acks, %d failed sends",
		n, out.total, len(out.byID), store.crashes.Load(), lostAcks.Load(), out.fails)
}
