package economy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/events"
)

// creator brings an agent into the running economy for the operator (POST
// /admin/agents): workspace, account with its grant and command, first
// bid. Each step is idempotent under the operator's key, so a retry
// completes what a failed call left undone.
type creator struct {
	eco        *Economy
	workspaces *executor.Workspaces
}

var _ operator.Creator = creator{}

// CreateAgent implements operator.Creator.
func (c creator) CreateAgent(ctx context.Context, req operator.CreateAgent, key string) (string, error) {
	e := c.eco
	if _, done, err := e.accounts.Recall(ctx, req.AgentID, key); err != nil {
		return "", err
	} else if done {
		return req.AgentID, c.placeBid(ctx, req, key)
	}
	// What depends on the economy's state is checked before anything is
	// written.
	if bid := req.InitialBid; bid != nil {
		invalid, err := clearing.Inspect(ctx, e.clearing, func(b clearing.Book) error {
			return clearing.Validate(b, events.BidTerms{Pool: Pool, Resources: bid.Resources, Payload: bid.Payload}, bid.AmountMicros)
		})
		if err != nil {
			return "", err
		}
		if invalid != nil {
			return "", invalid
		}
	}
	if a, err := e.accounts.Get(ctx, req.AgentID); err != nil {
		return "", err
	} else if a.Exists() {
		return "", fmt.Errorf("%w: %s", agent.ErrAgentExists, req.AgentID)
	}
	files := make(map[string][]byte, len(req.Files))
	for p, content := range req.Files {
		files[p] = []byte(content)
	}
	if err := c.writeWorkspace(req.AgentID, files); err != nil {
		return "", err
	}
	if _, err := e.accounts.Do(ctx, req.AgentID, key, agent.Create{GrantMicros: req.GrantMicros, Command: req.Command,
		Reason: "operator"}); err != nil {
		return "", err
	}
	return req.AgentID, c.placeBid(ctx, req, key)
}

// writeWorkspace writes the agent's workspace. One left by an earlier call
// whose account was not created is accepted if it holds exactly files.
func (c creator) writeWorkspace(agentID string, files map[string][]byte) error {
	_, err := c.workspaces.Create(agentID, files)
	if !errors.Is(err, executor.ErrWorkspaceExists) {
		return err
	}
	dir, derr := c.workspaces.Dir(agentID)
	if derr != nil {
		return derr
	}
	for p, content := range files {
		got, rerr := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if rerr != nil || !bytes.Equal(got, content) {
			return fmt.Errorf("%w: a workspace for %s exists", agent.ErrAgentExists, agentID)
		}
	}
	return nil
}

func (c creator) placeBid(ctx context.Context, req operator.CreateAgent, key string) error {
	bid := req.InitialBid
	if bid == nil {
		return nil
	}
	_, _, err := c.eco.clearing.Place(ctx, req.AgentID, key+"/bid",
		events.BidTerms{Resources: bid.Resources, Payload: bid.Payload}, bid.AmountMicros)
	return err
}
