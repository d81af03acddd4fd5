package kafka

import (
	"context"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier/driver"
)

// revokeGrace is how long a claim that cancelled its handlers' context waits for them to
// notice before it gives the partition up anyway (a handler that ignores its context
// cannot hold a rebalance forever; what it does afterwards is not committed).
const revokeGrace = time.Second

// groupHandler feeds the records of every claim of a session to the consumer's engine.
type groupHandler struct {
	c     *consumer
	eng   *driver.Engine
	bytes *budget // bytes of the records handed to eng and not yet settled
}

func (g *groupHandler) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup commits what the session's claims marked, before the partitions go to others.
func (g *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	sess.Commit()
	return nil
}

// claimBatch bounds how many records ConsumeClaim hands to the engine at once: sarama holds
// up to 256 per partition ready for it, and taking them under one engine lock rather than
// a lock per few is much of what keeps the adapter as fast as a raw sarama loop.
const claimBatch = 256

// queueSize is how many records a consumer holds fetched and not yet handled, for all its
// partitions (besides the 256 per partition in sarama's channels). With the engine's
// default, 64, claim goroutines parked and woke every few dozen records; a partition that
// is revoked gives what it has queued back at once (Delivery.Revoked), so a deep queue does
// not slow a rebalance down.
const queueSize = 1024

// ConsumeClaim hands the claim's records to the engine in offset order until the claim or
// the session ends, then waits for its in-flight records (bounded), and commits.
func (g *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	topic, partition := claim.Topic(), claim.Partition()
	tr := newTracker(func(next int64) { sess.MarkOffset(topic, partition, next, "") }, g.bytes)
	// Handlers of this partition get ctx: cancelling it ends their work when the partition
	// is revoked and they do not finish in time.
	ctx, cancel := context.WithCancel(g.eng.Context())
	defer cancel()
	sctx := sess.Context()
	batch := make([]driver.Delivery, 0, claimBatch)
	dec := newDecoder(topic, partition)
	for open := true; open; {
		select {
		case cm, ok := <-claim.Messages():
			if !ok {
				open = false
				break
			}
			// Take what else has arrived too, and hand it over under one engine lock: up to
			// claimBatch records, and a quarter of the byte budget.
			batch = batch[:0]
			var size int64
			for ok {
				batch = append(batch, driver.Delivery{Msg: dec.message(cm), Ctx: ctx, Revoked: &tr.revoked, Ref: tr})
				if size += recordBytes(&batch[len(batch)-1].Msg); len(batch) == claimBatch || size >= g.bytes.max/4 {
					break
				}
				select {
				case cm, ok = <-claim.Messages():
					open = ok
				default:
					ok = false
				}
			}
			if err := g.bytes.take(sctx, size); err != nil {
				clear(batch) // the session ended: the records were not handed over
				open = false
				break
			}
			tr.add(batch) // before the engine can settle any of them; gives the bytes back
			n, err := g.eng.SubmitAll(sctx, batch)
			if err != nil {
				tr.unadd(len(batch) - n)
				open = false
			}
			clear(batch)
		case <-sctx.Done():
			open = false
		}
	}
	tr.revoked.Store(true) // what is queued goes back; what runs gets the drain timeout
	g.drain(tr, cancel, topic, partition)
	tr.close()
	sess.Commit()
	return nil
}

// drain waits for the claim's handed-over records to be settled: DrainTimeout for running
// handlers to finish, then, with their context cancelled, revokeGrace for them to stop.
func (g *groupHandler) drain(tr *tracker, cancel context.CancelFunc, topic string, partition int32) {
	t := time.NewTimer(g.c.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-tr.idleCh():
		return
	case <-t.C:
	}
	g.c.log.Warn("kafka: partition revoked and its handlers did not finish within the drain timeout; cancelling them",
		"topic", topic, "partition", partition, "timeout", g.c.cfg.DrainTimeout)
	cancel()
	t.Reset(revokeGrace)
	select {
	case <-tr.idleCh():
	case <-t.C:
		g.c.log.Warn("kafka: handlers of a revoked partition ignore their context; giving the partition up without their results",
			"topic", topic, "partition", partition)
	}
}
