// Package saga is a durable saga orchestrator: a saga is a sequence of steps, each with an
// action and a compensation; when a step fails for good, the steps that may have had an
// effect are undone, last first. The orchestrator keeps every saga in a Store, so sagas
// survive crashes and restarts and many processes share the work.
//
// # Durability
//
// Every transition is a compare-and-set save (Store.Save with the instance's Version). The
// saved Step is the compensation obligation: before a step's action runs, the saga is saved
// at that step, so a crash at any point leaves a record that says which steps to undo. A
// worker claims a due saga with a lease (owner and expiry) and holds it while it runs the
// saga's steps; a saga whose worker died is taken over when the lease ends. Timers (retry
// backoffs, reply deadlines) are the instance's WakeAt, kept in the store: no broker delay
// and no in-process timer is needed.
//
// A step can run more than once (a crash after its effect but before its transition was
// saved, a timeout whose action still went through). Each step has a stable idempotency key,
// IdempotencyKey(sagaID, step), the same for every attempt and across crashes: pass it to the
// services the step calls so that they apply the effect once. The same holds for
// compensations, which may also run for a step whose action never took effect.
//
// A compensation that keeps failing parks the saga (state Parked, listed with
// Query{State: Parked}) until Orchestrator.Resolve retries it or marks it compensated.
// Starting a saga with an ID that exists is idempotent; Orchestrator.Cancel stops a running
// saga and compensates it.
//
// Leases and timers compare the workers' clocks with the times in the store: keep the
// clocks of the machines that share a store synchronized (NTP); a clock ahead by d takes
// sagas over d early. An action's Timeout must be below the Lease, so that a healthy worker
// never loses a saga while it runs one of its steps.
//
// # Message-driven steps
//
// A step with a Command sends a message through the configured courier.Producer, with the
// idempotency key as Message.ID and correlation headers (HeaderSagaID, HeaderStep,
// HeaderReplyTo), and waits up to its Timeout for a reply on Config.ReplyTopic. The service
// answers with Reply; the orchestrator's ReplyHandler, run by any courier.Consumer of the
// reply topic, moves the saga on. A missing reply fails the attempt when its deadline passes.
// Compensations run locally; one that must reach another service sends its own message
// (keyed by Exec.Key, so the service can deduplicate it) and is done when the send is.
//
// # Stores
//
// MemoryStore keeps sagas in process memory. The modules saga/pgstore (PostgreSQL) and
// saga/redisstore (Redis) keep them durably. Every store passes sagatest.
package saga
