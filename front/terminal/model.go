package terminal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// The criteria the human scores, in the order the screen shows them and
// tab walks them.
var criteria = [3]string{"interesting", "useful", "understandable"}

// Options shape a terminal.
type Options struct {
	// Refresh is how often the economy is asked (RefreshDefault when 0).
	Refresh time.Duration
	// Title is said on the top line after the economy's address (where
	// the logs go, say).
	Title string
	// Quit is what the help line says q does: "quit", or in `agora run`
	// "quit (stops the economy)".
	Quit string
}

// Model is the terminal's state. Update and View are pure: every call to
// the economy is a tea.Cmd that Update returns, whose answer comes back as
// a message.
type Model struct {
	eco  Economy
	opts Options
	keys keyMap
	help help.Model

	width, height int

	// snap is the last snapshot that answered; down is when the economy
	// stopped answering (zero while it answers) and downErr why.
	snap    Snapshot
	seen    bool
	down    time.Time
	downErr error

	// The rating of the active prompt: promptID is the prompt it is for,
	// scores[i] the score of criteria[i] when set[i].
	promptID string
	scores   [3]int
	set      [3]bool
	focus    int
	reason   textinput.Model
	typing   bool
	content  viewport.Model
	// text is the active prompt's content, cleaned; the viewport holds it
	// wrapped to the pane's width.
	text string
	// sending is the prompt whose answer is on its way; note is the
	// outcome of the last answer, shown until the next.
	sending string
	note    string
	// done is the last prompt the human answered: its keys wait until the
	// next prompt comes.
	done string
}

// NewModel returns a terminal that shows eco.
func NewModel(eco Economy, opts Options) Model {
	if opts.Refresh <= 0 {
		opts.Refresh = RefreshDefault
	}
	if opts.Quit == "" {
		opts.Quit = "quit"
	}
	r := textinput.New()
	r.Placeholder = "why (optional)"
	r.CharLimit = ReasonRunesMax
	r.Prompt = ""
	vp := viewport.New(viewport.WithWidth(60), viewport.WithHeight(6))
	m := Model{eco: eco, opts: opts, keys: newKeyMap(opts.Quit), help: help.New(), width: 100, height: 40,
		reason: r, content: vp}
	m.resize()
	return m
}

// Messages the commands send back to Update.
type (
	// tickMsg asks for a snapshot.
	tickMsg struct{}
	// snapshotMsg is a snapshot's answer.
	snapshotMsg Snapshot
	// answeredMsg is the answer to a rating (skipped false) or a skip.
	answeredMsg struct {
		promptID string
		skipped  bool
		reward   Reward
		err      error
	}
)

// Init asks for the first snapshot at once.
func (m Model) Init() tea.Cmd { return m.fetch }

// fetch takes one snapshot. The next is asked for when it has come back,
// so calls never pile up behind an economy that is slow to answer.
func (m Model) fetch() tea.Msg {
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	return snapshotMsg(m.eco.Snapshot(ctx))
}

// Update is the terminal's reaction to a message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.resize()
		return m, nil
	case tickMsg:
		return m, m.fetch
	case snapshotMsg:
		m = m.apply(Snapshot(msg))
		return m, tea.Tick(m.opts.Refresh, func(time.Time) tea.Msg { return tickMsg{} })
	case answeredMsg:
		// The next snapshot (within Refresh) shows the slot after the
		// answer; asking now would start a second round of snapshots.
		return m.answered(msg), nil
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	if m.typing {
		var cmd tea.Cmd
		m.reason, cmd = m.reason.Update(msg)
		return m, cmd
	}
	return m, nil
}

// apply takes a snapshot in: a good one replaces the last, a failed one
// only marks the economy down, so the screen keeps what it last knew.
func (m Model) apply(s Snapshot) Model {
	if s.Err != nil {
		if m.down.IsZero() {
			m.down = s.At
		}
		m.downErr = s.Err
		return m
	}
	m.snap, m.seen, m.down, m.downErr = s, true, time.Time{}, nil
	active := ""
	if s.Active != nil {
		active = s.Active.PromptID
	}
	if active != m.promptID {
		// A new prompt (or none): a fresh rating, its content from the top.
		m.promptID, m.scores, m.set, m.focus = active, [3]int{}, [3]bool{}, 0
		m.reason.Reset()
		m.reason.Blur()
		m.typing = false
		m.text = ""
		if s.Active != nil {
			m.text = clean(s.Active.Content)
		}
		m.resize()
		m.content.GotoTop()
	}
	return m
}

// answered shows the outcome of a rating or a skip.
func (m Model) answered(a answeredMsg) Model {
	m.sending = ""
	switch {
	case a.err != nil && errors.Is(a.err, ErrNotAnswering):
		m.note = "not sent: the economy is not answering; press enter again when it is back"
	case a.err != nil:
		m.note = "refused: " + a.err.Error()
	case a.skipped:
		m.done, m.note = a.promptID, fmt.Sprintf("skipped %s", a.promptID)
	case !a.reward.Minted && a.reward.Reward == 0:
		m.done = a.promptID
		m.note = fmt.Sprintf("rated %s: a reward of 0, nothing minted", a.promptID)
	case !a.reward.Minted:
		m.done = a.promptID
		m.note = fmt.Sprintf("rated %s: nothing minted, %s died after its prompt was shown", a.promptID, a.reward.AgentID)
	default:
		m.done = a.promptID
		m.note = fmt.Sprintf("rated %s: %s credits minted to %s", a.promptID, a.reward.Reward, a.reward.AgentID)
	}
	return m
}

// key is the reaction to a key press.
func (m Model) key(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	if k.String() == "ctrl+c" {
		return m, tea.Quit
	}
	if m.typing {
		if key.Matches(k, m.keys.Done) {
			m.typing = false
			m.reason.Blur()
			return m, nil
		}
		var cmd tea.Cmd
		m.reason, cmd = m.reason.Update(k)
		return m, cmd
	}
	switch {
	case key.Matches(k, m.keys.Quit):
		return m, tea.Quit
	case key.Matches(k, m.keys.ScrollUp):
		m.content.ScrollUp(1)
	case key.Matches(k, m.keys.ScrollDown):
		m.content.ScrollDown(1)
	}
	if m.promptID == "" || m.sending != "" || m.done == m.promptID {
		// Nothing to rate, or an answer on its way: the rating keys wait.
		return m, nil
	}
	switch {
	case key.Matches(k, m.keys.Next):
		m.focus = (m.focus + 1) % len(criteria)
	case key.Matches(k, m.keys.Previous):
		m.focus = (m.focus + len(criteria) - 1) % len(criteria)
	case key.Matches(k, m.keys.Score):
		m.scores[m.focus], m.set[m.focus] = int(k.Code-'0'), true
	case key.Matches(k, m.keys.Raise):
		m.scores[m.focus], m.set[m.focus] = min(m.scores[m.focus]+1, ScoreMax), true
	case key.Matches(k, m.keys.Lower):
		m.scores[m.focus], m.set[m.focus] = max(m.scores[m.focus]-1, 0), true
	case key.Matches(k, m.keys.Reason):
		m.typing = true
		return m, m.reason.Focus()
	case key.Matches(k, m.keys.Submit):
		return m.submit()
	case key.Matches(k, m.keys.Skip):
		id := m.promptID
		m.sending, m.note = id, "skipping "+id+"..."
		return m, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
			defer cancel()
			return answeredMsg{promptID: id, skipped: true, err: m.eco.Skip(ctx, id)}
		}
	}
	return m, nil
}

// submit sends the rating once all three scores are set.
func (m Model) submit() (tea.Model, tea.Cmd) {
	for i, ok := range m.set {
		if !ok {
			m.focus, m.note = i, "score all three first: "+criteria[i]+" has no score"
			return m, nil
		}
	}
	id, r := m.promptID, m.Rating()
	m.sending, m.note = id, "sending the rating of "+id+"..."
	return m, func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
		defer cancel()
		reward, err := m.eco.Respond(ctx, id, r)
		return answeredMsg{promptID: id, reward: reward, err: err}
	}
}

// Rating is the rating as the keys have set it so far.
func (m Model) Rating() Rating {
	return Rating{Interesting: m.scores[0], Useful: m.scores[1], Understandable: m.scores[2], Reason: m.reason.Value()}
}

// resize fits the prompt's viewport to the window: the content wrapped to
// the pane's inner width, as many lines as it needs up to a fifth of the
// window (a longer one scrolls).
func (m *Model) resize() {
	w := promptInner(m.width)
	m.content.SetWidth(w)
	m.content.SetContent(ansi.Wrap(m.text, w, " -"))
	m.content.SetHeight(min(max(m.content.TotalLineCount(), 1), max(m.height/5, 3)))
	m.reason.SetWidth(max(w-10, 10))
}

// clean makes text an agent wrote safe to show: its control characters
// (escape sequences among them, which would drive the human's terminal)
// are dropped, tabs become spaces; line breaks stay.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case unicode.IsControl(r) || r == utf8.RuneError:
			return -1
		}
		return r
	}, s)
}
