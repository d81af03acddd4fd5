package saga

// MemorySnapshot returns every instance of s, for tests that keep a MemoryStore in a file.
func MemorySnapshot(s *MemoryStore) []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, cloneInstance(e.inst))
	}
	return out
}

// MemoryFrom returns a MemoryStore holding insts as they are (versions and leases included).
func MemoryFrom(insts []Instance) *MemoryStore {
	s := NewMemoryStore()
	for _, inst := range insts {
		s.put(inst)
	}
	return s
}
