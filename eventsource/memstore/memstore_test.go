package memstore_test

import (
	"testing"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/estest"
	"github.com/courier-go/courier/eventsource/memstore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAcceptance(t *testing.T) {
	estest.Run(t, estest.Backend{
		New: func(testing.TB) eventsource.Store { return memstore.New(memstore.Config{}) },
	})
}
