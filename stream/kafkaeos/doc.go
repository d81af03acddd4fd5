// Package kafkaeos runs courier handlers, such as stream pipelines, from Kafka to Kafka
// exactly once, with Kafka transactions (on github.com/IBM/sarama).
//
// A [Processor] consumes its topics in a consumer group. For each partition it owns, it takes
// the records that are there (up to Config.MaxBatch), opens a transaction on a transactional
// producer of that partition, hands each record to the handler, sends whatever the handler
// sends through [Processor.Producer] inside the transaction, adds the consumed offsets to it,
// and commits. Outputs and the consumed position become visible together or not at all, so a
// reader with isolation level read_committed sees every output exactly once, whatever crashed
// when: a transaction left open by a process that died is aborted when the partition's next
// owner starts (its producer takes the same transactional ID), and the records are processed
// again from the last committed offset.
//
// A handler error aborts the transaction; the batch is processed again, after
// Config.Backoff, with Attempt one higher. A fenced producer (another process took the
// partition) ends the partition's processing; the group's rebalance hands it to the new owner.
//
// The transactional ID of a partition's producer is Config.TransactionalID followed by the
// topic and partition ("orders-eos-payments-3"), so every owner of a partition fences the
// previous one (Kafka's first exactly-once scheme, which needs no group generation checks).
// Inputs are read with read_committed too, so the outputs of an upstream transactional
// pipeline are taken only once committed.
//
// Use the Producer only inside the handler given to Run: its Send adds to the transaction of
// the record being handled, found through the context, and fails with ErrNoTransaction
// elsewhere. Send returns once the record is handed to the transaction; the transaction's
// commit is what makes it durable, and a failed send fails the commit, so the batch is
// processed again.
package kafkaeos
