package cqrs_test

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/cqrstest"
)

type OpenAccount struct{ ID, Owner string }

type Balance struct{ ID string }

// Commands and queries in process: a typed handler per type, typed answers.
func Example() {
	ctx := context.Background()
	owners := map[string]string{}

	commands, _ := cqrs.NewCommandBus(cqrs.CommandBusConfig{})
	_ = cqrs.HandleCommand(commands, func(_ context.Context, c OpenAccount) error {
		if _, ok := owners[c.ID]; ok {
			return fmt.Errorf("account %s exists", c.ID)
		}
		owners[c.ID] = c.Owner
		return nil
	})
	var queries cqrs.QueryBus
	_ = cqrs.HandleQuery(&queries, func(_ context.Context, q Balance) (string, error) {
		return owners[q.ID], nil
	})

	fmt.Println(cqrs.SendCommand(ctx, commands, OpenAccount{ID: "a1", Owner: "ada"}))
	fmt.Println(cqrs.SendCommand(ctx, commands, OpenAccount{ID: "a1", Owner: "bob"}))
	owner, _ := cqrs.Ask[string](ctx, &queries, Balance{ID: "a1"})
	fmt.Println("owner:", owner)
	err := cqrs.SendCommand(ctx, commands, Balance{ID: "a1"})
	fmt.Println(errors.Is(err, cqrs.ErrNoHandler))
	// Output:
	// <nil>
	// account a1 exists
	// owner: ada
	// true
}

type ItemAdded struct {
	Cart  string
	Price int
}

// A projection of cart totals from an ordered source of events (here the in-memory
// cqrstest.Source; in a service, an event store's global order), kept in a MemoryStore.
func ExampleProjection() {
	ctx := context.Background()
	src := cqrstest.NewSource()
	src.Append("cart-1", "ItemAdded", ItemAdded{Cart: "cart-1", Price: 30})
	src.Append("cart-2", "ItemAdded", ItemAdded{Cart: "cart-2", Price: 5})
	src.Append("cart-1", "ItemAdded", ItemAdded{Cart: "cart-1", Price: 12})
	src.Append("cart-1", "CouponApplied", map[string]string{"code": "X"}) // no handler: skipped

	store, _ := cqrs.NewMemoryStore(func() map[string]int { return map[string]int{} }, maps.Clone[map[string]int])
	totals, _ := cqrs.NewProjection("cart-totals", src, store, cqrs.ProjectionConfig{})
	_ = cqrs.Project(totals, func(_ context.Context, m *map[string]int, e ItemAdded, _ cqrs.Event) error {
		(*m)[e.Cart] += e.Price
		return nil
	})
	n, err := totals.CatchUp(ctx)
	fmt.Println("applied", n, err)
	store.View("cart-totals", func(m map[string]int, pos string) { fmt.Println(m, "at", pos) })

	src.Append("cart-2", "ItemAdded", ItemAdded{Cart: "cart-2", Price: 1})
	st, _ := totals.Status(ctx)
	fmt.Printf("behind %d, handled %d, skipped %d\n", st.Behind, st.Handled, st.Skipped)
	_ = totals.Rebuild(ctx) // replays everything into a shadow model, then swaps it in
	_, _ = totals.CatchUp(ctx)
	store.View("cart-totals", func(m map[string]int, pos string) { fmt.Println(m, "at", pos) })
	// Output:
	// applied 4 <nil>
	// map[cart-1:42 cart-2:5] at 0000000000000004
	// behind 1, handled 3, skipped 1
	// map[cart-1:42 cart-2:6] at 0000000000000005
}
