package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/system"
)

// treeIndent is what each generation adds before an agent's id in the
// text of `agora agents --tree`.
const treeIndent = "  "

// familyNode is one agent of `agora agents --tree`, with its children.
type familyNode struct {
	AgentID    string         `json:"agent_id"`
	Status     string         `json:"status"`
	Balance    system.Credits `json:"balance"`
	ParentID   string         `json:"parent_id,omitempty"`
	CreatedSeq uint64         `json:"created_seq"`
	// Children are in order of creation; never null, so that a leaf reads
	// as one in JSON.
	Children []*familyNode `json:"children"`
}

// familyTree arranges the listing's agents as the family tree: the roots
// are the agents with no parent, in order of creation, and each agent's
// children are under it in order of creation. An agent is its parent's
// child only if the parent was created before it, as the directory
// counts children: an agent whose parent the log never created, or
// created only later (a forged record could make two agents each other's
// parent), is a root, so every agent is in the tree once and the tree has
// no cycle.
func familyTree(list []operator.AgentSummary) []*familyNode {
	nodes := make(map[string]*familyNode, len(list))
	byCreation := make([]*familyNode, 0, len(list))
	for _, a := range list {
		n := &familyNode{AgentID: a.AgentID, Status: a.Status, Balance: a.Balance, ParentID: a.ParentID,
			CreatedSeq: a.CreatedSeq, Children: []*familyNode{}}
		nodes[a.AgentID] = n
		byCreation = append(byCreation, n)
	}
	slices.SortFunc(byCreation, func(a, b *familyNode) int {
		return cmp.Or(cmp.Compare(a.CreatedSeq, b.CreatedSeq), cmp.Compare(a.AgentID, b.AgentID))
	})
	roots := []*familyNode{}
	for _, n := range byCreation {
		if p, ok := nodes[n.ParentID]; ok && p.CreatedSeq < n.CreatedSeq {
			p.Children = append(p.Children, n)
			continue
		}
		roots = append(roots, n)
	}
	return roots
}

// printTree writes the family tree, one agent a line (id, status,
// balance), each child indented under its parent.
func printTree(out io.Writer, roots []*familyNode) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tSTATUS\tBALANCE")
	n := 0
	// An explicit stack rather than recursion: a line of spawns may be as
	// deep as the log is long.
	type item struct {
		node  *familyNode
		depth int
	}
	stack := make([]item, 0, len(roots))
	for i := len(roots) - 1; i >= 0; i-- {
		stack = append(stack, item{roots[i], 0})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n++
		fmt.Fprintf(tw, "%s%s\t%s\t%s\n", strings.Repeat(treeIndent, it.depth), it.node.AgentID, it.node.Status,
			credits(it.node.Balance))
		for i := len(it.node.Children) - 1; i >= 0; i-- {
			stack = append(stack, item{it.node.Children[i], it.depth + 1})
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d agents, %d roots\n", n, len(roots))
	return nil
}
