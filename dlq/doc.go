// Package dlq retries failed messages, routes the ones that keep failing to a dead-letter
// topic, and replays dead letters back to their topic. It works with every adapter: it only
// sees courier's interfaces.
//
// # Retry
//
// [Retry] is a middleware that calls the handler again after an exponential backoff with
// jitter (courier.Backoff, whose Max is the longest delay) until it succeeds, the error is
// permanent ([Permanent]), or RetryConfig.MaxAttempts attempts have been made. Attempts are
// counted from the message's Attempt, so they add up across redeliveries: a message that comes
// back with Attempt 3 has already used three. In-process retries raise Msg.Attempt for the
// handler too, but the broker does not know about them: if the process stops in the middle
// of its retries, the broker's next delivery restarts from its own (lower) count, so a message
// can get more than MaxAttempts attempts in all, never fewer. Keep Backoff.Max well under any
// redelivery or visibility timeout of the broker, since the handler holds the message while
// it waits.
//
// When Retry gives up it returns a [*RetryError] (the message is not acknowledged). Alone,
// that brings the message back again and again; put [DeadLetter] outside Retry to end that:
//
//	h = courier.Chain(h, deadLetter, retry) // deadLetter(retry(h))
//
// # Dead letters
//
// [DeadLetter] publishes a message that Retry gave up on (or whose error is permanent, or,
// with DeadLetterConfig.MaxAttempts, that reached that many attempts) to a dead-letter topic,
// by default "<topic>.<group>.dlq" ([DefaultTopic]), and only then acknowledges it. If the
// publish fails, the original is not acknowledged: it comes back, and is dead-lettered on a
// later attempt. The dead letter keeps the original's ID, Key, Value, Timestamp and headers,
// and adds the headers named by the Header constants: original topic and key, group, error
// text (at most MaxErrorBytes), reason, attempt count and first and last failure times.
//
// First-failure time: a broker cannot have a header written back onto its copy of a message,
// and the package keeps no state, so the time of a failure in an earlier delivery (say, in a
// process that crashed) is not known. [HeaderFirstFailure] is the first failure this process
// saw, and [HeaderFirstFailureAttempt] the attempt it was: when that is 1 the time is the true
// first failure; when it is higher, earlier failures happened before it, at unknown times.
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
