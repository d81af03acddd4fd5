package pulsartest

import "slices"

// ConsumerPermits returns the permits each consumer of a subscription has
// left, so tests can check flow-control arithmetic.
func (s *Server) ConsumerPermits(topic, sub string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[topic]
	if t == nil || t.subs[sub] == nil {
		return nil
	}
	var out []int64
	for _, c := range t.subs[sub].consumers {
		out = append(out, c.permits)
	}
	return slices.Clip(out)
}
