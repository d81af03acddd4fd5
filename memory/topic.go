package memory

import (
	"cmp"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// topic is a retained log of messages with a position per group.
type topic struct {
	name      string
	retention int
	logger    *slog.Logger

	mu       sync.Mutex
	log      segmentedLog
	groups   map[string]*group
	watchers map[*consumer]struct{} // woken when there is something new to fetch
}

// group is one group's state on one topic.
type group struct {
	name      string
	next      int64             // next offset never handed out
	redeliver []courier.Message // handed back unfinished, by offset; served before next
	owners    map[string]owner  // keys with unacknowledged messages, and who holds them
	blocked   bool              // a fetch stopped at a key another consumer holds
	dropped   int64
}

// owner is the consumer holding unacknowledged messages of a key, and how many.
type owner struct {
	c *consumer
	n int
}

func newTopic(name string, retention int, log *slog.Logger) *topic {
	return &topic{name: name, retention: retention, logger: log.With("topic", name),
		groups: make(map[string]*group), watchers: make(map[*consumer]struct{})}
}

// sub is one consumer's subscription to one topic.
type sub struct {
	t *topic
	g *group
	c *consumer
}

// join subscribes c to the group, creating the group at start if it is new.
func (t *topic) join(name string, start courier.StartPosition, c *consumer) *sub {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[name]
	if g == nil {
		g = &group{name: name, next: t.log.first, owners: make(map[string]owner)}
		if start == courier.StartNewest {
			g.next = t.log.end()
		}
		t.groups[name] = g
	}
	t.watchers[c] = struct{}{}
	return &sub{t: t, g: g, c: c}
}

func (s *sub) leave() {
	s.t.mu.Lock()
	delete(s.t.watchers, s.c)
	s.t.mu.Unlock()
}

// append adds msg to the log and wakes the consumers.
func (t *topic) append(msg courier.Message) {
	t.mu.Lock()
	t.log.append(msg)
	if t.retention > 0 && t.log.len() > t.retention {
		t.trim(t.log.len() - t.retention)
	}
	t.wakeAll()
	t.mu.Unlock()
}

// trim drops the n oldest messages; groups that had not read them lose them, loudly.
func (t *topic) trim(n int) {
	t.log.trim(n)
	for _, g := range t.groups {
		if g.next < t.log.first {
			lost := t.log.first - g.next
			g.dropped += lost
			g.next = t.log.first
			t.logger.Warn("memory: retention dropped messages the group had not read",
				"group", g.name, "lost", lost, "max_messages_per_topic", t.retention)
		}
	}
}

// wakeAll wakes every consumer of the topic; t.mu is held.
func (t *topic) wakeAll() {
	for c := range t.watchers {
		c.wake()
	}
}

// fetch appends to buf up to limit deliveries for s's consumer: first the messages handed
// back, then new ones, stopping at a message whose key another consumer of the group holds.
func (s *sub) fetch(buf []driver.Delivery, limit int) []driver.Delivery {
	t, g := s.t, s.g
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(g.redeliver) > 0 && len(buf) < limit {
		m := g.redeliver[0]
		if !s.take(m.Key) {
			return buf
		}
		g.redeliver = slices.Delete(g.redeliver, 0, 1)
		m.Attempt++
		buf = append(buf, driver.Delivery{Msg: deliverable(m), Ref: s})
	}
	for g.next < t.log.end() && len(buf) < limit {
		m := *t.log.at(g.next)
		if !s.take(m.Key) {
			return buf
		}
		g.next++
		m.Attempt = 1
		buf = append(buf, driver.Delivery{Msg: deliverable(m), Ref: s})
	}
	return buf
}

// take records that s's consumer holds a message of key; false if another one does.
func (s *sub) take(key string) bool {
	if key == "" {
		return true
	}
	o := s.g.owners[key]
	if o.c != nil && o.c != s.c {
		s.g.blocked = true
		return false
	}
	s.g.owners[key] = owner{c: s.c, n: o.n + 1}
	return true
}

// done records that one message of key is no longer held; t.mu is held.
func (s *sub) done(key string) {
	if key == "" {
		return
	}
	o := s.g.owners[key]
	if o.n <= 1 {
		delete(s.g.owners, key)
		if s.g.blocked {
			s.g.blocked = false
			s.t.wakeAll() // a consumer waits for this key
		}
		return
	}
	o.n--
	s.g.owners[key] = o
}

// ack settles a handled message.
func (s *sub) ack(m courier.Message) {
	if m.Key == "" {
		return // nothing is held for messages without a key
	}
	s.t.mu.Lock()
	s.done(m.Key)
	s.t.mu.Unlock()
}

// release hands m back to the group, in offset order, for its next delivery.
func (s *sub) release(m courier.Message) {
	t, g := s.t, s.g
	t.mu.Lock()
	defer t.mu.Unlock()
	i, _ := slices.BinarySearchFunc(g.redeliver, m.Offset, func(x courier.Message, off int64) int {
		return cmp.Compare(x.Offset, off)
	})
	g.redeliver = slices.Insert(g.redeliver, i, m)
	s.done(m.Key)
	t.wakeAll()
}

// deliverable is m as a handler gets it: its own copy of the value and headers, so handlers
// of different groups cannot see each other's changes.
func deliverable(m courier.Message) courier.Message {
	m.Value = cloneValue(m.Value)
	m.Headers = maps.Clone(m.Headers)
	return m
}

func (t *topic) stats() TopicStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TopicStats{Messages: t.log.len(), Oldest: t.log.first, Next: t.log.end(), Groups: map[string]GroupStats{}}
	for name, g := range t.groups {
		st.Groups[name] = GroupStats{Next: g.next, Redeliver: len(g.redeliver), Dropped: g.dropped}
	}
	return st
}
