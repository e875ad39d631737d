package terminal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// The styles of the screen. Colours only underline what the words say:
// a terminal without them shows the same screen.
var (
	titleStyle = lipgloss.NewStyle().Bold(true)
	boxStyle   = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
	headStyle  = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("6"))
	downStyle  = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("1"))
	dimStyle   = lipgloss.NewStyle().Faint(true)
	focusStyle = lipgloss.NewStyle().Bold(true).Reverse(true)
	barFull    = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
)

// barCellsMax is the widest a utilization bar is drawn.
const barCellsMax = 20

// View draws the whole screen from the model.
func (m Model) View() tea.View {
	v := tea.NewView(m.Screen())
	v.AltScreen = true
	v.WindowTitle = "agora human"
	return v
}

// Screen is the screen as text: View's content, and what the tests read.
func (m Model) Screen() string {
	top := m.topLine()
	half := max(m.width/2, 30)
	upper := lipgloss.JoinHorizontal(lipgloss.Top,
		box("Markets", m.marketsPane(half-4), half), box("Economy", m.economyPane(), max(m.width-half, 30)))
	lower := lipgloss.JoinHorizontal(lipgloss.Top,
		box("Attention queue", m.queuePane(), queueWidth(m.width)), box("Active prompt", m.promptPane(), promptWidth(m.width)))
	helpLine := m.helpLine()
	// The recent activity takes what the other panes leave.
	rows := m.height - lipgloss.Height(top) - lipgloss.Height(upper) - lipgloss.Height(lower) - lipgloss.Height(helpLine) - 2
	activity := box("Recent activity", m.activityPane(max(rows, 1)), m.width)
	return lipgloss.JoinVertical(lipgloss.Left, top, upper, activity, lower, helpLine)
}

// The widths of the lower panes: the queue a third of the window, the
// prompt the rest; promptInner is the prompt pane's width inside its
// border and padding.
func queueWidth(width int) int  { return max(width/3, 30) }
func promptWidth(width int) int { return max(width-queueWidth(width), 40) }
func promptInner(width int) int { return promptWidth(width) - 4 }

// box draws a pane of the given outer width with its title.
func box(title, body string, width int) string {
	return boxStyle.Width(width).Render(headStyle.Render(title) + "\n" + body)
}

func (m Model) topLine() string {
	line := titleStyle.Render("agora · the human's terminal")
	if m.snap.From != "" {
		line += "  " + m.snap.From
	}
	if m.opts.Title != "" {
		line += "  " + m.opts.Title
	}
	switch {
	case !m.down.IsZero() && errors.Is(m.downErr, ErrNotAnswering):
		line += "  " + downStyle.Render(fmt.Sprintf("economy not answering, retrying (since %s): %v",
			m.down.Format(time.TimeOnly), m.downErr))
	case !m.down.IsZero():
		// It answers, but refuses (a wrong token, say): retrying will not
		// help by itself, so say what it answered.
		line += "  " + downStyle.Render(fmt.Sprintf("economy refuses (since %s): %v", m.down.Format(time.TimeOnly), m.downErr))
	case m.seen:
		line += "  " + dimStyle.Render(fmt.Sprintf("event %d · %s", m.snap.Status.LastSeq, m.snap.At.Format(time.TimeOnly)))
	default:
		line += "  " + dimStyle.Render("asking the economy...")
	}
	return ansi.Truncate(line, m.width, "…")
}

func (m Model) marketsPane(width int) string {
	names := make([]string, 0, len(m.snap.Status.Markets))
	for name := range m.snap.Status.Markets {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return dimStyle.Render("no markets yet")
	}
	nameWidth := 0
	for _, n := range names {
		nameWidth = max(nameWidth, len(n))
	}
	// The bar takes what the name, the percentage and the price leave.
	cells := min(max(width-nameWidth-26, 5), barCellsMax)
	var b strings.Builder
	for i, n := range names {
		mk := m.snap.Status.Markets[n]
		var ppm int64
		if mk.SupplyUnits > 0 {
			ppm = int64(mk.LeasedUnits) * 1_000_000 / int64(mk.SupplyUnits)
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-*s %s %5.1f%%  price %s", nameWidth, n, bar(ppm, cells), float64(ppm)/10_000, mk.PriceMicros)
	}
	return b.String()
}

// bar draws a utilization (parts per million) as cells cells.
func bar(ppm int64, cells int) string {
	filled := int(min(max(ppm*int64(cells)/1_000_000, 0), int64(cells)))
	return barFull.Render(strings.Repeat("█", filled)) + dimStyle.Render(strings.Repeat("░", cells-filled))
}

func (m Model) economyPane() string {
	s := m.snap.Status
	circulating := s.MintedMicros - s.BurnedMicros
	lines := []string{
		fmt.Sprintf("agents alive    %d of %d", s.AgentsAlive, s.Agents),
		fmt.Sprintf("in circulation  %s (minted %s, burned %s)", circulating, s.MintedMicros, s.BurnedMicros),
		fmt.Sprintf("balances        %s (held %s), in flight %s", s.BalanceMicros, s.HeldMicros, s.InFlightMicros),
		fmt.Sprintf("executions      %d running, %d started", s.ExecutionsRunning, s.ExecutionsStarted),
		fmt.Sprintf("open bids       %d, after %d cycles", s.OpenBids, s.Cycles),
	}
	var alive []string
	for _, a := range m.snap.Agents.Agents {
		if a.Status == "alive" {
			alive = append(alive, fmt.Sprintf("%s %s", a.AgentID, a.Balance))
		}
	}
	if len(alive) > 0 {
		lines = append(lines, "alive           "+strings.Join(alive, " · "))
	}
	return strings.Join(lines, "\n")
}

func (m Model) activityPane(rows int) string {
	if len(m.snap.Activity) == 0 {
		return dimStyle.Render("nothing yet")
	}
	var lines []string
	for _, t := range m.snap.Activity[:min(rows, len(m.snap.Activity))] {
		line := fmt.Sprintf("%s  %-12s %-18s %12s", t.Time.Local().Format(time.TimeOnly), t.AgentID, t.Kind, t.Amount)
		if t.CounterpartyID != "" {
			line += "  " + t.CounterpartyID
		}
		if t.Memo != "" {
			line += "  " + dimStyle.Render(strings.ReplaceAll(clean(t.Memo), "\n", " "))
		}
		lines = append(lines, ansi.Truncate(line, max(m.width-4, 10), "…"))
	}
	return strings.Join(lines, "\n")
}

func (m Model) queuePane() string {
	if !m.snap.Attention {
		return dimStyle.Render("no attention slot")
	}
	q := m.snap.Queue
	lines := []string{fmt.Sprintf("%d waiting · price %s", q.Length, q.Price)}
	for i, p := range q.Prompts[:min(len(q.Prompts), QueueShown)] {
		pos := p.Position
		if pos == 0 {
			pos = i + 1
		}
		lines = append(lines, fmt.Sprintf("%2d  %-12s %s", pos, p.AgentID, p.Amount))
	}
	if len(m.snap.Responses) > 0 {
		lines = append(lines, headStyle.Render("Your latest answers"))
	}
	for _, r := range m.snap.Responses {
		switch {
		case r.Skipped:
			lines = append(lines, fmt.Sprintf("%-12s skipped", r.AgentID))
		default:
			lines = append(lines, fmt.Sprintf("%-12s %d/%d/%d  +%s", r.AgentID, r.Interesting, r.Useful, r.Understandable, r.Reward))
		}
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, queueWidth(m.width)-4, "…")
	}
	return strings.Join(lines, "\n")
}

func (m Model) promptPane() string {
	if !m.snap.Attention {
		return dimStyle.Render("no attention slot: this economy does not serve /attention/active")
	}
	p := m.snap.Active
	if p == nil {
		return dimStyle.Render("no prompt in front of you; the slot is free") + m.noteLine()
	}
	lines := []string{
		fmt.Sprintf("%s from %s, who paid %s", p.PromptID, p.AgentID, p.Amount),
		m.content.View(),
	}
	if m.content.TotalLineCount() > m.content.VisibleLineCount() {
		lines = append(lines, dimStyle.Render(fmt.Sprintf("(%d%% of the prompt; ↑/↓ scroll)", int(m.content.ScrollPercent()*100))))
	}
	var scores []string
	for i, c := range criteria {
		v := "-"
		if m.set[i] {
			v = fmt.Sprint(m.scores[i])
		}
		cell := fmt.Sprintf("%s %s", c, v)
		if i == m.focus && !m.typing {
			cell = focusStyle.Render(cell)
		}
		scores = append(scores, cell)
	}
	lines = append(lines, strings.Join(scores, "   "))
	reason := "reason: " + m.reason.View()
	if m.typing {
		reason = focusStyle.Render("reason:") + " " + m.reason.View()
	}
	lines = append(lines, reason)
	return strings.Join(lines, "\n") + m.noteLine()
}

func (m Model) noteLine() string {
	if m.note == "" {
		return ""
	}
	return "\n" + m.note
}

func (m Model) helpLine() string {
	k := m.keys
	bindings := []key.Binding{k.Next, k.Previous, k.Score, k.Raise, k.Reason, k.Submit, k.Skip, k.Scroll, k.Quit}
	if m.typing {
		bindings = reasonHelp{k}.ShortHelp()
	}
	// Every key shows, on as many lines as the width needs.
	const sep = " • "
	var lines []string
	line := ""
	for _, b := range bindings {
		item := m.help.ShortHelpView([]key.Binding{b})
		if line != "" && lipgloss.Width(line+sep+item) > m.width {
			lines, line = append(lines, line), ""
		}
		if line != "" {
			line += dimStyle.Render(sep)
		}
		line += item
	}
	return strings.Join(append(lines, line), "\n")
}

var _ help.KeyMap = keyMap{}
