package kafkaeos_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/stream"
	"github.com/courier-go/courier/stream/kafkaeos"
)

func TestMain(m *testing.M) {
	// go-metrics, with which sarama meters its clients, starts one process-wide ticker
	// goroutine with the first meter and never stops it; it is shared, not leaked per client.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

const (
	inTopic, outTopic = "in", "out"
	partitions        = 4
	childEnv          = "KAFKAEOS_CHILD_BROKERS"
)

// saramaConfig has quick heartbeats, rebalances and transaction timeouts, so that a killed
// member's partitions move on in a second or two, not a minute.
func saramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Consumer.Group.Session.Timeout = time.Second
	sc.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	sc.Consumer.Group.Rebalance.Timeout = 2 * time.Second
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond
	// A killed process's open transaction holds the group's offsets until it times out.
	sc.Producer.Transaction.Timeout = time.Second
	return sc
}

// TestChildProcessor is the processor process that TestKilledProcessorOutputsExactlyOnce
// starts and kills; it does nothing unless started so.
func TestChildProcessor(t *testing.T) {
	brokers := os.Getenv(childEnv)
	if brokers == "" {
		t.Skip("runs only as the child of TestKilledProcessorOutputsExactlyOnce")
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ready := os.NewFile(3, "ready") // the parent's pipe: SIGTERM is handled from now on
	if _, err := ready.Write([]byte("ready\n")); err != nil {
		t.Fatal(err)
	}
	_ = ready.Close()
	proc, err := kafkaeos.New(ctx, kafkaeos.Config{Brokers: []string{brokers}, Group: "eos", Topics: []string{inTopic},
		TransactionalID: "eos-test", MaxBatch: 20, Sarama: saramaConfig(),
		Backoff: courier.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	p := stream.New(stream.Config{Name: "eos"})
	out := stream.FlatMap(stream.From(p, stream.String), func(s string) ([]string, error) {
		return []string{"a:" + s, "b:" + s}, nil // two outputs per input, one transaction
	})
	stream.To(out, proc.Producer(), outTopic, func(s string) ([]byte, error) { return []byte(s), nil })
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := proc.Run(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// outputs reads the output topic with read_committed, keeping how often each value was seen.
type outputs struct {
	mu        sync.Mutex
	seen      map[string]int
	ids       map[string]string // value -> ID
	badIDs    int
	changed   chan struct{}
	sentinels int
}

func readOutputs(t *testing.T, brokers []string) *outputs {
	sc := sarama.NewConfig()
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.MaxWaitTime = 50 * time.Millisecond
	c, err := sarama.NewConsumer(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	o := &outputs{seen: map[string]int{}, ids: map[string]string{}, changed: make(chan struct{})}
	var wg sync.WaitGroup
	var pcs []sarama.PartitionConsumer
	t.Cleanup(func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
		_ = c.Close()
	})
	for part := range int32(partitions) {
		pc, err := c.ConsumePartition(outTopic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		pcs = append(pcs, pc)
		wg.Go(func() {
			for m := range pc.Messages() {
				o.add(m)
			}
		})
	}
	return o
}

func (o *outputs) add(m *sarama.ConsumerMessage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := string(m.Value)
	if v == "sentinel" {
		o.sentinels++
	} else {
		o.seen[v]++
		id := ""
		for _, h := range m.Headers {
			if string(h.Key) == "courier-uuid" && len(h.Value) == 16 {
				id = fmt.Sprintf("%x", h.Value)
			}
		}
		if id == "" {
			o.badIDs++
		}
		o.ids[v] = id
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// waitFor waits until ok holds, or fails the test at the deadline.
func (o *outputs) waitFor(t *testing.T, what string, deadline time.Time, ok func(o *outputs) bool) {
	t.Helper()
	for {
		o.mu.Lock()
		done, ch := ok(o), o.changed
		o.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// child is a running processor process.
type child struct {
	cmd   *exec.Cmd
	out   bytes.Buffer
	ready chan struct{} // closed once the child handles SIGTERM
	done  chan error
}

func startChild(t *testing.T, brokers string) *child {
	c := &child{ready: make(chan struct{}), done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestChildProcessor$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), childEnv+"="+brokers)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.ExtraFiles = []*os.File{w}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	go func() {
		defer r.Close()
		if line, err := bufio.NewReader(r).ReadString('\n'); err == nil && line == "ready\n" {
			close(c.ready)
		}
	}()
	go func() { c.done <- c.cmd.Wait() }()
	return c
}

// TestKilledProcessorOutputsExactlyOnce runs the processor as a child process and kills it
// with SIGKILL at random points, again and again, then lets a last one finish: a
// read_committed reader sees every output exactly once.
func TestKilledProcessorOutputsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes for a while")
	}
	const n, kills = 3000, 8
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, inTopic, outTopic),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	prod, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	// The input arrives while the processors run and die: a chunk before each of them.
	chunks := kills + 1
	sendChunk := func(c int) {
		var in []*sarama.ProducerMessage
		for i := c * n / chunks; i < (c+1)*n/chunks; i++ {
			in = append(in, &sarama.ProducerMessage{Topic: inTopic, Key: sarama.StringEncoder("k" + strconv.Itoa(i%50)),
				Value: sarama.StringEncoder(strconv.Itoa(i))})
		}
		if err := prod.SendMessages(in); err != nil {
			t.Fatal(err)
		}
	}
	outs := readOutputs(t, brokers)
	progress := func() int {
		outs.mu.Lock()
		defer outs.mu.Unlock()
		return len(outs.seen)
	}

	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var killedAt []int
	for k := range kills {
		before := progress()
		sendChunk(k)
		c := startChild(t, brokers[0])
		// Once this child commits, a random point in its work: mid-batch, sending,
		// committing. Not before: a process killed between its JoinGroup and SyncGroup stays
		// a member of kfake's group for good (its partitions are never handed on), which
		// the final run could not get past.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("child %d:\n%s", k, c.out.String())
			}
		})
		outs.waitFor(t, fmt.Sprintf("progress of child %d", k), time.Now().Add(time.Minute), func(o *outputs) bool { return len(o.seen) > before })
		select {
		case err := <-c.done:
			t.Fatalf("child %d ended before it was killed: %v\n%s", k, err, c.out.String())
		case <-time.After(time.Duration(rnd.IntN(60)) * time.Millisecond): // fault injection, not a wait for a result
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.done
		killedAt = append(killedAt, progress())
	}
	sendChunk(kills)
	last := startChild(t, brokers[0])
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last child:\n%s", last.out.String())
		}
	})
	outs.waitFor(t, "every output", time.Now().Add(2*time.Minute), func(o *outputs) bool { return len(o.seen) == 2*n })
	select {
	case <-last.ready:
	case err := <-last.done:
		t.Fatalf("the last processor ended by itself: %v\n%s", err, last.out.String())
	}
	if err := last.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-last.done; err != nil {
		t.Errorf("the last processor did not end cleanly: %v\n%s", err, last.out.String())
	}
	// A record sent after everything: read_committed readers see it only once every
	// transaction before it is decided, so once it is read, nothing more can come.
	for part := range int32(partitions) {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: outTopic, Partition: part, Value: sarama.StringEncoder("sentinel")}); err != nil {
			t.Fatal(err)
		}
	}
	outs.waitFor(t, "the sentinels", time.Now().Add(time.Minute), func(o *outputs) bool { return o.sentinels == partitions })

	outs.mu.Lock()
	defer outs.mu.Unlock()
	for i := range n {
		for _, prefix := range []string{"a:", "b:"} {
			if c := outs.seen[prefix+strconv.Itoa(i)]; c != 1 {
				t.Errorf("output %s%d seen %d times", prefix, i, c)
			}
		}
	}
	if len(outs.seen) != 2*n || outs.badIDs != 0 {
		t.Errorf("%d distinct outputs (want %d), %d without an ID", len(outs.seen), 2*n, outs.badIDs)
	}
	t.Logf("killed with %v of %d outputs committed", killedAt, 2*n)
	// Kills that came before the child had handled the input sent so far: mid-stream.
	partial := 0
	for k, p := range killedAt {
		if p < 2*(k+1)*n/chunks {
			partial++
		}
	}
	if partial == 0 {
		t.Errorf("no kill happened while the processor was part way through its input (outputs at the kills: %v)", killedAt)
	}
}

func TestConfigValidate(t *testing.T) {
	err := kafkaeos.Config{MaxBatch: -1, Topics: []string{""}}.Validate()
	for _, want := range []string{"no Brokers", "empty Group", "Topics[0] is empty", "empty TransactionalID", "negative MaxBatch -1"} {
		if err == nil || !errors.Is(err, courier.ErrInvalidConfig) || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("Validate() = %v; want it to say %q", err, want)
		}
	}
}

// A session timeout the cluster refuses is a configuration error: Run returns it.
func TestRunReturnsFatalErrors(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proc, err := kafkaeos.New(ctx, kafkaeos.Config{Brokers: cluster.ListenAddrs(), Group: "g", Topics: []string{"in"},
		TransactionalID: "t", Sarama: saramaConfig()}) // 1s, below kfake's default minimum of 6s
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	h := courier.HandlerFunc(func(context.Context, courier.Message) error { return nil })
	if err := proc.Run(ctx, h); !errors.Is(err, sarama.ErrInvalidSessionTimeout) {
		t.Errorf("Run = %v; want the invalid session timeout", err)
	}
	if err := proc.Run(ctx, h); err == nil {
		t.Error("a second Run succeeded")
	}
	if err := proc.Run(ctx, nil); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("Run(nil) = %v; want ErrInvalidConfig", err)
	}
}

func TestProducerOutsideTransaction(t *testing.T) {
	// Producer needs no connection: its sends belong to Run's transactions.
	var p *kafkaeos.Processor
	if err := p.Producer().Send(context.Background(), courier.Message{Topic: "t"}); !errors.Is(err, kafkaeos.ErrNoTransaction) {
		t.Errorf("Send outside a handler = %v; want ErrNoTransaction", err)
	}
}
