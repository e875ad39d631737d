package web

import (
	"net/http"

	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/markets"
)

// overviewData is the overview: each market (GET /admin/markets), the
// headline figures (GET /admin/status) and the newest money movements
// (GET /admin/history), read from the read models in memory, so that a
// page costs no read of the log.
type overviewData struct {
	Cycle   uint64
	Markets []markets.MarketState
	Status  economy.Summary
	Feed    []history.Transaction
	// Seq is the sequence the read models had applied when this was
	// read, at least.
	Seq uint64
}

func (d *Dashboard) overviewNow() overviewData {
	// The sequence first: what is read after it includes at least it.
	seq := d.deps.Changes.LastSeq()
	st := d.deps.Markets.State()
	return overviewData{Cycle: st.Cycle, Markets: st.Markets, Status: d.deps.Economy.Summary(),
		Feed: d.deps.History.Recent(FeedLengthDefault), Seq: seq}
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, s *session) {
	d.render(w, r, http.StatusOK, "overview", s, "Overview", "overview", d.overviewNow())
}

// overviewFragment is the overview's live parts at once (markets, totals,
// feed), for a client that does not take the stream.
func (d *Dashboard) overviewFragment(w http.ResponseWriter, r *http.Request, _ *session) {
	o := d.overviewNow()
	var out []byte
	for _, name := range []string{"markets", "totals", "feed"} {
		html, err := d.fragment(name, o)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		out = append(out, html...)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(out)
}
