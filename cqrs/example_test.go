package cqrs_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/courier-go/courier/cqrs"
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
