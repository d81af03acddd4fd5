package pgprojection_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/courier-go/courier/cqrs/cqrstest"
	"github.com/courier-go/courier/cqrs/pgprojection"
)

func TestStoreContract(t *testing.T) {
	e := newEnv(t)
	n := 0
	schemaOf := map[string]string{}
	cqrstest.StoreContract(t, cqrstest.StoreHarness[pgx.Tx]{
		Store: e.store,
		NewProjection: func(t *testing.T) string {
			n++
			name, schema := fmt.Sprintf("contract-%d", n), fmt.Sprintf("%s_c%d", e.view, n)
			t.Cleanup(func() {
				_, _ = e.pool.Exec(context.Background(), fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE; DROP SCHEMA IF EXISTS %s_shadow CASCADE", schema, schema))
			})
			err := e.store.Define(context.Background(), name, pgprojection.ReadModel{Schema: schema, Setup: func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `CREATE TABLE counters (key text PRIMARY KEY, n int NOT NULL)`)
				return err
			}})
			if err != nil {
				t.Fatal(err)
			}
			schemaOf[name] = schema
			return name
		},
		Add: func(ctx context.Context, tx pgx.Tx, key string) error {
			_, err := tx.Exec(ctx, `INSERT INTO counters VALUES ($1, 1) ON CONFLICT (key) DO UPDATE SET n = counters.n + 1`, key)
			return err
		},
		Count: func(ctx context.Context, projection, key string) (int, error) {
			var c int
			err := e.pool.QueryRow(ctx, `SELECT n FROM `+schemaOf[projection]+`.counters WHERE key = $1`, key).Scan(&c)
			if errors.Is(err, pgx.ErrNoRows) {
				return 0, nil
			}
			return c, err
		},
	})
}
