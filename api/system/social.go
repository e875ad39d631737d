package system

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// Routes of the society of agents: GET /social/agents. (Messages and spawn
// come with their actors.)

// AgentsInput is GET /social/agents.
type AgentsInput struct {
	After string `query:"after" pattern:"^[a-z0-9_-]{1,64}$" doc:"The next_after of the previous page."`
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

// AgentsOutput is GET /social/agents.
type AgentsOutput struct{ Body AgentPage }

// AgentPage is a page of the ids of the living agents, in ascending order.
type AgentPage struct {
	Agents    []string `json:"agents"`
	NextAfter string   `json:"next_after,omitempty" doc:"Absent on the last page."`
}

func (s *service) registerSocial(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "list-agents", Method: http.MethodGet, Path: "/social/agents", Tags: []string{"social"},
		Summary: "The ids of the living agents",
	}), s.agents)
}

func (s *service) agents(ctx context.Context, in *AgentsInput) (*AgentsOutput, error) {
	page, err := serve[AgentPage](ctx, s, ListAgents{Caller: callerOf(ctx).call(), After: in.After, Limit: in.Limit})
	return &AgentsOutput{Body: page}, err
}
