package cqrs

// SetBeforeCommit makes the store call f after a batch was applied and before it is kept;
// an error from f is a crash between applying and committing.
func SetBeforeCommit[S any](m *MemoryStore[S], f func(projection string, model Model, to string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.beforeCommit = f
}

// Commits returns a channel that receives (at most one pending value) after each Apply or
// PromoteShadow of m that committed.
func Commits[S any](m *MemoryStore[S]) <-chan struct{} {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.afterCommit = func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return ch
}
