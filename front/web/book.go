package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/history"
)

// bidsData is a page of the bid book (GET /admin/bids).
type bidsData struct {
	Bids     []bidbook.Bid
	Resource string
	// Resources are the markets, for the filter.
	Resources []string
	Total     int
	// Next is the next page's link; First the first page's, when this is
	// not it.
	Next, First string
	Error       string
}

// bids is the open bids in the clearing's order, BidsPage at a time:
// ?resource= keeps the bids naming it, ?cursor= is the next page's.
func (d *Dashboard) bids(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	data := bidsData{Resource: q.Get("resource")}
	for _, m := range d.deps.Markets.State().Markets {
		data.Resources = append(data.Resources, m.Resource)
	}
	link := func(cursor string) string {
		v := url.Values{}
		if data.Resource != "" {
			v.Set("resource", data.Resource)
		}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		if len(v) == 0 {
			return Prefix + "bids"
		}
		return Prefix + "bids?" + v.Encode()
	}
	page, next, err := d.deps.Bids.Page(data.Resource, BidsPage, q.Get("cursor"))
	if err != nil {
		data.Error = "That page is not one the book gave: " + err.Error()
		data.First = link("")
		d.render(w, r, http.StatusBadRequest, "bids", s, "Bid book", "bids", data)
		return
	}
	data.Bids, data.Total = page, d.deps.Bids.Count()
	if data.Resource != "" {
		data.Total = d.deps.Bids.CountFor(data.Resource)
	}
	if next != "" {
		data.Next = link(next)
	}
	if q.Get("cursor") != "" {
		data.First = link("")
	}
	d.render(w, r, http.StatusOK, "bids", s, "Bid book", "bids", data)
}

// transactionsData is a page of the money movements (GET /admin/history).
type transactionsData struct {
	Transactions []history.Transaction
	Agent        string
	Page         int
	Prev, Next   string
	Error        string
}

// transactions is every agent's money movements newest first (or one
// agent's, ?agent=), TransactionsPage at a time (?page= from 1), as far
// back as the history read model keeps them.
func (d *Dashboard) transactions(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	data := transactionsData{Agent: q.Get("agent"), Page: max(1, atoi(q.Get("page")))}
	var txs []history.Transaction
	want := data.Page*TransactionsPage + 1 // one more tells whether a next page follows
	if data.Agent != "" {
		if _, ok := d.deps.Directory.Get(data.Agent); !ok {
			data.Error = "There is no agent " + data.Agent + "."
			d.render(w, r, http.StatusNotFound, "transactions", s, "Transactions", "transactions", data)
			return
		}
		txs = d.deps.History.ForAgent(data.Agent, want)
	} else {
		txs = d.deps.History.Recent(want)
	}
	link := func(page int) string {
		v := url.Values{}
		if data.Agent != "" {
			v.Set("agent", data.Agent)
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		if len(v) == 0 {
			return Prefix + "transactions"
		}
		return Prefix + "transactions?" + v.Encode()
	}
	from := (data.Page - 1) * TransactionsPage
	if from < len(txs) {
		data.Transactions = txs[from:min(len(txs), from+TransactionsPage)]
	}
	if len(txs) > data.Page*TransactionsPage {
		data.Next = link(data.Page + 1)
	}
	if data.Page > 1 {
		data.Prev = link(data.Page - 1)
	}
	d.render(w, r, http.StatusOK, "transactions", s, "Transactions", "transactions", data)
}
