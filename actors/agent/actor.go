package agent

import (
	"context"
	"fmt"
	"maps"

	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// Aggregate is the account as an event-sourced actor kind.
func Aggregate() runtime.Aggregate[Account, Command] {
	return runtime.Aggregate[Account, Command]{Kind: events.KindAgent, New: New, Decide: Decide, Evolve: Evolve, Admit: Admit,
		Public: publish}
}

// TransferManagerName names the process manager that settles transfers; it
// is the Manager of the triggers it sends.
const TransferManagerName = "transfers"

// TransferManager settles transfers: a TransferSent obliges the recipient
// to receive (or bounce), a TransferBounced obliges the sender to take the
// credits back. Each in-flight amount thus settles exactly once.
func TransferManager() runtime.Manager {
	return runtime.Manager{
		Name: TransferManagerName,
		// The whole stream rather than events.agent.*.>: the server serves
		// an unfiltered consumer without matching every subject against a
		// wildcard, and the manager's floor then follows the log's end.
		Filter: events.SubjectRoot + ".>",
		Types:  append([]string{events.TransferSent{}.EventType(), events.TransferBounced{}.EventType()}, messageTypes...),
		React:  reactTransfers,
	}
}

func reactTransfers(r events.Record, e events.Event) []runtime.Reaction {
	_, from, _, err := events.ParseSubject(r.Envelope.Subject)
	if err != nil {
		return nil
	}
	t := events.Trigger{Manager: TransferManagerName, Seq: r.Seq}
	switch e := e.(type) {
	case events.TransferSent:
		return []runtime.Reaction{{Kind: events.KindAgent, ID: e.ToAgentID, Command: ReceiveTransfer{
			TransferID: e.TransferID, From: from, AmountMicros: e.AmountMicros, Trigger: t}}}
	case events.TransferBounced:
		return []runtime.Reaction{{Kind: events.KindAgent, ID: e.FromAgentID, Command: ReturnTransfer{
			TransferID: e.TransferID, To: from, AmountMicros: e.AmountMicros, Trigger: t}}}
	}
	return reactMessages(from, t, e)
}

// Accounts is the front door to the agents' accounts for the rest of the
// system (HTTP handlers, the CLI, other actors' managers).
type Accounts struct {
	host *runtime.Host
}

// NewAccounts registers the account actor on host.
func NewAccounts(host *runtime.Host) *Accounts {
	runtime.Register(host, Aggregate())
	return &Accounts{host: host}
}

// Do sends one command to agent id. key is the idempotency key (may be
// empty).
func (a *Accounts) Do(ctx context.Context, id, key string, cmd Command) (runtime.Result, error) {
	return a.host.Ask(ctx, events.KindAgent, id, runtime.Request{Command: cmd, Key: key})
}

// Recall returns the result of agent id's command with idempotency key, if
// the account remembers applying one.
func (a *Accounts) Recall(ctx context.Context, id, key string) (runtime.Result, bool, error) {
	return a.host.Recall(ctx, events.KindAgent, id, key)
}

// Get returns a copy of agent id's account, read from the actor itself.
func (a *Accounts) Get(ctx context.Context, id string) (Account, error) {
	return runtime.Inspect(ctx, a.host, events.KindAgent, id, func(s Account) Account { return s.clone() })
}

// Transfer sends credits from one agent to another. An unknown or dead
// recipient is refused before anything is debited; a recipient that dies
// after the debit bounces the transfer back.
func (a *Accounts) Transfer(ctx context.Context, from, key string, t Transfer) (runtime.Result, error) {
	if err := events.ValidateID(t.To); err != nil {
		return runtime.Result{}, err
	}
	if t.To != from {
		status, err := a.status(ctx, t.To)
		if err != nil {
			return runtime.Result{}, err
		}
		switch status {
		case StatusNone:
			return runtime.Result{}, fmt.Errorf("%w: %s", ErrUnknownAgent, t.To)
		case StatusDead:
			return runtime.Result{}, fmt.Errorf("%w: %s", ErrAgentDead, t.To)
		}
	}
	return a.Do(ctx, from, key, t)
}

// status is agent id's status: what its actor published when it is
// running (no round trip; a death in flight is seen as alive, and the
// transfer then bounces back, as it would after the check), else asked.
// Only the status: a copy of the whole account (holds, executions) would cost
// more than the transfer.
func (a *Accounts) status(ctx context.Context, id string) (Status, error) {
	if v, ok := a.host.Peek(events.KindAgent, id); ok {
		if p, ok := v.(Published); ok && p.Status != StatusNone {
			return p.Status, nil
		}
	}
	return runtime.Inspect(ctx, a.host, events.KindAgent, id, func(s Account) Status { return s.Status })
}

func (a Account) clone() Account {
	c := a
	c.Lineage = append([]string(nil), a.Lineage...)
	c.Holds = maps.Clone(a.Holds)
	c.Command = append([]string(nil), a.Command...)
	c.Executions = maps.Clone(a.Executions)
	c.Unread = maps.Clone(a.Unread)
	return c
}
