// Package dlq routes the messages a consumer gives up on to a dead-letter topic, and replays
// dead letters back to their topic. It works with every adapter: it only sees courier's
// interfaces.
//
// # Retries are the consumer's
//
// A consumer retries a failed message itself, in the message's place (later messages of its
// key wait), after courier.ConsumerConfig.Backoff, and Attempt counts the deliveries (the
// broker's own count where it has one). ConsumerConfig.MaxAttempts bounds them; a handler
// error marked with [Permanent] (courier.Permanent) ends them at once. Then the consumer calls
// ConsumerConfig.OnExhausted, and [DeadLetter] is such a hook:
//
//	deadLetter, err := dlq.DeadLetter(producer, dlq.DeadLetterConfig{Group: "billing"})
//	consumer, err := broker.NewConsumer(ctx, courier.ConsumerConfig{
//		Group: "billing", Topics: []string{"orders"},
//		MaxAttempts: 5, Backoff: courier.Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 0.2},
//		OnExhausted: deadLetter,
//	})
//
// (Earlier versions had a Retry middleware that looped and slept inside the handler, holding a
// concurrency slot and, on Kafka, the partition's commits; MaxAttempts replaces it.)
//
// # Dead letters
//
// [DeadLetter] publishes the message to a dead-letter topic, by default
// "<topic>.<group>.dlq" ([DefaultTopic]), and only once that succeeded does the consumer
// acknowledge it. If the publish fails, the hook fails: the consumer calls it again after its
// backoff, the message keeping its place, so nothing is lost; if the consumer closes first,
// the message is not acknowledged and comes back. The dead letter keeps the original's ID,
// Key, Value, Timestamp and headers, and adds the headers named by the Header constants:
// original topic and key, group, error text (at most MaxErrorBytes), reason, attempt count
// and first and last failure times.
//
// First-failure time: a broker cannot have a header written back onto its copy of a message,
// so the time of a failure in an earlier delivery (say, in a process that crashed) is not
// known. [HeaderFirstFailure] is the first failure the consumer saw, and
// [HeaderFirstFailureAttempt] the attempt it was: when that is 1 the time is the true first
// failure; when it is higher, earlier failures happened before it, at unknown times.
//
// # Replay
//
// [Replay] moves dead letters back to their original topic, with the dead-letter headers
// removed and [HeaderReplayCount] raised by one. See ReplayOptions for how it knows it is done.
// It is at-least-once: a dead letter is acknowledged only after its copy was sent, so an
// interrupted replay can send a message twice, never lose it. The command
// github.com/courier-go/courier/cmd/courier-dlq runs it from a shell.
//
// Header values may come from other systems and are only strings: [ParseInfo] reads them
// without ever panicking and says which are malformed.
package dlq
