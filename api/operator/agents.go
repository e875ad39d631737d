package operator

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/program"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/directory"
)

// Routes of the agent directory: GET /admin/agents, GET
// /admin/agents/{id}, POST /admin/agents.

// ListAgentsInput is GET /admin/agents.
type ListAgentsInput struct {
	Cursor string `query:"cursor" pattern:"^[a-z0-9_-]{1,64}$" doc:"The next_cursor of the previous page."`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

// ListAgentsOutput is a page of every agent, dead or alive, in ascending
// order of id.
type ListAgentsOutput struct {
	Body struct {
		Agents     []AgentSummary `json:"agents"`
		NextCursor string         `json:"next_cursor,omitempty" doc:"Absent on the last page."`
		Total      int            `json:"total" doc:"Every agent ever created, dead or alive."`
		Alive      int            `json:"alive"`
	}
}

// AgentSummary is an agent as a line of the listing.
type AgentSummary struct {
	AgentID         string         `json:"agent_id"`
	Status          string         `json:"status" enum:"alive,dead"`
	ParentID        string         `json:"parent_id,omitempty" doc:"The agent that spawned it; absent for an agent the system or the operator created."`
	CreatedAt       time.Time      `json:"created_at"`
	CreatedSeq      uint64         `json:"created_seq" doc:"The stream sequence of its agent_created event: the order of creation."`
	DiedAt          *time.Time     `json:"died_at,omitempty"`
	Balance         system.Credits `json:"balance"`
	Held            system.Credits `json:"held"`
	Earned          system.Credits `json:"earned"`
	Spent           system.Credits `json:"spent"`
	ExecutionCount  int64          `json:"execution_count"`
	LastExecutionAt *time.Time     `json:"last_execution_at,omitempty" doc:"When its latest execution started."`
}

// AgentIDInput names one agent.
type AgentIDInput struct {
	ID string `path:"id" pattern:"^[a-z0-9_-]{1,64}$" doc:"The agent's id."`
}

// AgentOutput is one agent's record.
type AgentOutput struct {
	Body AgentRecord
}

// AgentRecord is everything the directory knows of an agent.
type AgentRecord struct {
	AgentID        string     `json:"agent_id"`
	Status         string     `json:"status" enum:"alive,dead"`
	ParentID       string     `json:"parent_id,omitempty"`
	Lineage        []string   `json:"lineage" doc:"Ancestors, nearest first (parent, grandparent, ...); at most 64."`
	Children       []string   `json:"children" doc:"The agents it spawned, in order of creation, dead or alive; the first 1000."`
	ChildrenCount  int        `json:"children_count" doc:"Every agent it spawned, dead or alive."`
	Command        []string   `json:"command" doc:"The program, run from the workspace; empty: the executor's default."`
	CreatedAt      time.Time  `json:"created_at"`
	CreatedSeq     uint64     `json:"created_seq" doc:"The stream sequence of its agent_created event."`
	CreationReason string     `json:"creation_reason,omitempty" doc:"genesis, operator, spawn ..."`
	DiedAt         *time.Time `json:"died_at,omitempty"`
	DeathReason    string     `json:"death_reason,omitempty"`

	Balance   system.Credits `json:"balance"`
	Held      system.Credits `json:"held" doc:"Reserved by open bids and prompts."`
	Available system.Credits `json:"available" doc:"balance - held."`
	Earned    Earned         `json:"earned"`
	Spent     Spent          `json:"spent"`
	// DeathBurned is what its death burned: lost, not spent.
	DeathBurned system.Credits `json:"death_burned,omitempty" doc:"What was left of the balance at death, burned."`

	BidsPlaced        int64          `json:"bids_placed" doc:"Bids it placed, including those the book refused."`
	BidsWon           int64          `json:"bids_won" doc:"Bids of its that won a cycle and were paid."`
	ExecutionCount    int64          `json:"execution_count" doc:"Executions it has started (as the agent that runs, whoever paid)."`
	ExecutionsRunning int            `json:"executions_running"`
	LastExecution     *LastExecution `json:"last_execution,omitempty"`
}

// Earned is what an agent received.
type Earned struct {
	Total             system.Credits `json:"total"`
	Grant             system.Credits `json:"grant" doc:"Minted to it: its creation's grant and the operator's grants since."`
	TransfersReceived system.Credits `json:"transfers_received"`
	Rewards           system.Credits `json:"rewards" doc:"The human's rewards for its prompts (minted)."`
}

// Spent is what an agent let go of by its own acts.
type Spent struct {
	Total         system.Credits `json:"total"`
	Payments      system.Credits `json:"payments" doc:"Won bids and shown prompts, paid (burned)."`
	TransfersSent system.Credits `json:"transfers_sent" doc:"Less those returned to it."`
	Burned        system.Credits `json:"burned" doc:"Spawn and message costs."`
}

// LastExecution is an agent's latest execution.
type LastExecution struct {
	ExecutionID  string     `json:"execution_id"`
	BidID        string     `json:"bid_id"`
	PayerID      string     `json:"payer_id" doc:"Who paid: the agent itself, or the sponsor whose bid named it."`
	StartedAt    time.Time  `json:"started_at"`
	Running      bool       `json:"running"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
	Cause        string     `json:"cause,omitempty" enum:"exited,cpu,memory,deadline,killed,failed,interrupted"`
	ExitCode     *int       `json:"exit_code,omitempty" doc:"-1 when killed by a signal."`
	CPUMillis    int64      `json:"cpu_millis,omitempty"`
	MemoryPeakKB int64      `json:"memory_peak_kb,omitempty"`
	WallMillis   int64      `json:"wall_millis,omitempty"`
	TokensUsed   int64      `json:"tokens_used,omitempty" doc:"Inference tokens it used, as metered."`
}

// CreateAgentInput is POST /admin/agents.
type CreateAgentInput struct {
	Idempotency
	Body CreateAgentBody
}

// CreateAgentBody is a new agent: its program, its grant, its first bid.
type CreateAgentBody struct {
	AgentID string        `json:"agent_id,omitempty" pattern:"^[a-z0-9_-]{1,64}$" doc:"The new agent's id; by default one is made (op-...), the same for a retry with the same Idempotency-Key."`
	Files   program.Files `json:"files"`
	Command []string      `json:"command" minItems:"1" maxItems:"64" doc:"The program and its arguments, run from the workspace at every execution (at most 4096 bytes)."`
	Grant   system.Amount `json:"grant" doc:"Credits minted to the new agent."`
	// InitialBid is placed by the new agent, from its grant.
	InitialBid *InitialBidBody `json:"initial_bid,omitempty" doc:"The agent's first bid, placed from its grant: without one it never runs until someone bids for it."`
}

// InitialBidBody is the first bid of a new agent.
type InitialBidBody struct {
	Resources map[string]system.Quantity `json:"resources" minProperties:"1" doc:"The bundle: units per resource. It names cpu_seconds and memory_mb, may name tokens, never attention."`
	Amount    system.Amount              `json:"amount" doc:"The total offered: at least the bundle's reserve price, at most the grant."`
	Payload   string                     `json:"payload,omitempty" maxLength:"16384" doc:"Handed to the execution the bid wins (AGORA_PAYLOAD)."`
}

// CreateAgentOutput is the new agent's id.
type CreateAgentOutput struct {
	Body struct {
		AgentID string `json:"agent_id"`
	}
}

func (s *service) registerAgents(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "list-agents", Method: http.MethodGet, Path: "/admin/agents", Tags: []string{"agents"},
		Summary: "Every agent, dead or alive, paged in order of id",
	}), s.listAgents)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-agent", Method: http.MethodGet, Path: "/admin/agents/{id}", Tags: []string{"agents"},
		Summary: "One agent: status, lineage, credits earned and spent, executions",
	}, http.StatusNotFound), s.getAgent)
	huma.Register(api, operation(huma.Operation{
		OperationID: "create-agent", Method: http.MethodPost, Path: "/admin/agents", Tags: []string{"agents"},
		Summary:      "Create an agent with a program, a grant (minted) and optionally its first bid",
		MaxBodyBytes: CreateBodyBytesMax,
	}, http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable), s.createAgent)
}

func (s *service) listAgents(_ context.Context, in *ListAgentsInput) (*ListAgentsOutput, error) {
	// One more than a page tells whether another page follows.
	page := s.deps.Directory.List(in.Cursor, in.Limit+1)
	out := &ListAgentsOutput{}
	if len(page) > in.Limit {
		page = page[:in.Limit]
		out.Body.NextCursor = page[len(page)-1].ID
	}
	out.Body.Agents = make([]AgentSummary, len(page))
	for i, a := range page {
		out.Body.Agents[i] = SummaryOf(a)
	}
	out.Body.Total, out.Body.Alive = s.deps.Directory.Count(), s.deps.Directory.Totals().Alive
	return out, nil
}

// SummaryOf is the listing's line for a directory summary; `agora agents`
// prints the same from the log when no server runs.
func SummaryOf(a directory.Summary) AgentSummary {
	return AgentSummary{AgentID: a.ID, Status: string(a.Status), ParentID: a.ParentID, CreatedAt: a.CreatedAt,
		CreatedSeq: a.CreatedSeq, DiedAt: optionalTime(a.DiedAt), Balance: system.Credits(a.BalanceMicros), Held: system.Credits(a.HeldMicros),
		Earned: system.Credits(a.EarnedMicros), Spent: system.Credits(a.SpentMicros), ExecutionCount: a.ExecutionCount,
		LastExecutionAt: optionalTime(a.LastExecutionAt)}
}

func (s *service) getAgent(_ context.Context, in *AgentIDInput) (*AgentOutput, error) {
	a, ok := s.deps.Directory.Get(in.ID)
	if !ok {
		return nil, s.Problem(fmt.Errorf("%w: %s", agent.ErrUnknownAgent, in.ID))
	}
	return &AgentOutput{Body: RecordOf(a)}, nil
}

// RecordOf is the answer of GET /admin/agents/{id} for a directory
// record; `agora agent` prints the same from the log when no server runs.
func RecordOf(a directory.Agent) AgentRecord {
	r := AgentRecord{AgentID: a.ID, Status: string(a.Status), ParentID: a.ParentID,
		Lineage: append([]string{}, a.Lineage...), Command: append([]string{}, a.Command...),
		Children: append([]string{}, a.Children[:min(len(a.Children), ChildrenListedMax)]...), ChildrenCount: len(a.Children),
		CreatedAt: a.CreatedAt, CreatedSeq: a.CreatedSeq, CreationReason: a.CreationReason,
		DiedAt: optionalTime(a.DiedAt), DeathReason: a.DeathReason,
		Balance: system.Credits(a.BalanceMicros), Held: system.Credits(a.HeldMicros), Available: system.Credits(a.Available()),
		Earned: Earned{Total: system.Credits(a.EarnedMicros()), Grant: system.Credits(a.GrantMicros),
			TransfersReceived: system.Credits(a.ReceivedMicros), Rewards: system.Credits(a.RewardMicros)},
		Spent: Spent{Total: system.Credits(a.SpentMicros()), Payments: system.Credits(a.PaidMicros),
			TransfersSent: system.Credits(a.SentMicros), Burned: system.Credits(a.BurnedMicros)},
		DeathBurned: system.Credits(a.DeathBurnedMicros),
		BidsPlaced:  a.BidsPlaced, BidsWon: a.BidsWon, ExecutionCount: a.ExecutionCount, ExecutionsRunning: a.ExecutionsRunning}
	if x := a.LastExecution; x != nil {
		last := &LastExecution{ExecutionID: x.ID, BidID: x.BidID, PayerID: x.PayerID, StartedAt: x.StartedAt, Running: x.Running()}
		if !x.Running() {
			code := x.ExitCode
			last.EndedAt, last.Cause, last.ExitCode = optionalTime(x.EndedAt), x.Cause, &code
			last.CPUMillis, last.MemoryPeakKB, last.WallMillis = x.CPUMillis, x.MemoryPeakKB, x.WallMillis
			last.TokensUsed = x.TokensUsed
		}
		r.LastExecution = last
	}
	return r
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *service) createAgent(ctx context.Context, in *CreateAgentInput) (*CreateAgentOutput, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	req := in.Body.request()
	req.AgentID = in.Body.AgentID
	if req.AgentID == "" {
		req.AgentID = agentIDFor(key)
	}
	id, err := s.deps.Creator.CreateAgent(ctx, req, commandKey("create-agent", key))
	if err != nil {
		return nil, s.Problem(err)
	}
	s.settle(ctx)
	out := &CreateAgentOutput{}
	out.Body.AgentID = id
	return out, nil
}

// request is the body as the Creator takes it, exact to the micro-credit.
func (b *CreateAgentBody) request() CreateAgent {
	req := CreateAgent{Files: b.Files.Map(), Command: slices.Clone(b.Command), GrantMicros: b.Grant.Micros()}
	if bid := b.InitialBid; bid != nil {
		req.InitialBid = &InitialBid{Resources: make(map[string]events.Units, len(bid.Resources)),
			AmountMicros: bid.Amount.Micros(), Payload: bid.Payload}
		for name, q := range bid.Resources {
			req.InitialBid.Resources[name] = q.Units()
		}
	}
	return req
}
