package driver

import (
	"errors"
	"io"
	"sync"

	"github.com/courier-go/courier"
)

// Owned is what a broker has made and must close with itself: its producers and consumers.
// Its zero value is an open, empty set. Safe for concurrent use.
type Owned struct {
	mu      sync.Mutex
	closed  bool
	members map[io.Closer]struct{}
}

// Closed reports whether Close has begun.
func (o *Owned) Closed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

// Add records m. Once Close has begun it records nothing and returns courier.ErrClosed: the
// caller then closes m itself.
func (o *Owned) Add(m io.Closer) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return courier.ErrClosed
	}
	if o.members == nil {
		o.members = make(map[io.Closer]struct{})
	}
	o.members[m] = struct{}{}
	return nil
}

// Remove forgets m; members call it from their own Close.
func (o *Owned) Remove(m io.Closer) {
	o.mu.Lock()
	delete(o.members, m)
	o.mu.Unlock()
}

// Close marks the set closed and closes every member, outside the lock (their Close calls
// Remove) and all at once, so that consumers drain side by side rather than one after the
// other. It returns when every member is closed, reporting whether this call did it (false if
// Close had begun before) and the members' errors joined.
func (o *Owned) Close() (first bool, err error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false, nil
	}
	o.closed = true
	members := o.members
	o.members = nil
	o.mu.Unlock()
	errs := make(chan error, len(members))
	var wg sync.WaitGroup
	for m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- m.Close()
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return true, errors.Join(all...)
}
