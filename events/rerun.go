package events

import "time"

// The events of an execution run again after a stop or a crash (SPEC.md
// 1.4: "an execution interrupted by a stop or a crash is run again at the
// next start with the envelope it paid for").

// ExecutionResumed records, on the subjects of the agent that runs and
// before its program starts again, that a running execution a stop or a
// crash cut short runs again: the same execution, bid, payer, pool and
// units, paid once. Attempt counts the runs of its program, the first
// start being attempt 1, so a resumption is attempt 2 or more.
type ExecutionResumed struct {
	ExecutionID string `json:"execution_id"`
	Pool        string `json:"pool"`
	Attempt     int    `json:"attempt"`
}

// LeaseRenewed records, on the subjects of a clearing pool, that a running
// execution's lease counts again from At: the execution runs again after a
// stop or a crash, and the time the economy was down does not use up its
// lease. The units stay leased as they were: a renewal never leases more.
type LeaseRenewed struct {
	ExecutionID string    `json:"execution_id"`
	At          time.Time `json:"at"`
}

func (ExecutionResumed) EventType() string { return "execution_resumed" }
func (LeaseRenewed) EventType() string     { return "lease_renewed" }

func (ExecutionResumed) EventSchema() int { return 1 }
func (LeaseRenewed) EventSchema() int     { return 1 }

func init() { register(ExecutionResumed{}, LeaseRenewed{}) }
