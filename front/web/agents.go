package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/inbox"
	"github.com/agora-econ/agora/projections/markets"
)

// agentRow is a line of the agents' table: the listing's summary
// (operator.SummaryOf's source) and how many agents it spawned.
type agentRow struct {
	directory.Summary
	Children int
}

// allAgents is every agent, dead or alive, in order of id, with its
// children counted from the others' parent links: one read of the
// directory, however many agents.
func (d *Dashboard) allAgents() []agentRow {
	all := d.deps.Directory.List("", 0)
	children := make(map[string]int, len(all))
	for _, a := range all {
		if a.ParentID != "" {
			children[a.ParentID]++
		}
	}
	rows := make([]agentRow, len(all))
	for i, a := range all {
		rows[i] = agentRow{Summary: a, Children: children[a.ID]}
	}
	return rows
}

// agentColumns are the columns the table sorts by, and how.
var agentColumns = map[string]func(a, b agentRow) int{
	"id":         func(a, b agentRow) int { return cmp.Compare(a.ID, b.ID) },
	"status":     func(a, b agentRow) int { return cmp.Compare(a.Status, b.Status) },
	"balance":    func(a, b agentRow) int { return cmp.Compare(a.BalanceMicros, b.BalanceMicros) },
	"held":       func(a, b agentRow) int { return cmp.Compare(a.HeldMicros, b.HeldMicros) },
	"executions": func(a, b agentRow) int { return cmp.Compare(a.ExecutionCount, b.ExecutionCount) },
	"earned":     func(a, b agentRow) int { return cmp.Compare(a.EarnedMicros, b.EarnedMicros) },
	"spent":      func(a, b agentRow) int { return cmp.Compare(a.SpentMicros, b.SpentMicros) },
	"children":   func(a, b agentRow) int { return cmp.Compare(a.Children, b.Children) },
	"created":    func(a, b agentRow) int { return cmp.Compare(a.CreatedSeq, b.CreatedSeq) },
}

// agentsData is a page of the agents' table.
type agentsData struct {
	Rows        []agentRow
	Sort, Order string
	// Status keeps the alive or the dead agents ("": all).
	Status      string
	Page, Pages int
	// Total and Alive are every agent's counts; Shown those the status
	// keeps.
	Total, Alive, Shown int
	// Links are the columns' sort links; Prev and Next the pages'.
	Links      map[string]string
	Prev, Next string
}

// agents is the sortable table of every agent: ?sort= a column of
// agentColumns (default id), ?order=asc|desc, ?page= from 1, AgentsPage
// a page.
func (d *Dashboard) agents(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	sortBy, order := q.Get("sort"), q.Get("order")
	by, ok := agentColumns[sortBy]
	if !ok {
		sortBy, by = "id", agentColumns["id"]
	}
	if order != "desc" {
		order = "asc"
	}
	rows := d.allAgents()
	status := q.Get("status")
	if status == string(directory.StatusAlive) || status == string(directory.StatusDead) {
		rows = slices.DeleteFunc(rows, func(a agentRow) bool { return string(a.Status) != status })
	} else {
		status = ""
	}
	slices.SortStableFunc(rows, func(a, b agentRow) int {
		c := by(a, b)
		if order == "desc" {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.ID, b.ID))
	})
	data := agentsData{Sort: sortBy, Order: order, Status: status, Total: d.deps.Directory.Count(),
		Alive: d.deps.Directory.Totals().Alive, Shown: len(rows), Links: map[string]string{}}
	data.Pages = max(1, (len(rows)+AgentsPage-1)/AgentsPage)
	data.Page = min(max(1, atoi(q.Get("page"))), data.Pages)
	data.Rows = rows[(data.Page-1)*AgentsPage : min(len(rows), data.Page*AgentsPage)]
	link := func(sortBy, order string, page int) string {
		v := url.Values{"sort": {sortBy}, "order": {order}}
		if status != "" {
			v.Set("status", status)
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		return Prefix + "agents?" + v.Encode()
	}
	for col := range agentColumns {
		next := "asc"
		if col == sortBy && order == "asc" || col != sortBy && col != "id" && col != "status" {
			// Figures sort largest first at the first click.
			next = "desc"
		}
		if col == sortBy && order == "desc" {
			next = "asc"
		}
		data.Links[col] = link(col, next, 1)
	}
	if data.Page > 1 {
		data.Prev = link(sortBy, order, data.Page-1)
	}
	if data.Page < data.Pages {
		data.Next = link(sortBy, order, data.Page+1)
	}
	d.render(w, r, http.StatusOK, "agents", s, "Agents", "agents", data)
}

// agentData is an agent's page: its record as GET /admin/agents/{id}
// answers it, its latest money movements, its messages and the tail of
// its output.
type agentData struct {
	Agent    operator.AgentRecord
	Parent   string
	Moves    []history.Transaction
	Messages []inbox.Message
	// MoreMessages is the link to the next page of its messages, if any.
	MoreMessages string
	Output       string
	// OutputErr says why there is no output to show, when there is none.
	OutputErr string
	// Executions are its executions the markets still list among their
	// recent transactions (allocation.transaction_history_length each),
	// newest first: what each won and used of every resource, and why its
	// units were released.
	Executions []marketExecution
}

// marketExecution is one execution as the markets' recent transactions
// show it.
type marketExecution struct {
	ID, BidID, PayerID string
	Cycle              uint64
	Seq                uint64 // its newest transaction
	PaidMicros         events.Micros
	Resources          []executionResource
}

// executionResource is what an execution won and used of one resource.
type executionResource struct {
	Resource       string
	Units, Used    events.Units
	Measured       bool
	Released       bool
	ReleasedReason string
}

// executionsOf gathers agent id's executions from the markets' recent
// transactions (of the executions it ran, whoever paid).
func executionsOf(id string, st markets.MarketsState) []marketExecution {
	byID := map[string]*marketExecution{}
	for _, m := range st.Markets {
		for _, t := range m.RecentTransactions {
			runner := t.BeneficiaryID
			if runner == "" {
				runner = t.AgentID
			}
			if runner != id || t.ExecutionID == "" {
				continue
			}
			x, ok := byID[t.ExecutionID]
			if !ok {
				x = &marketExecution{ID: t.ExecutionID}
				byID[t.ExecutionID] = x
			}
			x.Seq = max(x.Seq, t.Seq)
			i := slices.IndexFunc(x.Resources, func(r executionResource) bool { return r.Resource == m.Resource })
			if i < 0 {
				x.Resources = append(x.Resources, executionResource{Resource: m.Resource})
				i = len(x.Resources) - 1
			}
			r := &x.Resources[i]
			switch t.Kind {
			case markets.KindAllocation:
				x.BidID, x.PayerID, x.Cycle, x.PaidMicros = t.BidID, t.AgentID, t.Cycle, t.AmountMicros
				r.Units = t.Units
			case markets.KindRelease:
				r.Released, r.ReleasedReason, r.Used, r.Measured = true, t.Reason, t.UsedUnits, t.Measured
				if r.Units == 0 {
					r.Units = t.Units
				}
			}
		}
	}
	out := make([]marketExecution, 0, len(byID))
	for _, x := range byID {
		slices.SortFunc(x.Resources, func(a, b executionResource) int { return cmp.Compare(a.Resource, b.Resource) })
		out = append(out, *x)
	}
	slices.SortFunc(out, func(a, b marketExecution) int { return cmp.Compare(b.Seq, a.Seq) })
	return out
}

func (d *Dashboard) agent(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	a, ok := d.deps.Directory.Get(id)
	if !ok {
		d.render(w, r, http.StatusNotFound, "notfound", s, "Not found", "agents", r.URL.Path)
		return
	}
	data := agentData{Agent: operator.RecordOf(a), Parent: a.ParentID, Moves: d.deps.History.ForAgent(id, AgentMovesShown),
		Executions: executionsOf(id, d.deps.Markets.State())}
	// ?messages= is the cursor of a page of its messages after the first
	// (unread first, then read, newest first: inbox.View.Page).
	if msgs, next, err := d.deps.Inbox.Page(id, AgentMessagesShown, r.URL.Query().Get("messages")); err == nil {
		data.Messages = msgs
		if next != "" {
			data.MoreMessages = Prefix + "agents/" + url.PathEscape(id) + "?messages=" + url.QueryEscape(next) + "#messages"
		}
	}
	if d.opts.Workspace != nil {
		var out []byte
		dir, err := d.opts.Workspace(id)
		if err == nil {
			out, err = outputTail(dir, OutputTailBytes)
		}
		switch {
		case err != nil:
			data.OutputErr = err.Error()
		case len(out) == 0:
			data.OutputErr = "no output yet"
		default:
			data.Output = string(out)
		}
	} else {
		data.OutputErr = "this server keeps no workspaces"
	}
	d.render(w, r, http.StatusOK, "agent", s, "Agent "+id, "agents", data)
}

// treeNode is an agent in the family tree with its children.
type treeNode struct {
	agentRow
	Kids []*treeNode
}

// tree is the family tree: every agent under its parent, the roots (the
// agents the system or the operator created) in order of creation.
func (d *Dashboard) tree(w http.ResponseWriter, r *http.Request, s *session) {
	rows := d.allAgents()
	slices.SortFunc(rows, func(a, b agentRow) int { return cmp.Compare(a.CreatedSeq, b.CreatedSeq) })
	nodes := make(map[string]*treeNode, len(rows))
	for _, row := range rows {
		nodes[row.ID] = &treeNode{agentRow: row}
	}
	var roots []*treeNode
	for _, row := range rows {
		n := nodes[row.ID]
		if p, ok := nodes[row.ParentID]; ok && row.ParentID != row.ID {
			p.Kids = append(p.Kids, n)
		} else {
			roots = append(roots, n)
		}
	}
	d.render(w, r, http.StatusOK, "tree", s, "Family tree", "tree", roots)
}

// atoi is a page number from a query: 0 when it is not one.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
