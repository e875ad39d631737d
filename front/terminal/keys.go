package terminal

import "charm.land/bubbles/v2/key"

// keyMap is every key of the terminal; the help line on screen is made
// from it, so what the screen says is what the keys do. docs/operations.md
// ("Being the human") lists the same keys.
type keyMap struct {
	Next, Previous key.Binding // move between the three scores
	Score          key.Binding // 0-9 set the score in focus
	Raise, Lower   key.Binding // one up, one down (10 is reached with +)
	Reason         key.Binding // type a reason
	Submit         key.Binding
	Skip           key.Binding
	Scroll         key.Binding // the prompt's content
	ScrollUp       key.Binding
	ScrollDown     key.Binding
	Quit           key.Binding
	// Done ends the typing of a reason.
	Done key.Binding
}

// newKeyMap returns the keys; quit says what quitting does (in `agora
// run` it stops the economy).
func newKeyMap(quit string) keyMap {
	return keyMap{
		Next:       key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next score")),
		Previous:   key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous")),
		Score:      key.NewBinding(key.WithKeys("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("0-9", "score")),
		Raise:      key.NewBinding(key.WithKeys("+", "=", "right"), key.WithHelp("+/-", "score up/down")),
		Lower:      key.NewBinding(key.WithKeys("-", "left")),
		Reason:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reason")),
		Submit:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "submit")),
		Skip:       key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "skip")),
		Scroll:     key.NewBinding(key.WithKeys("up", "down", "pgup", "pgdown"), key.WithHelp("↑/↓", "scroll prompt")),
		ScrollUp:   key.NewBinding(key.WithKeys("up", "pgup")),
		ScrollDown: key.NewBinding(key.WithKeys("down", "pgdown")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", quit)),
		Done:       key.NewBinding(key.WithKeys("enter", "esc"), key.WithHelp("enter/esc", "done")),
	}
}

// ShortHelp is the help line while the human rates or watches.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Next, k.Score, k.Raise, k.Reason, k.Submit, k.Skip, k.Scroll, k.Quit}
}

// FullHelp is the same keys in one column group.
func (k keyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }

// reasonHelp is the help line while the human types a reason.
type reasonHelp struct{ keys keyMap }

func (r reasonHelp) ShortHelp() []key.Binding {
	return []key.Binding{r.keys.Done, key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit"))}
}

func (r reasonHelp) FullHelp() [][]key.Binding { return [][]key.Binding{r.ShortHelp()} }
