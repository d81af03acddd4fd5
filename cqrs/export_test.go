package cqrs

// SetBeforeCommit makes the store call f after a batch was applied and before it is kept;
// an error from f is a crash between applying and committing.
func SetBeforeCommit[S any](m *MemoryStore[S], f func(projection string, model Model, to string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.beforeCommit = f
}
