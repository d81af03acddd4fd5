package urlparams_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/urlparams"
)

type config struct {
	Name    string
	On      bool
	N       int
	Timeout time.Duration
	Color   int
	Small   int16
}

var params = urlparams.Params[config]{
	"name":    urlparams.String(func(c *config) *string { return &c.Name }),
	"on":      urlparams.Bool(func(c *config) *bool { return &c.On }),
	"n":       urlparams.Int(func(c *config) *int { return &c.N }),
	"timeout": urlparams.Duration(func(c *config) *time.Duration { return &c.Timeout }),
	"small":   urlparams.Int(func(c *config) *int16 { return &c.Small }),
	"color":   urlparams.OneOf(func(c *config) *int { return &c.Color }, map[string]int{"red": 1, "blue": 2}),
}

func TestApply(t *testing.T) {
	var c config
	q, _ := url.ParseQuery("name=a&name=b&on=true&n=7&timeout=250ms&color=BLUE")
	if err := params.Apply("test", q, &c); err != nil {
		t.Fatal(err)
	}
	if want := (config{Name: "b", On: true, N: 7, Timeout: 250 * time.Millisecond, Color: 2}); c != want {
		t.Errorf("config %+v, want %+v (the last value of a repeated parameter wins)", c, want)
	}
	q, _ = url.ParseQuery("timeout=30")
	if err := params.Apply("test", q, &c); err != nil || c.Timeout != 30*time.Second {
		t.Errorf("timeout=30: %v, %v; want 30s", c.Timeout, err)
	}
	for query, want := range map[string]string{
		"nme=x":        `test: parse URL: courier: invalid config: unknown URL parameter "nme" (known: color, n, name, on, small, timeout)`,
		"color=green":  `test: parse URL: courier: invalid config: URL parameter color="green": want one of blue, red`,
		"small=40000":  `test: parse URL: courier: invalid config: URL parameter small="40000": not a whole number of 16 bits`,
		"on=maybe":     `test: parse URL: courier: invalid config: URL parameter on="maybe": not true or false`,
		"n=1.5":        `test: parse URL: courier: invalid config: URL parameter n="1.5": not a whole number`,
		"timeout=soon": `test: parse URL: courier: invalid config: URL parameter timeout="soon": not a duration`,
	} {
		q, _ := url.ParseQuery(query)
		err := params.Apply("test", q, &config{})
		if !errors.Is(err, courier.ErrInvalidConfig) || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want ErrInvalidConfig saying %s", query, err, want)
		}
	}
}

func Example() {
	var c config
	q, _ := url.ParseQuery("name=orders&timeout=5s")
	fmt.Println(params.Apply("example", q, &c), c.Name, c.Timeout)
	q, _ = url.ParseQuery("nmae=orders")
	fmt.Println(params.Apply("example", q, &c))
	// Output:
	// <nil> orders 5s
	// example: parse URL: courier: invalid config: unknown URL parameter "nmae" (known: color, n, name, on, small, timeout)
}

// TestTake: the known parameters are applied and removed; the others stay for the client
// library, and a bad value of a known one is still an error.
func TestTake(t *testing.T) {
	var c config
	q, _ := url.ParseQuery("name=x&pool_size=10&n=3")
	if err := params.Take("test", q, &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "x" || c.N != 3 || q.Encode() != "pool_size=10" {
		t.Errorf("took %+v, left %q; want name and n taken, pool_size left", c, q.Encode())
	}
	q, _ = url.ParseQuery("n=many&pool_size=10")
	if err := params.Take("test", q, &c); err == nil || !strings.Contains(err.Error(), "not a whole number") {
		t.Errorf("n=many: %v", err)
	}
}
