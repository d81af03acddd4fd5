package brokertest

import (
	"context"

	"github.com/courier-go/courier"
)

// testOneGroupTwoTopics: a group's consumers on different topics each receive their own
// topic's messages and only those, as consumers of one Kafka group subscribed to different
// topics do. (On RabbitMQ a group used to be one queue bound to every topic any of its
// consumers named, so each consumer received a share of every topic.)
func testOneGroupTwoTopics(e *env) {
	t := e.t
	a, b := e.topic(), e.topic()
	group := e.group()
	colA, colB := newCollector(), newCollector()
	e.consume(context.Background(), e.consumer(e.config(group, 2, a)), colA)
	e.consume(context.Background(), e.consumer(e.config(group, 2, b)), colB)
	const n = 20
	p := e.producer()
	var msgs []courier.Message
	for i, id := range ids("a-", n) {
		msgs = append(msgs, courier.Message{ID: id, Topic: a, Value: []byte{byte(i)}})
	}
	for i, id := range ids("b-", n) {
		msgs = append(msgs, courier.Message{ID: id, Topic: b, Value: []byte{byte(i)}})
	}
	e.send(p, msgs...)
	colA.waitUnique(t, n, e.caps.Timeout)
	colB.waitUnique(t, n, e.caps.Timeout)
	for _, c := range []struct {
		topic string
		col   *collector
	}{{a, colA}, {b, colB}} {
		for _, m := range c.col.all() {
			if m.Topic != c.topic {
				t.Errorf("the group's consumer of %q got %s of %q", c.topic, m.ID, m.Topic)
			}
		}
	}
}
