package web

// routesMore registers the pages beyond the overview (charts, agents, the
// bid book, transactions, attention).
func (d *Dashboard) routesMore() {}
