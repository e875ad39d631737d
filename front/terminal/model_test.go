package terminal

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

// recorder is an Economy that answers a fixed snapshot and records the
// human's answers, so that a test sees what Update's commands would send.
type recorder struct {
	mu      sync.Mutex
	snap    Snapshot
	rated   map[string]Rating
	skipped []string
	err     error
}

func (r *recorder) Snapshot(context.Context) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}

func (r *recorder) Respond(_ context.Context, id string, rating Rating) (Reward, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return Reward{}, r.err
	}
	if r.rated == nil {
		r.rated = map[string]Rating{}
	}
	r.rated[id] = rating
	return Reward{PromptID: id, AgentID: "genesis", Minted: true,
		Reward: system.Credits(events.Credits(int64(rating.Interesting+rating.Useful+rating.Understandable) * 50))}, nil
}

func (r *recorder) Skip(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = append(r.skipped, id)
	return r.err
}

// withPrompt is a snapshot with an active prompt.
func withPrompt(id, content string) Snapshot {
	return Snapshot{At: time.Unix(1_800_000_000, 0), Attention: true,
		Status: economy.Summary{LastSeq: 7, Agents: 1, AgentsAlive: 1, MintedMicros: events.Credits(1000),
			Markets: map[string]economy.MarketSummary{"cpu_seconds": {SupplyUnits: 4_000_000, LeasedUnits: 1_000_000, PriceMicros: 5_000_000}}},
		Active: &Prompt{PromptID: id, AgentID: "genesis", Amount: system.Credits(events.Credits(12)), Content: content},
		Queue: Queue{Length: 1, Price: system.Credits(events.Credits(50)),
			Prompts: []Prompt{{PromptID: "p-2", AgentID: "helper", Amount: system.Credits(events.Credits(3)), Position: 1}}},
		Responses: []Response{{PromptID: "p-0", AgentID: "genesis", Interesting: 3, Useful: 4, Understandable: 5,
			Reward: system.Credits(events.Credits(600)), Minted: true}}}
}

// press feeds keys to the model; each key is a name tea prints ("tab",
// "enter", "7") or a rune typed.
func press(t *testing.T, m Model, keys ...string) (Model, []tea.Cmd) {
	t.Helper()
	var cmds []tea.Cmd
	for _, k := range keys {
		next, cmd := m.Update(keyPress(k))
		m = next.(Model)
		if cmd != nil {
			cmds = append(cmds, cmd)
		}
	}
	return m, cmds
}

func keyPress(k string) tea.KeyPressMsg {
	switch k {
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// shown is a model that has taken snap in.
func shown(eco Economy, snap Snapshot) Model {
	m := NewModel(eco, Options{})
	next, _ := m.Update(snapshotMsg(snap))
	return next.(Model)
}

// TestKeysSetTheScores: the keys set, raise, lower and move between the
// three scores, within 0 to 10.
func TestKeysSetTheScores(t *testing.T) {
	for _, c := range []struct {
		name string
		keys []string
		want [3]int
		set  [3]bool
	}{
		{"nothing pressed", nil, [3]int{}, [3]bool{}},
		{"a digit scores the focused criterion", []string{"7"}, [3]int{7, 0, 0}, [3]bool{true, false, false}},
		{"tab moves to the next", []string{"7", "tab", "5", "tab", "9"}, [3]int{7, 5, 9}, [3]bool{true, true, true}},
		{"tab wraps around", []string{"tab", "tab", "tab", "3"}, [3]int{3, 0, 0}, [3]bool{true, false, false}},
		{"shift+tab goes back", []string{"shift+tab", "4"}, [3]int{0, 0, 4}, [3]bool{false, false, true}},
		{"+ raises to 10 and no further", []string{"9", "+", "+", "+"}, [3]int{10, 0, 0}, [3]bool{true, false, false}},
		{"- lowers to 0 and no further", []string{"1", "-", "-"}, [3]int{0, 0, 0}, [3]bool{true, false, false}},
		{"a later digit replaces", []string{"2", "8"}, [3]int{8, 0, 0}, [3]bool{true, false, false}},
		{"letters score nothing", []string{"x", "y"}, [3]int{}, [3]bool{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := press(t, shown(&recorder{}, withPrompt("p-1", "hello")), c.keys...)
			if m.scores != c.want || m.set != c.set {
				t.Fatalf("scores %v set %v, want %v %v", m.scores, m.set, c.want, c.set)
			}
		})
	}
}

// TestSubmitSendsTheRating: enter sends the three scores and the reason
// typed to the active prompt, once all three are set; the answer shows the
// reward, and the prompt's keys wait for the next prompt.
func TestSubmitSendsTheRating(t *testing.T) {
	eco := &recorder{}
	m := shown(eco, withPrompt("p-1", "a market report"))
	m, cmds := press(t, m, "enter")
	if len(cmds) != 0 || !strings.Contains(m.note, "score all three first") {
		t.Fatalf("enter with no score: cmds %d, note %q", len(cmds), m.note)
	}
	m, _ = press(t, m, "7", "tab", "5", "tab", "9", "+", "r")
	if !m.typing {
		t.Fatal("r does not start the reason")
	}
	m, _ = press(t, m, "c", "l", "e", "a", "r", "enter")
	if m.typing {
		t.Fatal("enter does not end the reason")
	}
	m, cmds = press(t, m, "enter")
	if len(cmds) != 1 {
		t.Fatalf("enter sent %d commands", len(cmds))
	}
	next, cmd := m.Update(cmds[0]())
	m = next.(Model)
	if cmd != nil {
		t.Fatal("an answer starts another round of snapshots")
	}
	want := Rating{Interesting: 7, Useful: 5, Understandable: 10, Reason: "clear"}
	if got := eco.rated["p-1"]; got != want {
		t.Fatalf("sent %+v, want %+v", got, want)
	}
	if !strings.Contains(m.note, "1100 credits minted to genesis") {
		t.Fatalf("note after the reward: %q", m.note)
	}
	// The answered prompt's keys wait: nothing is sent twice.
	if _, cmds = press(t, m, "enter", "s"); len(cmds) != 0 {
		t.Fatalf("keys of an answered prompt sent %d commands", len(cmds))
	}
	// The next prompt comes with a fresh rating.
	next, _ = m.Update(snapshotMsg(withPrompt("p-3", "next")))
	m = next.(Model)
	if m.set != ([3]bool{}) || m.reason.Value() != "" || m.focus != 0 {
		t.Fatalf("a new prompt keeps the old rating: %v %q %d", m.set, m.reason.Value(), m.focus)
	}
}

// TestSkipAndRefusals: s skips the active prompt; a refused answer and an
// economy that does not answer are shown, and the rating can be sent
// again.
func TestSkipAndRefusals(t *testing.T) {
	eco := &recorder{}
	m, cmds := press(t, shown(eco, withPrompt("p-1", "x")), "s")
	if len(cmds) != 1 {
		t.Fatalf("s sent %d commands", len(cmds))
	}
	next, _ := m.Update(cmds[0]())
	if m = next.(Model); len(eco.skipped) != 1 || eco.skipped[0] != "p-1" || !strings.Contains(m.note, "skipped p-1") {
		t.Fatalf("skip: %v, note %q", eco.skipped, m.note)
	}

	eco = &recorder{err: fmt.Errorf("%w: connection refused", ErrNotAnswering)}
	m, cmds = press(t, shown(eco, withPrompt("p-1", "x")), "1", "tab", "2", "tab", "3", "enter")
	next, _ = m.Update(cmds[0]())
	if m = next.(Model); !strings.Contains(m.note, "not answering") {
		t.Fatalf("note when the economy does not answer: %q", m.note)
	}
	eco.err = &Problem{Status: 409, Title: "Conflict", Detail: "prompt p-1 is answered already"}
	_, cmds = press(t, m, "enter")
	if len(cmds) != 1 {
		t.Fatal("a rating that was not sent cannot be sent again")
	}
	next, _ = m.Update(cmds[0]())
	if m = next.(Model); !strings.Contains(m.note, "answered already") {
		t.Fatalf("note of a refusal: %q", m.note)
	}
}

// TestTheScreen: the screen shows the markets, the economy's figures, the
// queue, the prompt, the scores and the keys; without the attention slot
// it says so; when the economy stops answering it says so, keeps the last
// figures, and recovers with the next snapshot.
func TestTheScreen(t *testing.T) {
	m := shown(&recorder{}, withPrompt("p-1", "a market report"))
	m, _ = press(t, m, "7")
	screen := plain(m.Screen())
	for _, want := range []string{"cpu_seconds", "25.0%", "price 5", "agents alive    1 of 1", "in circulation  1000",
		"1 waiting · price 50", "helper", "3/4/5  +600", "p-1 from genesis, who paid 12", "a market report", "interesting 7", "useful -",
		"enter submit", "s skip", "q quit"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the screen has no %q:\n%s", want, screen)
		}
	}

	next, _ := m.Update(snapshotMsg(Snapshot{At: time.Now(), Err: fmt.Errorf("%w: connection refused", ErrNotAnswering)}))
	m = next.(Model)
	screen = plain(m.Screen())
	if !strings.Contains(screen, "economy not answering, retrying") || !strings.Contains(screen, "cpu_seconds") {
		t.Fatalf("the screen of an economy down:\n%s", screen)
	}
	if m.scores[0] != 7 {
		t.Fatal("a failed snapshot lost the rating in progress")
	}
	next, _ = m.Update(snapshotMsg(withPrompt("p-1", "a market report")))
	if screen = plain(next.(Model).Screen()); strings.Contains(screen, "not answering") {
		t.Fatalf("the screen did not recover:\n%s", screen)
	}

	next, _ = m.Update(snapshotMsg(Snapshot{At: time.Now(), Err: &Problem{Status: 401, Title: "Unauthorized"}}))
	if screen = plain(next.(Model).Screen()); !strings.Contains(screen, "economy refuses") || strings.Contains(screen, "not answering") {
		t.Fatalf("the screen of an economy that refuses:\n%s", screen)
	}

	none := withPrompt("", "")
	none.Attention, none.Active, none.Queue, none.Responses = false, nil, Queue{}, nil
	if screen = plain(shown(&recorder{}, none).Screen()); !strings.Contains(screen, "no attention slot") {
		t.Fatalf("the screen without the attention slot:\n%s", screen)
	}
}

// TestQuitAndScroll: q and ctrl+c quit; the arrows scroll a long prompt;
// while a reason is typed, q is a letter of it.
func TestQuitAndScroll(t *testing.T) {
	long := strings.Repeat("line\n", 100)
	m := shown(&recorder{}, withPrompt("p-1", long))
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmds := press(t, m, k)
		if len(cmds) != 1 || !isQuit(cmds[0]()) {
			t.Fatalf("%s does not quit", k)
		}
	}
	m, _ = press(t, m, "down", "down")
	if m.content.YOffset() != 2 {
		t.Fatalf("two downs scrolled to %d", m.content.YOffset())
	}
	m, _ = press(t, m, "up")
	if m.content.YOffset() != 1 {
		t.Fatalf("an up scrolled to %d", m.content.YOffset())
	}
	m, _ = press(t, m, "r", "q")
	if m.reason.Value() != "q" {
		t.Fatalf("q typed in the reason gave %q", m.reason.Value())
	}
}

// plain is the screen without its colours.
func plain(s string) string { return ansi.Strip(s) }

func isQuit(msg tea.Msg) bool {
	_, ok := msg.(tea.QuitMsg)
	return ok
}

// TestTheScreenFitsTheWindow: whatever the width, no line of the screen
// is wider than the window, a long prompt wrapped within its pane; an
// agent's escape sequences never reach the terminal.
func TestTheScreenFitsTheWindow(t *testing.T) {
	content := strings.Repeat("a long prompt without end ", 40) + "\x1b[2J\x1b]0;owned\x07\ttabbed\nlast line"
	snap := withPrompt("p-1", content)
	snap.Activity = []Transaction{{AgentID: "genesis", Kind: "transfer_out", Memo: strings.Repeat("memo ", 60) + "\x1b[31m"}}
	for _, width := range []int{80, 100, 140} {
		next, _ := shown(&recorder{}, snap).Update(tea.WindowSizeMsg{Width: width, Height: 40})
		m := next.(Model)
		raw := m.Screen()
		for _, esc := range []string{"\x1b[2J", "\x1b]0;", "\x07", "\x1b[31m"} {
			if strings.Contains(raw, esc) {
				t.Fatalf("width %d: the agent's %q reached the screen", width, esc)
			}
		}
		for i, line := range strings.Split(plain(raw), "\n") {
			if w := lipgloss.Width(line); w > width {
				t.Fatalf("width %d: line %d is %d wide:\n%s", width, i, w, plain(raw))
			}
		}
		if !strings.Contains(plain(raw), "scroll") {
			t.Fatalf("width %d: a long prompt says nothing of scrolling:\n%s", width, plain(raw))
		}
	}
}
