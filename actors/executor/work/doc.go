// Package work runs executions on other machines: the economy's executor
// hands each program to Runner, which publishes it as an execution order
// on a JetStream work queue and waits for its result; Worker, in `agora
// worker` on any machine, takes the orders, fetches each agent's
// workspace from a JetStream object store, runs the program in its own
// sandbox with the envelope the order carries, serves the System Service
// to it by relaying its calls to the economy over NATS (the composition
// root gives it api/relay's Handler; the economy checks the tokens as it
// does for its own executions), writes the workspace back, and answers with the result.
//
// One agent never runs twice at once. The queue's stream keeps at most one
// order per agent (its subject, work.exec.<agent id>, with
// discard-new-per-subject), and an order stays in it until the worker that
// ran it acknowledges it, after the program is over and its workspace
// written back. A Runner whose order is refused because an older one of
// the same agent is still there (an economy that restarted while a worker
// ran it, say) asks that order's worker to stop (work.cancel.<agent id>)
// and publishes only once it is gone.
//
// A worker that dies or is cut off: it heartbeats its order (in progress)
// every AckWait/4 and confirms each heartbeat with a round trip to its
// server; a worker that has confirmed none for AckWait/2 kills its program
// and gives the order up without writing anything back, so that by the
// time the server delivers the order again (AckWait after the last
// heartbeat it got) no copy of the program runs. A worker process killed
// outright takes its program with it (the sandbox dies with its parent).
// An order delivered a second time is therefore one whose program was lost:
// the worker that gets it runs nothing and answers "lost", and the Runner
// returns executor.ErrRunnerLost, on which the executor runs the
// execution again as its next attempt (its lease renewed, a new token, the
// workspace as the last completed execution left it), up to
// executor.AttemptsMax, then ends it as interrupted (SPEC.md 1.4).
//
// A worker frozen (not dead, not cut off) for longer than AckWait/2
// cannot kill its program in time, and may write back and answer late.
// It never changes the agent's workspace: a worker writes its attempt's
// own version of it (VersionName), and only the Runner, on accepting the
// result of the attempt it waits for, makes that version the agent's
// (archive.go); a late one is ignored and its version deleted.
// docs/decisions.md says what is still not covered.
package work
