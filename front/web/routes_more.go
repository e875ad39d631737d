package web

// routesMore registers the pages beyond the overview and what they load.
func (d *Dashboard) routesMore() {
	m := d.mux
	m.HandleFunc("GET "+Prefix+"charts", d.page(d.charts))
	m.HandleFunc("GET "+Prefix+"agents", d.page(d.agents))
	m.HandleFunc("GET "+Prefix+"agents/{id}", d.page(d.agent))
	m.HandleFunc("GET "+Prefix+"tree", d.page(d.tree))
	m.HandleFunc("GET "+Prefix+"bids", d.page(d.bids))
	m.HandleFunc("GET "+Prefix+"transactions", d.page(d.transactions))
	m.HandleFunc("GET "+Prefix+"attention", d.page(d.attentionPage))
	m.HandleFunc("POST "+Prefix+"attention/{id}/response", d.action(d.rate))
	m.HandleFunc("POST "+Prefix+"attention/{id}/skip", d.action(d.skip))

	m.HandleFunc("GET "+Prefix+"data/history/markets", d.data(d.marketsHistory))
	m.HandleFunc("GET "+Prefix+"data/history/economy", d.data(d.economyHistory))
	m.HandleFunc("GET "+Prefix+"data/agents/{id}/history", d.data(d.agentHistory))
	m.HandleFunc("GET "+Prefix+"data/distribution", d.data(d.distributionData))
}
