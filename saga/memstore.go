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
	byID map[string]Instance
	due  map[string]*dueHeap // per definition, an entry per active instance with a timer: when it may next be claimed
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]Instance{}, due: map[string]*dueHeap{}}
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
		return cloneInstance(old), fmt.Errorf("saga: create %q: %w", inst.ID, ErrExists)
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
	inst, ok := s.byID[id]
	if !ok {
		return Instance{}, fmt.Errorf("saga: get %q: %w", id, ErrNotFound)
	}
	return cloneInstance(inst), nil
}

// Save implements Store.
func (s *MemoryStore) Save(ctx context.Context, inst Instance) (Instance, error) {
	if err := precheck(ctx, inst); err != nil {
		return Instance{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[inst.ID]
	if !ok {
		return Instance{}, fmt.Errorf("saga: save %q: %w", inst.ID, ErrNotFound)
	}
	if old.Version != inst.Version {
		return Instance{}, fmt.Errorf("saga: save %q at version %d (stored %d): %w", inst.ID, inst.Version, old.Version, ErrConflict)
	}
	inst = normalize(inst)
	inst.Version++
	inst.CreatedAt = old.CreatedAt
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
			if h := s.due[d]; h != nil && h.Len() > 0 && !h.entries[0].at.After(now) && (first == nil || h.less(h.entries[0], first.entries[0])) {
				first = h
			}
		}
		if first == nil {
			break
		}
		next := s.byID[first.entries[0].id]
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
	for _, inst := range s.byID {
		if (q.State == "" || inst.State == q.State) && (q.Definition == "" || inst.Definition == q.Definition) && inst.ID > q.AfterID {
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

// put stores inst and indexes when it may next be claimed: at its timer, or when its lease
// ends if that is later. s.mu is held.
func (s *MemoryStore) put(inst Instance) {
	inst.Data = slices.Clone(inst.Data)
	s.byID[inst.ID] = inst
	h := s.due[inst.Definition]
	if h == nil {
		h = &dueHeap{index: map[string]int{}}
		s.due[inst.Definition] = h
	}
	if !inst.State.Active() || inst.WakeAt.IsZero() {
		h.remove(inst.ID)
		return
	}
	at := inst.WakeAt
	if inst.LeaseOwner != "" && inst.LeaseUntil.After(at) {
		at = inst.LeaseUntil
	}
	h.set(inst.ID, at)
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

type dueEntry struct {
	at time.Time
	id string
}

// dueHeap orders instances by when they may next be claimed; index finds an instance's entry.
type dueHeap struct {
	entries []dueEntry
	index   map[string]int
}

func (h *dueHeap) set(id string, at time.Time) {
	if i, ok := h.index[id]; ok {
		h.entries[i].at = at
		heap.Fix(h, i)
		return
	}
	heap.Push(h, dueEntry{at: at, id: id})
}

func (h *dueHeap) remove(id string) {
	if i, ok := h.index[id]; ok {
		heap.Remove(h, i)
	}
}

func (h *dueHeap) Len() int           { return len(h.entries) }
func (h *dueHeap) Less(i, j int) bool { return h.less(h.entries[i], h.entries[j]) }
func (*dueHeap) less(a, b dueEntry) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.id < b.id
}
func (h *dueHeap) Swap(i, j int) {
	h.entries[i], h.entries[j] = h.entries[j], h.entries[i]
	h.index[h.entries[i].id], h.index[h.entries[j].id] = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(dueEntry)
	h.index[e.id] = len(h.entries)
	h.entries = append(h.entries, e)
}
func (h *dueHeap) Pop() any {
	e := h.entries[len(h.entries)-1]
	h.entries = h.entries[:len(h.entries)-1]
	delete(h.index, e.id)
	return e
}
