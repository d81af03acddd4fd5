package testenv_test

import (
	"fmt"
	"os"

	"github.com/courier-go/courier/internal/testenv"
)

// CI sets COURIER_REQUIRE_BROKERS=1: from then on a test without its broker fails instead of
// skipping. In a test: url := testenv.Broker(t, testenv.RedisURL, startRedisContainer).
func ExampleRequired() {
	old, had := os.LookupEnv(testenv.RequireBrokers)
	os.Setenv(testenv.RequireBrokers, "1")
	fmt.Println(testenv.Required())
	os.Setenv(testenv.RequireBrokers, "0")
	fmt.Println(testenv.Required())
	if had {
		os.Setenv(testenv.RequireBrokers, old)
	} else {
		os.Unsetenv(testenv.RequireBrokers)
	}
	// Output:
	// true
	// false
}
