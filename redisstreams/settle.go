package redisstreams

import (
	"context"

	"github.com/courier-go/courier/driver"
)

// Ack queues the entry's XACK; they go to Redis in batches (see acker).
func (r *run) Ack(_ context.Context, d driver.Delivery) error {
	r.acks.add(int(d.Tag), *d.Ref.(*string))
	return nil
}

// Retry re-claims the entry before it is handled again, which raises its delivery count in
// Redis; Attempt is that count. It fails when another consumer has taken the entry over or it
// was trimmed away, and the engine then leaves it.
func (r *run) Retry(ctx context.Context, d driver.Delivery) (driver.Delivery, error) {
	c := r.c
	s := c.streams[d.Tag]
	id := *d.Ref.(*string)
	for attempt := 1; ; attempt++ {
		n, err := retryScript.Run(ctx, c.b.client, []string{s.key}, c.cfg.Group, c.name, id).Int64()
		switch {
		case err == nil && n == -1:
			r.settled(int(d.Tag), id)
			return d, c.errorf("consume", s, "entry %s is no longer pending with consumer %s: another consumer took it over", id, c.name)
		case err == nil && n == -2:
			r.settled(int(d.Tag), id)
			return d, c.errorf("consume", s, "entry %s was deleted from the stream (trimmed) before it could be retried", id)
		case err == nil:
			d.Msg.Attempt = int(n)
			return d, nil
		case !transient(err) || !pause(ctx, nil, attempt):
			// Still pending with this consumer but no longer held: it goes idle and the
			// group takes it over after ClaimIdle.
			r.settled(int(d.Tag), id)
			return d, c.errorf("consume", s, "re-claim entry %s for retry: %w", id, err)
		}
	}
}

// Release records the entry as handed back; Consume tells Redis when it ends.
func (r *run) Release(d driver.Delivery) { r.release(int(d.Tag), *d.Ref.(*string)) }
