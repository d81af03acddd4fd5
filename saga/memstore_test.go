package saga_test

import (
	"testing"

	"github.com/courier-go/courier/saga"
	"github.com/courier-go/courier/saga/sagatest"
)

func TestMemoryStore(t *testing.T) {
	sagatest.Run(t, func(*testing.T) saga.Store { return saga.NewMemoryStore() })
}
