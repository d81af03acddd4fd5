package stream_test

import (
	"testing"

	"github.com/courier-go/courier/stream"
	"github.com/courier-go/courier/stream/statetest"
)

func TestMemoryStore(t *testing.T) {
	stores := map[*testing.T]stream.Store{} // the stores of one subtest share their state
	statetest.Run(t, func(t *testing.T) stream.Store {
		if s, ok := stores[t]; ok {
			return s
		}
		s, err := stream.NewMemoryStore(statetest.MinRemember)
		if err != nil {
			t.Fatal(err)
		}
		stores[t] = s
		return s
	})
}
