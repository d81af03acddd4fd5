package aggregate_test

import (
	"context"
	"fmt"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/aggregate"
	"github.com/courier-go/courier/eventsource/memstore"
)

type CartItemAdded struct{ SKU string }

type Cart struct{ Items []string }

func Example() {
	ctx := context.Background()
	store := memstore.New(memstore.Config{})
	defer store.Close()
	reg, _ := eventsource.NewRegistry(eventsource.RegistryConfig{})
	_ = eventsource.Register[CartItemAdded](reg, "CartItemAdded")

	carts, err := aggregate.New(aggregate.Config[Cart]{
		Store: store, Registry: reg,
		Stream: func(id string) string { return "cart-" + id },
		Evolve: func(c Cart, e any) Cart {
			if e, ok := e.(CartItemAdded); ok {
				c.Items = append(c.Items, e.SKU)
			}
			return c
		},
		Snapshots: &aggregate.MemorySnapshots{}, SnapshotEvery: 2,
	})
	if err != nil {
		panic(err)
	}
	add := func(sku string) func(Cart) ([]any, error) {
		return func(c Cart) ([]any, error) {
			if len(c.Items) >= 3 {
				return nil, fmt.Errorf("cart is full")
			}
			return []any{CartItemAdded{SKU: sku}}, nil
		}
	}
	for _, sku := range []string{"apple", "pear", "fig", "kiwi"} {
		c, err := carts.Handle(ctx, "7", add(sku))
		fmt.Println(c.Version, c.State.Items, err)
	}
	c, _ := carts.Load(ctx, "7")
	fmt.Println("loaded from snapshot", c.SnapshotVersion, "then", c.Replayed, "event(s)")
	// Output:
	// 1 [apple] <nil>
	// 2 [apple pear] <nil>
	// 3 [apple pear fig] <nil>
	// 3 [apple pear fig] cart is full
	// loaded from snapshot 2 then 1 event(s)
}
