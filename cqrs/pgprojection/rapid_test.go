package pgprojection_test

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"

	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/cqrstest"
	"github.com/courier-go/courier/cqrs/pgprojection"
)

// TestRebuildEqualsLive: on generated histories, with catch-ups and rebuilds at random
// points, the PostgreSQL read model after a Rebuild is the one it replaced, and after the
// last catch-up it is the fold of all the events, each applied once.
func TestRebuildEqualsLive(t *testing.T) {
	base := newEnv(t) // the pool and checkpoint schema, shared by the iterations
	iteration := 0
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		iteration++
		e := env{pool: base.pool, store: base.store, view: fmt.Sprintf("%s_%d", base.view, iteration)}
		name := fmt.Sprintf("balances-%d", iteration)
		rt.Cleanup(func() {
			_, _ = e.pool.Exec(context.Background(), fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE; DROP SCHEMA IF EXISTS %s_shadow CASCADE", e.view, e.view))
		})
		if err := e.store.Define(ctx, name, pgprojection.ReadModel{Schema: e.view, Setup: setupBalances}); err != nil {
			rt.Fatal(err)
		}
		src := cqrstest.NewSource()
		p, err := cqrs.NewProjection(name, src, e.store, cqrs.ProjectionConfig{BatchSize: rapid.IntRange(1, 5).Draw(rt, "batch")})
		if err != nil {
			rt.Fatal(err)
		}
		if err := cqrs.Project(p, applyDeposit); err != nil {
			rt.Fatal(err)
		}
		for i := range rapid.IntRange(1, 10).Draw(rt, "steps") {
			switch rapid.IntRange(0, 4).Draw(rt, fmt.Sprintf("step%d", i)) {
			case 0, 1:
				src.Append(rapid.SampledFrom([]string{"a", "b", "c"}).Draw(rt, "stream"), "Deposited",
					Deposited{Amount: rapid.IntRange(1, 50).Draw(rt, "amount")})
			case 2:
				if _, err := p.CatchUp(ctx); err != nil {
					rt.Fatal(err)
				}
			case 3:
				if _, err := p.CatchUp(ctx); err != nil {
					rt.Fatal(err)
				}
				before, _ := e.read(ctx)
				if err := p.Rebuild(ctx); err != nil {
					rt.Fatal(err)
				}
				after, twice := e.read(ctx)
				if !maps.Equal(before, after) || len(twice) > 0 {
					rt.Fatalf("rebuilt %v (applied twice: %v), live was %v", after, twice, before)
				}
			case 4:
				if err := p.Rebuild(ctx); err != nil {
					rt.Fatal(err)
				}
			}
		}
		if _, err := p.CatchUp(ctx); err != nil {
			rt.Fatal(err)
		}
		got, twice := e.read(ctx)
		if !maps.Equal(got, want(src)) || len(twice) > 0 {
			rt.Fatalf("balances %v (want %v), applied twice %v", got, want(src), twice)
		}
	})
}

func setupBalances(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TABLE balances (stream text PRIMARY KEY, amount bigint NOT NULL);
		CREATE TABLE applied (event_id text PRIMARY KEY, times int NOT NULL)`)
	return err
}
