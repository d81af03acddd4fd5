package driver

import (
	"errors"
	"testing"

	"github.com/courier-go/courier"
)

// member records its Close and forgets itself, as producers and consumers do.
type member struct {
	o      *Owned
	closed int
	err    error
}

func (m *member) Close() error {
	m.closed++
	m.o.Remove(m)
	return m.err
}

func TestOwnedClosesMembersOnce(t *testing.T) {
	var o Owned
	boom := errors.New("boom")
	a, b, gone := &member{o: &o}, &member{o: &o, err: boom}, &member{o: &o}
	for _, m := range []*member{a, b, gone} {
		if err := o.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	_ = gone.Close() // closed by its user: the broker must not close it again
	first, err := o.Close()
	if !first || !errors.Is(err, boom) {
		t.Fatalf("Close = %v, %v; want true and the member's error", first, err)
	}
	if a.closed != 1 || b.closed != 1 || gone.closed != 1 {
		t.Fatalf("closed a=%d b=%d gone=%d, want each once", a.closed, b.closed, gone.closed)
	}
	if first, err := o.Close(); first || err != nil {
		t.Fatalf("second Close = %v, %v", first, err)
	}
	if !o.Closed() {
		t.Fatal("Closed() = false after Close")
	}
	late := &member{o: &o}
	if err := o.Add(late); !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("Add after Close = %v, want ErrClosed", err)
	}
}
