package saga

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a Store in process memory: for tests, examples and sagas that may be lost
// with the process. The zero value is not usable; call NewMemoryStore.
type MemoryStore struct {
	mu   sync.Mutex
	byID map[string]*memEntry
	due  map[string]*dueHeap // per definition: the active instances with a timer, by when they may next be claimed
}

// memEntry is a stored instance and its place in its definition's due heap.
type memEntry struct {
	inst    Instance
	due     time.Time // when it may next be claimed: its timer, or its lease's end if later
	heapIdx int       // index in the due heap; -1 when not in it
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]*memEntry{}, due: map[string]*dueHeap{}}
}

func cloneInstance(inst Instance) Instance {
	inst.Data = slices.Clone(inst.Data)
	return inst
}

// Create implements Store.
func (s *MemoryStore) Create(ctx context.Context, inst Instance) (Instance, error) {
	if err := precheck(ctx, inst); err != nil {
		return Instance{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byID[inst.ID]; ok {
		return cloneInstance(old.inst), fmt.Errorf("saga: create %q: %w", inst.ID, ErrExists)
	}
	inst = normalize(inst)
	inst.Version = 1
	s.put(inst)
	return cloneInstance(inst), nil
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, id string) (Instance, error) {
	if err := ctx.Err(); err != nil {
		return Instance{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return Instance{}, fmt.Errorf("saga: get %q: %w", id, ErrNotFound)
	}
	return cloneInstance(e.inst), nil
}

// Save implements Store.
func (s *MemoryStore) Save(ctx context.Context, inst Instance) (Instance, error) {
	if err := precheck(ctx, inst); err != nil {
		return Instance{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[inst.ID]
	if !ok {
		return Instance{}, fmt.Errorf("saga: save %q: %w", inst.ID, ErrNotFound)
	}
	if e.inst.Definition != inst.Definition {
		return Instance{}, fmt.Errorf("saga: save %q: its definition is %q, not %q; a saga never changes its definition", inst.ID, e.inst.Definition, inst.Definition)
	}
	if e.inst.Version != inst.Version {
		return Instance{}, fmt.Errorf("saga: save %q at version %d (stored %d): %w", inst.ID, inst.Version, e.inst.Version, ErrConflict)
	}
	inst = normalize(inst)
	inst.Version++
	inst.CreatedAt = e.inst.CreatedAt
	s.put(inst)
	return cloneInstance(inst), nil
}

// Claim implements Store.
func (s *MemoryStore) Claim(ctx context.Context, c ClaimRequest) ([]Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	now := truncate(c.Now)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Instance
	for len(out) < c.Limit {
		var first *dueHeap // the definition whose next instance is due first
		for _, d := range c.Definitions {
			if h := s.due[d]; h != nil && len(*h) > 0 && !(*h)[0].due.After(now) && (first == nil || less((*h)[0], (*first)[0])) {
				first = h
			}
		}
		if first == nil {
			break
		}
		next := (*first)[0].inst
		next.Version++
		next.LeaseOwner, next.LeaseUntil = c.Owner, now.Add(c.Lease)
		s.put(next)
		out = append(out, cloneInstance(next))
	}
	return out, nil
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, q Query) ([]Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []Instance
	for _, e := range s.byID {
		if inst := e.inst; (q.State == "" || inst.State == q.State) && (q.Definition == "" || inst.Definition == q.Definition) && inst.ID > q.AfterID {
			out = append(out, cloneInstance(inst))
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].ID, out[j].ID) < 0 })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// put stores inst and keeps its definition's due heap in step. s.mu is held.
func (s *MemoryStore) put(inst Instance) {
	inst.Data = slices.Clone(inst.Data)
	e := s.byID[inst.ID]
	if e == nil {
		e = &memEntry{heapIdx: -1}
		s.byID[inst.ID] = e
	}
	e.inst = inst
	h := s.due[inst.Definition]
	if h == nil {
		h = &dueHeap{}
		s.due[inst.Definition] = h
	}
	switch {
	case !inst.State.Active() || inst.WakeAt.IsZero():
		if e.heapIdx >= 0 {
			heap.Remove(h, e.heapIdx)
		}
		return
	case inst.LeaseOwner != "" && inst.LeaseUntil.After(inst.WakeAt):
		e.due = inst.LeaseUntil
	default:
		e.due = inst.WakeAt
	}
	if e.heapIdx >= 0 {
		heap.Fix(h, e.heapIdx)
	} else {
		heap.Push(h, e)
	}
}

// precheck refuses a write with an ended context or a malformed instance.
func precheck(ctx context.Context, inst Instance) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return CheckInstance(inst)
}

func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Round(0).Truncate(time.Microsecond)
}

// normalize rounds inst's times to what every store keeps.
func normalize(inst Instance) Instance {
	inst.WakeAt, inst.LeaseUntil = truncate(inst.WakeAt), truncate(inst.LeaseUntil)
	inst.CreatedAt, inst.UpdatedAt = truncate(inst.CreatedAt), truncate(inst.UpdatedAt)
	return inst
}

// dueHeap orders the entries of one definition by when they may next be claimed.
type dueHeap []*memEntry

func less(a, b *memEntry) bool {
	if !a.due.Equal(b.due) {
		return a.due.Before(b.due)
	}
	return a.inst.ID < b.inst.ID
}

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return less(h[i], h[j]) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*memEntry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIdx = -1
	return e
}
