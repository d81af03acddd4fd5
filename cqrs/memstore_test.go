package cqrs_test

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"

	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/cqrstest"
)

func TestMemoryStoreContract(t *testing.T) {
	store, err := cqrs.NewMemoryStore(func() map[string]int { return map[string]int{} }, maps.Clone[map[string]int])
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	cqrstest.StoreContract(t, cqrstest.StoreHarness[*map[string]int]{
		Store:         store,
		NewProjection: func(*testing.T) string { return fmt.Sprintf("p%d", n.Add(1)) },
		Add:           func(_ context.Context, m *map[string]int, key string) error { (*m)[key]++; return nil },
		Count: func(_ context.Context, projection, key string) (c int, _ error) {
			store.View(projection, func(m map[string]int, _ string) { c = m[key] })
			return c, nil
		},
	})
}
