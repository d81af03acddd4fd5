package pgprojection_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/cqrstest"
	"github.com/courier-go/courier/cqrs/pgprojection"
	"github.com/courier-go/courier/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 30 * time.Second

type Deposited struct{ Amount int }

// env is a pool, a store and a read-model schema of the test's own, dropped at cleanup.
type env struct {
	pool  *pgxpool.Pool
	store *pgprojection.Store
	view  string // the read model's schema
}

func newEnv(t testing.TB) env {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.Broker(t, testenv.PostgresURL, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, bench := t.(*testing.B); !bench {
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off" // tests only; benchmarks keep durable commits
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%x", rand.Uint64())
	e := env{pool: pool, view: "cqrs_view_" + suffix}
	cpSchema := "cqrs_cp_" + suffix
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE; DROP SCHEMA IF EXISTS %s_shadow CASCADE; DROP SCHEMA IF EXISTS %s CASCADE",
			e.view, e.view, cpSchema))
		pool.Close()
	})
	if e.store, err = pgprojection.New(ctx, pool, pgprojection.Config{Schema: cpSchema}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Define(ctx, "balances", pgprojection.ReadModel{Schema: e.view, Setup: setupBalances}); err != nil {
		t.Fatal(err)
	}
	return e
}

// projection is the balances projection; its handler counts how often each event was
// applied, so that a double application shows.
func (e env) projection(t testing.TB, src cqrs.Source, cfg cqrs.ProjectionConfig) *cqrs.Projection[pgx.Tx] {
	t.Helper()
	p, err := cqrs.NewProjection("balances", src, e.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cqrs.Project(p, applyDeposit); err != nil {
		t.Fatal(err)
	}
	return p
}

func applyDeposit(ctx context.Context, tx pgx.Tx, d Deposited, ev cqrs.Event) error {
	if _, err := tx.Exec(ctx, `INSERT INTO balances VALUES ($1, $2) ON CONFLICT (stream) DO UPDATE SET amount = balances.amount + $2`,
		ev.Stream, d.Amount); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO applied VALUES ($1, 1) ON CONFLICT (event_id) DO UPDATE SET times = applied.times + 1`, ev.ID)
	return err
}

// snapshot reads the live read model: balances, and events applied more than once.
func (e env) snapshot(t *testing.T) (map[string]int64, []string) {
	t.Helper()
	bal, twice, err := e.readErr(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return bal, twice
}

// read is snapshot for a rapid.T: a failed read shows as an empty model.
func (e env) read(ctx context.Context) (map[string]int64, []string) {
	bal, twice, err := e.readErr(ctx)
	if err != nil {
		return nil, []string{err.Error()}
	}
	return bal, twice
}

func (e env) readErr(ctx context.Context) (map[string]int64, []string, error) {
	bal := map[string]int64{}
	rows, _ := e.pool.Query(ctx, `SELECT stream, amount FROM `+e.view+`.balances`)
	var (
		s string
		n int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&s, &n}, func() error { bal[s] = n; return nil }); err != nil {
		return nil, nil, err
	}
	rows, _ = e.pool.Query(ctx, `SELECT event_id FROM `+e.view+`.applied WHERE times <> 1`)
	twice, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return bal, twice, err
}

func want(src *cqrstest.Source) map[string]int64 {
	m := map[string]int64{}
	for _, ev := range src.Events() {
		var d Deposited
		_ = jsonUnmarshal(ev.Data, &d)
		m[ev.Stream] += int64(d.Amount)
	}
	return m
}

func fill(src *cqrstest.Source, n, from int) {
	for i := range n {
		src.Append(fmt.Sprintf("acc-%d", (from+i)%5), "Deposited", Deposited{Amount: from + i + 1})
	}
}

func TestCatchUpAndStatus(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	src := cqrstest.NewSource()
	fill(src, 23, 0)
	p := e.projection(t, src, cqrs.ProjectionConfig{BatchSize: 10})
	st, err := p.Status(ctx)
	if err != nil || st.Behind != 23 || st.Position != "" {
		t.Fatalf("status before: %+v, %v", st, err)
	}
	if n, err := p.CatchUp(ctx); err != nil || n != 23 {
		t.Fatalf("CatchUp = %d, %v", n, err)
	}
	bal, twice := e.snapshot(t)
	if !maps.Equal(bal, want(src)) || len(twice) > 0 {
		t.Fatalf("balances %v (want %v), applied twice %v", bal, want(src), twice)
	}
	st, err = p.Status(ctx)
	if err != nil || st.Behind != 0 || st.Position != src.Events()[22].Position || st.Handled != 23 {
		t.Fatalf("status after: %+v, %v", st, err)
	}
}

// TestCrashBeforeCommit kills the database connection after a batch and its checkpoint were
// written and before the commit; the restarted projection applies every event once.
func TestCrashBeforeCommit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	src := cqrstest.NewSource()
	fill(src, 40, 0)
	crashes, commits := 0, 0
	pgprojection.SetBeforeCommit(e.store, func(ctx context.Context, tx pgx.Tx) error {
		if commits++; crashes >= 3 || commits%2 == 0 { // every other batch, three times
			return nil
		}
		crashes++
		_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
		return err // the connection is gone: the transaction never commits
	})
	for restarts := 0; ; restarts++ {
		if restarts > 50 {
			t.Fatal("never caught up")
		}
		_, err := e.projection(t, src, cqrs.ProjectionConfig{BatchSize: 7}).CatchUp(ctx)
		if err == nil {
			break
		}
		t.Logf("restart after: %v", err)
	}
	if crashes != 3 {
		t.Fatalf("%d crashes injected, want 3", crashes)
	}
	bal, twice := e.snapshot(t)
	if !maps.Equal(bal, want(src)) || len(twice) > 0 {
		t.Fatalf("after %d crashes: balances %v (want %v), applied twice %v", crashes, bal, want(src), twice)
	}
}

// TestRebuildWhileRunning rebuilds into the shadow schema and swaps it in while Run follows
// the Source and events keep coming.
func TestRebuildWhileRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t)
	src := cqrstest.NewSource()
	fill(src, 50, 0)
	applied := make(chan struct{}, 1)
	pgprojection.SetAfterCommit(e.store, func() {
		select {
		case applied <- struct{}{}:
		default:
		}
	})
	p := e.projection(t, src, cqrs.ProjectionConfig{BatchSize: 8, PollInterval: 5 * time.Millisecond})
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := e.snapshot(t)
	if err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	after, twice := e.snapshot(t)
	if !maps.Equal(before, after) || len(twice) > 0 {
		t.Fatalf("rebuilt %v, live was %v; applied twice %v", after, before, twice)
	}

	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for round := range 3 {
		fill(src, 30, 50+30*round)
		if err := p.Rebuild(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(timeout)
	for {
		bal, twice := e.snapshot(t)
		if len(twice) > 0 {
			t.Fatalf("applied twice: %v", twice)
		}
		if maps.Equal(bal, want(src)) {
			break
		}
		select {
		case <-applied: // a batch was committed: look again
		case <-deadline:
			t.Fatalf("balances %v never reached %v", bal, want(src))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var shadows int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, e.view+"_shadow").Scan(&shadows); err != nil || shadows != 0 {
		t.Fatalf("shadow schema left behind: %d, %v", shadows, err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := pgprojection.New(ctx, nil, pgprojection.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil pool: %v", err)
	}
	err := e.store.Define(ctx, "", pgprojection.ReadModel{Schema: strings.Repeat("x", 60)})
	if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "empty projection name") ||
		!strings.Contains(err.Error(), "longer than 56") || !strings.Contains(err.Error(), "nil Setup") {
		t.Errorf("Define: %v", err)
	}
	err = e.store.Define(ctx, "balances", pgprojection.ReadModel{Schema: "other", Setup: func(context.Context, pgx.Tx) error { return nil }})
	if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "already defined") {
		t.Errorf("redefine: %v", err)
	}
	err = e.store.Apply(ctx, "nope", cqrs.Live, "", "1", func(context.Context, pgx.Tx) error { return nil })
	if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), `"nope" is not defined`) {
		t.Errorf("undefined projection: %v", err)
	}
	err = e.store.Apply(ctx, "balances", cqrs.Live, "elsewhere", "1", func(context.Context, pgx.Tx) error { return nil })
	if !errors.Is(err, cqrs.ErrCheckpointMoved) {
		t.Errorf("wrong checkpoint: %v", err)
	}
	if err := e.store.PromoteShadow(ctx, "balances"); err == nil || !strings.Contains(err.Error(), "no shadow") {
		t.Errorf("promote without shadow: %v", err)
	}
}
