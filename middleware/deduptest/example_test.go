package deduptest_test

import (
	"testing"
	"testing/synctest"

	"github.com/courier-go/courier/middleware"
	"github.com/courier-go/courier/middleware/deduptest"
)

// A store's test runs the suite on fresh stores; a store that reads the time in the process
// passes synctest.Test so that leases run out on the bubble's clock.
func ExampleRun() {
	_ = func(t *testing.T) { // func TestMyStore(t *testing.T)
		deduptest.Run(t, func(t *testing.T) middleware.Store {
			s, err := middleware.NewMemoryStore(middleware.MemoryStoreConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, deduptest.Options{Bubble: synctest.Test})
	}
}
