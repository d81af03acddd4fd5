// Package urlparams sets a broker's config from the query parameters of its URL: each known
// parameter through its setter, and an unknown one is an error that lists the known ones, so
// that a typo is never silently ignored.
package urlparams

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/courier-go/courier"
)

// Setter sets one parameter's value v on a config.
type Setter[C any] func(c *C, v string) error

// Params maps parameter names to their setters.
type Params[C any] map[string]Setter[C]

// Apply sets cfg from q, the parameters in the order of their names, each from its last
// value. Errors wrap courier.ErrInvalidConfig and name broker and the parameter.
func (p Params[C]) Apply(broker string, q url.Values, cfg *C) error {
	for _, k := range slices.Sorted(maps.Keys(q)) {
		set, ok := p[k]
		if !ok {
			return Unknown(broker, k, p.Names())
		}
		v := q[k][len(q[k])-1]
		if err := set(cfg, v); err != nil {
			return fmt.Errorf("%s: parse URL: %w: URL parameter %s=%q: %w", broker, courier.ErrInvalidConfig, k, v, err)
		}
	}
	return nil
}

// Names returns the names of the parameters p knows.
func (p Params[C]) Names() []string { return slices.Collect(maps.Keys(p)) }

// Unknown returns the error for an unknown parameter name: it wraps
// courier.ErrInvalidConfig and lists the known names, sorted.
func Unknown(broker, name string, known []string) error {
	known = slices.Sorted(slices.Values(known))
	return fmt.Errorf("%s: parse URL: %w: unknown URL parameter %q (known: %s)", broker, courier.ErrInvalidConfig, name, strings.Join(known, ", "))
}

// Take sets cfg from the parameters of q it knows, as Apply does, and removes them from q:
// for a broker whose client library parses the rest of the URL itself.
func (p Params[C]) Take(broker string, q url.Values, cfg *C) error {
	mine := url.Values{}
	for k, vs := range q {
		if _, ok := p[k]; ok {
			mine[k] = vs
			delete(q, k)
		}
	}
	return p.Apply(broker, mine, cfg)
}

// String sets a string field.
func String[C any](field func(*C) *string) Setter[C] {
	return func(c *C, v string) error { *field(c) = v; return nil }
}

// Bool sets a bool field from "true", "false", "1", "0"...
func Bool[C any](field func(*C) *bool) Setter[C] {
	return func(c *C, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not true or false")
		}
		*field(c) = b
		return nil
	}
}

// integer is the fields Int sets.
type integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64
}

// Int sets an integer field from a whole number that fits it.
func Int[C any, T integer](field func(*C) *T) Setter[C] {
	return func(c *C, v string) error {
		var zero T
		n, err := strconv.ParseInt(v, 10, int(unsafe.Sizeof(zero))*8)
		if err != nil {
			return fmt.Errorf("not a whole number of %d bits", unsafe.Sizeof(zero)*8)
		}
		*field(c) = T(n)
		return nil
	}
}

// Duration sets a duration field from a Go duration ("250ms", "10s") or a whole number of
// seconds.
func Duration[C any](field func(*C) *time.Duration) Setter[C] {
	return func(c *C, v string) error {
		if n, err := strconv.Atoi(v); err == nil {
			*field(c) = time.Duration(n) * time.Second
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a duration (10s) or a number of seconds")
		}
		*field(c) = d
		return nil
	}
}

// OneOf sets a field to the value named by v, in any case; names lists the choices.
func OneOf[C, T any](field func(*C) *T, names map[string]T) Setter[C] {
	return func(c *C, v string) error {
		t, ok := names[strings.ToLower(v)]
		if !ok {
			return fmt.Errorf("want one of %s", strings.Join(slices.Sorted(maps.Keys(names)), ", "))
		}
		*field(c) = t
		return nil
	}
}
