package agent_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// The executions of an account: started once (by the executor's trigger),
// ended once (only a running execution ends), never started by a dead
// agent, and the conditional deaths that wait for the last execution.

var bundle = map[string]events.Units{"cpu_seconds": events.WholeUnits(2), "memory_mb": events.WholeUnits(128)}

func start(id string, seq uint64) agent.StartExecution {
	return agent.StartExecution{ExecutionID: id, BidID: "b-" + id, PayerID: acctID, Pool: "main", Resources: bundle,
		Trigger: trig("executor", seq)}
}

func started(id string, seq uint64) events.ExecutionStarted {
	return events.ExecutionStarted{ExecutionID: id, BidID: "b-" + id, PayerID: acctID, Pool: "main", Resources: bundle,
		Trigger: trig("executor", seq)}
}

func end(id, cause string, code int) agent.EndExecution {
	return agent.EndExecution{ExecutionID: id, ExitCode: code, Cause: cause, CPUMillis: 120, MemoryPeakKB: 2048, WallMillis: 300}
}

func ended(id, cause string, code int) events.ExecutionEnded {
	return events.ExecutionEnded{ExecutionID: id, Pool: "main", ExitCode: code, Cause: cause, CPUMillis: 120, MemoryPeakKB: 2048, WallMillis: 300}
}

func (s *state) running(count int64, ids ...string) *state {
	s.Started = count
	if len(ids) > 0 {
		s.Executions = map[string]agent.Execution{}
	}
	for _, id := range ids {
		s.Executions[id] = agent.Execution{BidID: "b-" + id, PayerID: acctID, Pool: "main", Resources: bundle}
	}
	return s
}

func TestDecideStartExecution(t *testing.T) {
	sponsored := start("x1", 5)
	sponsored.PayerID = "sponsor"
	sponsoredEvent := started("x1", 5)
	sponsoredEvent.PayerID = "sponsor"
	sponsoredState := live(cr(1000), 0, cr(1000)).marks("executor", 5)
	sponsoredState.Started = 1
	sponsoredState.Executions = map[string]agent.Execution{"x1": {BidID: "b-x1", PayerID: "sponsor", Pool: "main", Resources: bundle}}
	many := given(created(cr(1)))
	for i := range agent.ExecutionsPerAgentMax {
		many = append(many, started(fmt.Sprintf("x%d", i), uint64(i+1)))
	}
	cases := []decideCase{
		{
			name:  "starts and moves the executor's mark",
			given: alive, when: start("x1", 5), then: started("x1", 5),
			state: live(cr(1000), 0, cr(1000)).marks("executor", 5).running(1, "x1"),
		},
		{
			name:  "a sponsor paid for it",
			given: alive, when: sponsored, then: sponsoredEvent, state: sponsoredState,
		},
		{
			name:  "a second execution runs beside the first",
			given: given(created(cr(1000)), started("x1", 5)), when: start("x2", 9), then: started("x2", 9),
			state: live(cr(1000), 0, cr(1000)).marks("executor", 9).running(2, "x1", "x2"),
		},
		{
			name:  "a redelivered start is a no-op while it runs",
			given: given(created(cr(1000)), started("x1", 5)), when: start("x1", 5),
		},
		{
			name:  "a redelivered start is a no-op after it ended: it never runs twice",
			given: given(created(cr(1000)), started("x1", 5), ended("x1", events.CauseExited, 0)), when: start("x1", 5),
		},
		{
			name:  "a start below the mark is a redelivery",
			given: given(created(cr(1000)), started("x2", 9)), when: start("x1", 5),
		},
		{
			name:  "the same execution under a later trigger is already running",
			given: given(created(cr(1000)), started("x1", 5)), when: start("x1", 6),
		},
		{name: "a dead agent never executes", given: dead, when: start("x1", 5), err: agent.ErrAgentDead},
		{
			name:  "an agent that died running an execution starts no other",
			given: given(created(cr(1)), started("x1", 5), events.AgentDied{BurnedMicros: cr(1)}), when: start("x2", 6),
			err: agent.ErrAgentDead,
		},
		{name: "never created", when: start("x1", 5), err: agent.ErrUnknownAgent},
		{name: "without a trigger", given: alive, when: agent.StartExecution{ExecutionID: "x1", BidID: "b-x1", PayerID: acctID, Pool: "main", Resources: bundle}, err: agent.ErrMissingTrigger},
		{name: "a trigger without its manager", given: alive, when: func() any { c := start("x1", 5); c.Trigger.Manager = ""; return c }(), err: agent.ErrMissingTrigger},
		{name: "no resources", given: alive, when: func() any { c := start("x1", 5); c.Resources = nil; return c }(), err: agent.ErrInvalidExecution},
		{
			name: "a resource of zero units", given: alive,
			when: func() any {
				c := start("x1", 5)
				c.Resources = map[string]events.Units{"cpu_seconds": 0, "memory_mb": 1}
				return c
			}(),
			err: agent.ErrInvalidExecution,
		},
		{
			name: "a resource name that is not an id", given: alive,
			when: func() any { c := start("x1", 5); c.Resources = map[string]events.Units{"CPU": 1}; return c }(),
			err:  agent.ErrInvalidExecution,
		},
		{name: "too many running", given: many, when: start("y", uint64(agent.ExecutionsPerAgentMax+1)), err: agent.ErrTooManyExecutions},
	}
	for name, id := range badIDs {
		for field, set := range map[string]func(*agent.StartExecution){
			"execution": func(c *agent.StartExecution) { c.ExecutionID = id },
			"bid":       func(c *agent.StartExecution) { c.BidID = id },
			"payer":     func(c *agent.StartExecution) { c.PayerID = id },
			"pool":      func(c *agent.StartExecution) { c.Pool = id },
		} {
			c := start("x1", 5)
			set(&c)
			cases = append(cases, decideCase{name: field + " id " + name, given: alive, when: c, err: events.ErrInvalidID})
		}
	}
	runDecideCases(t, cases)
}

// tokenBundle allocates 300.5 tokens besides cpu and memory.
var tokenBundle = map[string]events.Units{"cpu_seconds": events.WholeUnits(2), "memory_mb": events.WholeUnits(128),
	"tokens": events.WholeUnits(300) + events.MicroUnitsPerUnit/2}

func withTokens(c agent.EndExecution, n int64) agent.EndExecution { c.TokensUsed = n; return c }

func withTokensUsed(e events.ExecutionEnded, n int64) events.ExecutionEnded {
	e.TokensUsed = n
	return e
}

func TestDecideEndExecution(t *testing.T) {
	running := given(created(cr(1000)), started("x1", 5))
	withTokenBundle := started("x1", 5)
	withTokenBundle.Resources = tokenBundle
	tokenRun := given(created(cr(1000)), withTokenBundle)
	cases := []decideCase{
		{
			name:  "ends with what it used",
			given: running, when: end("x1", events.CauseExited, 3), then: ended("x1", events.CauseExited, 3),
			state: live(cr(1000), 0, cr(1000)).marks("executor", 5).running(1),
		},
		{
			name:  "one of two ends, the other runs on",
			given: given(created(cr(1000)), started("x1", 5), started("x2", 6)), when: end("x1", events.CauseDeadline, -1),
			then:  ended("x1", events.CauseDeadline, -1),
			state: live(cr(1000), 0, cr(1000)).marks("executor", 6).running(2, "x2"),
		},
		{
			name:  "an execution its agent's death interrupted still ends",
			given: given(created(cr(1)), started("x1", 5), events.AgentDied{BurnedMicros: cr(1)}),
			when:  end("x1", events.CauseKilled, -9), then: ended("x1", events.CauseKilled, -9),
			state: deadState().marks("executor", 5).running(1),
		},
		{
			name:  "ends once",
			given: given(created(cr(1000)), started("x1", 5), ended("x1", events.CauseExited, 0)), when: end("x1", events.CauseExited, 0),
			err: agent.ErrExecutionNotRunning,
		},
		{name: "never started", given: running, when: end("x2", events.CauseExited, 0), err: agent.ErrExecutionNotRunning},
		{name: "never created", when: end("x1", events.CauseExited, 0), err: agent.ErrUnknownAgent},
		{name: "an unknown cause", given: running, when: end("x1", "bored", 0), err: agent.ErrInvalidExecution},
		{name: "no cause", given: running, when: end("x1", "", 0), err: agent.ErrInvalidExecution},
		{
			name: "negative usage", given: running,
			when: func() any { c := end("x1", events.CauseExited, 0); c.WallMillis = -1; return c }(),
			err:  agent.ErrInvalidExecution,
		},
		{
			name:  "ends with the tokens it used, all of its allocation",
			given: tokenRun, when: withTokens(end("x1", events.CauseExited, 0), 300),
			then:  withTokensUsed(ended("x1", events.CauseExited, 0), 300),
			state: live(cr(1000), 0, cr(1000)).marks("executor", 5).running(1),
		},
		{
			// 300.5 tokens allocated: the half buys nothing (the
			// service meters whole tokens).
			name: "more tokens than allocated", given: tokenRun, when: withTokens(end("x1", events.CauseExited, 0), 301),
			err: agent.ErrInvalidExecution,
		},
		{
			name: "tokens without an allocation of tokens", given: running, when: withTokens(end("x1", events.CauseExited, 0), 1),
			err: agent.ErrInvalidExecution,
		},
		{
			name: "negative tokens", given: tokenRun, when: withTokens(end("x1", events.CauseExited, 0), -1),
			err: agent.ErrInvalidExecution,
		},
	}
	for _, cause := range events.ExecutionCauses {
		cases = append(cases, decideCase{name: "cause " + cause, given: running, when: end("x1", cause, 1), then: ended("x1", cause, 1),
			state: live(cr(1000), 0, cr(1000)).marks("executor", 5).running(1)})
	}
	runDecideCases(t, cases)
}

// TestDecideDieWhileRunning: the conditional deaths wait for the agent's
// last execution; a plain death does not, and leaves the execution to be
// ended.
func TestDecideDieWhileRunning(t *testing.T) {
	broke := given(created(cr(5)), events.CreditsBurned{AmountMicros: cr(5)})
	brokeRunning := append(given(), broke...)
	brokeRunning = append(brokeRunning, started("x1", 5))
	cases := []decideCase{
		{name: "no bid, no future waits for the running execution", given: given(created(cr(10)), started("x1", 5)), when: agent.Die{IfIdle: true}},
		{
			name:  "no bid, no future once nothing runs",
			given: given(created(cr(10)), started("x1", 5), ended("x1", events.CauseExited, 0)),
			when:  agent.Die{Reason: "no bid, no future", IfIdle: true},
			then:  events.AgentDied{Reason: "no bid, no future", VoidedHolds: []string{}, BurnedMicros: cr(10)},
			state: deadState().marks("executor", 5).running(1),
		},
		{name: "broke but running: the end-of-cycle rule waits", given: brokeRunning, when: agent.Die{IfBroke: true}},
		{
			name:  "broke and idle",
			given: broke, when: agent.Die{IfBroke: true},
			then: events.AgentDied{VoidedHolds: []string{}}, state: deadState(),
		},
		{
			name:  "a plain death while running",
			given: given(created(cr(10)), started("x1", 5)), when: agent.Die{Reason: "operator"},
			then:  events.AgentDied{Reason: "operator", VoidedHolds: []string{}, BurnedMicros: cr(10)},
			state: deadState().marks("executor", 5).running(1, "x1"),
		},
		{name: "idle death of a dead agent is moot", given: dead, when: agent.Die{IfIdle: true}},
	}
	runDecideCases(t, cases)
}

func TestDecideCreateWithCommand(t *testing.T) {
	command := []string{"python3", "main.py", "--quiet"}
	tooMany := make([]string, agent.CommandArgsMax+1)
	for i := range tooMany {
		tooMany[i] = "a"
	}
	atLimits := slices.Concat(tooMany[2:], []string{strings.Repeat("x", agent.CommandBytesMax-agent.CommandArgsMax+1)})
	cases := []decideCase{
		{
			name: "the program is part of the record", when: agent.Create{GrantMicros: cr(10), Command: command},
			then:  events.AgentCreated{AgentID: acctID, GrantMicros: cr(10), Command: command},
			state: live(cr(10), 0, cr(10)),
		},
		{
			name: "at the limits", when: agent.Create{Command: atLimits},
			then:  events.AgentCreated{AgentID: acctID, Command: atLimits},
			state: live(0, 0, 0),
		},
		{name: "too many arguments", when: agent.Create{Command: tooMany}, err: agent.ErrInvalidCommand},
		{name: "too many bytes", when: agent.Create{Command: []string{"sh", strings.Repeat("x", agent.CommandBytesMax)}}, err: agent.ErrInvalidCommand},
		{name: "an empty program name", when: agent.Create{Command: []string{"", "main.py"}}, err: agent.ErrInvalidCommand},
		{name: "a NUL byte", when: agent.Create{Command: []string{"sh", "-c", "a\x00b"}}, err: agent.ErrInvalidCommand},
	}
	runDecideCases(t, cases)
	// The account remembers it.
	a := agent.Evolve(agent.New(acctID), events.AgentCreated{AgentID: acctID, Command: command})
	if strings.Join(a.Command, " ") != "python3 main.py --quiet" {
		t.Fatalf("command %q", a.Command)
	}
}

// TestDecideResumeExecution: an execution a stop or a crash cut short runs
// again one attempt at a time, only while it runs and its agent lives;
// the same attempt again writes nothing.
func TestDecideResumeExecution(t *testing.T) {
	resumed := events.ExecutionResumed{ExecutionID: "x1", Pool: "main", Attempt: 2}
	twice := live(cr(1000), 0, cr(1000)).marks("executor", 5).running(1, "x1")
	twice.Executions["x1"] = agent.Execution{BidID: "b-x1", PayerID: acctID, Pool: "main", Resources: bundle, Attempt: 2}
	cases := []decideCase{
		{
			name: "the second attempt", given: given(created(cr(1000)), started("x1", 5)),
			when: agent.ResumeExecution{ExecutionID: "x1", Attempt: 2}, then: resumed, state: twice,
		},
		{
			name: "the same attempt again", given: given(created(cr(1000)), started("x1", 5), resumed),
			when: agent.ResumeExecution{ExecutionID: "x1", Attempt: 2},
		},
		{
			name: "an attempt skipped", given: given(created(cr(1000)), started("x1", 5)),
			when: agent.ResumeExecution{ExecutionID: "x1", Attempt: 3}, err: agent.ErrInvalidExecution,
		},
		{
			name: "an ended execution", given: given(created(cr(1000)), started("x1", 5), ended("x1", events.CauseExited, 0)),
			when: agent.ResumeExecution{ExecutionID: "x1", Attempt: 2}, err: agent.ErrExecutionNotRunning,
		},
		{
			name: "a dead agent", given: given(created(cr(1)), started("x1", 5), events.AgentDied{BurnedMicros: cr(1)}),
			when: agent.ResumeExecution{ExecutionID: "x1", Attempt: 2}, err: agent.ErrAgentDead,
		},
	}
	runDecideCases(t, cases)
}
