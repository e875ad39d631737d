package economy

import (
	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// executionLedger ties an execution's start and end in its runner's
// account to the allocation it comes from and the leases its book holds.
// Entries live only while something is pending.
type executionLedger struct {
	// paid are allocations paid (hold_posted) whose execution has not
	// started and whose lease is still held: execution id -> what the
	// start must say. A start consumes its entry, so a second start of the
	// same execution finds none.
	paid map[string]paidExecution
	// endedLeased are executions that ended while their book still holds
	// their leases: execution id -> pool. The clearing manager owes their
	// release.
	endedLeased map[string]string
}

type paidExecution struct {
	pool, bid, payer, runner string
	resources                map[string]events.Units
}

func newExecutionLedger() executionLedger {
	return executionLedger{paid: map[string]paidExecution{}, endedLeased: map[string]string{}}
}

// released forgets what an execution's release ends: a start it can no
// longer make, a release it no longer owes.
func (l *executionLedger) released(executionID string) {
	delete(l.paid, executionID)
	delete(l.endedLeased, executionID)
}

// checkExecution checks an execution's start or end in its runner's
// account (a, before the event): a dead agent never starts one; a start is
// of a paid allocation whose lease is held, for its runner, payer, bid,
// pool and units, and happens once; an end is of a running execution, once.
func (e *Economy) checkExecution(a agent.Account, ev events.Event, v violationFunc) error {
	switch ev := ev.(type) {
	case events.ExecutionStarted:
		if a.Status != agent.StatusAlive {
			return v("a dead agent never executes", "execution %s starts for agent %s, which is %q", ev.ExecutionID, a.ID, a.Status)
		}
		p, ok := e.execs.paid[ev.ExecutionID]
		switch {
		case !ok:
			return v("an execution starts once, paid, while leased",
				"execution %s of %s: no paid allocation awaits it (never allocated, its payment refused or not yet made, its lease released, or started already)",
				ev.ExecutionID, a.ID)
		case p.runner != a.ID:
			return v("an execution runs its allocation's runner", "execution %s runs %s, its allocation runs %s", ev.ExecutionID, a.ID, p.runner)
		case p.bid != ev.BidID || p.payer != ev.PayerID || p.pool != ev.Pool || !sameUnits(p.resources, ev.Resources):
			return v("an execution starts as allocated", "execution %s starts as bid %s paid by %s in pool %s; it is bid %s paid by %s in pool %s, or its units differ",
				ev.ExecutionID, ev.BidID, ev.PayerID, ev.Pool, p.bid, p.payer, p.pool)
		}
	case events.ExecutionResumed:
		// A run again after a stop or a crash: of an execution still
		// running in its account, whose lease its book still holds, one
		// attempt after the last, and paid for by its start (nothing is
		// paid again).
		x, running := a.Executions[ev.ExecutionID]
		switch {
		case a.Status != agent.StatusAlive:
			return v("a dead agent never executes", "execution %s resumes for agent %s, which is %q", ev.ExecutionID, a.ID, a.Status)
		case !running:
			return v("an execution resumes only while running", "execution %s of %s is not running (never started, or ended already)", ev.ExecutionID, a.ID)
		case x.Pool != ev.Pool:
			return v("an execution resumes as started", "execution %s started in pool %s, resumes in pool %s", ev.ExecutionID, x.Pool, ev.Pool)
		case ev.Attempt != x.Attempts()+1:
			return v("an execution's attempts count up by one", "execution %s resumes as attempt %d after attempt %d", ev.ExecutionID, ev.Attempt, x.Attempts())
		}
		if _, leased := e.Books[ev.Pool].Executions[ev.ExecutionID]; !leased {
			return v("an execution runs only while leased", "execution %s resumes after its lease in pool %s was released", ev.ExecutionID, ev.Pool)
		}
	case events.ExecutionEnded:
		x, running := a.Executions[ev.ExecutionID]
		switch {
		case !running:
			return v("an execution ends at most once", "execution %s of %s is not running (never started, or ended already)", ev.ExecutionID, a.ID)
		case x.Pool != ev.Pool:
			return v("an execution ends as started", "execution %s started in pool %s, ends in pool %s", ev.ExecutionID, x.Pool, ev.Pool)
		case ev.TokensUsed < 0 || ev.TokensUsed > x.TokensAllowed():
			return v("an execution uses at most the tokens it won", "execution %s of %s used %d tokens, of %d allocated",
				ev.ExecutionID, a.ID, ev.TokensUsed, x.TokensAllowed())
		}
	}
	return nil
}

// trackExecution records what a start or an end begins or settles.
func (e *Economy) trackExecution(ev events.Event) {
	switch ev := ev.(type) {
	case events.ExecutionStarted:
		delete(e.execs.paid, ev.ExecutionID)
	case events.ExecutionEnded:
		if _, leased := e.Books[ev.Pool].Executions[ev.ExecutionID]; leased {
			e.execs.endedLeased[ev.ExecutionID] = ev.Pool
		}
	}
}
