package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/agora-econ/agora/front/web/browser"
)

// TestBenchDashboardSmall runs `agora bench dashboard` at a tiny size as a
// user would and checks its report's fields, not its timings: the log it
// built, the overview's size, both pages measured over HTTP and in the
// browser (when chromium is installed; without it the report says why),
// the targets beside them, and the audit.
func TestBenchDashboardSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an economy and serves its dashboard")
	}
	_, noChromium := browser.Executable()
	if noChromium != nil && browser.Required() {
		t.Fatalf("%v (%s=1)", noChromium, browser.RequireEnv)
	}
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"bench", "dashboard", "--agents", "3", "--events", "11", "--requests", "4", "--loads", "2",
		"--sync", "interval", "--json"})
	if err := root.ExecuteContext(benchCtx(t)); err != nil {
		t.Fatal(err)
	}
	type lat struct {
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	}
	var rep struct {
		Agents    int    `json:"agents"`
		Events    uint64 `json:"events"`
		PageBytes int    `json:"page_bytes"`
		Server    struct {
			Requests     int     `json:"requests"`
			Overview     lat     `json:"overview"`
			Static       lat     `json:"static"`
			RatioP50     float64 `json:"ratio_p50"`
			RatioP99     float64 `json:"ratio_p99"`
			TargetMillis float64 `json:"target_ms"`
		} `json:"server"`
		Browser *struct {
			Chromium      string  `json:"chromium"`
			Loads         int     `json:"loads"`
			OverviewPaint lat     `json:"overview_first_paint"`
			StaticPaint   lat     `json:"static_first_paint"`
			OverviewLoad  lat     `json:"overview_load"`
			StaticLoad    lat     `json:"static_load"`
			Ratio         float64 `json:"ratio_first_paint_p50"`
			RatioLoad     float64 `json:"ratio_load_p50"`
			TargetMillis  float64 `json:"target_ms"`
		} `json:"browser"`
		BrowserSkipped string `json:"browser_skipped"`
		Audit          struct {
			OK     bool   `json:"ok"`
			Events uint64 `json:"events"`
			Agents int    `json:"agents"`
		} `json:"audit"`
	}
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if dec.More() {
		t.Error("more than one JSON value printed")
	}
	// 3 creations and 4 transfers of 2 events, then the markets configured.
	if rep.Agents != 3 || rep.Events < 11 || !rep.Audit.OK || rep.Audit.Agents != 3 || rep.Audit.Events < rep.Events {
		t.Errorf("the economy: %+v, audit %+v; want 3 agents, 11 events at least, audited", rep, rep.Audit)
	}
	s := rep.Server
	if rep.PageBytes < 1000 || s.Requests != 4 || s.Overview.P50 <= 0 || s.Static.P50 <= 0 ||
		s.Overview.P99 < s.Overview.P50 || s.RatioP50 <= 0 || s.RatioP99 <= 0 || s.TargetMillis != 200 {
		t.Errorf("the server's figures: %+v, page of %d bytes", s, rep.PageBytes)
	}
	if noChromium != nil {
		if rep.Browser != nil || rep.BrowserSkipped == "" {
			t.Errorf("without chromium: browser %+v, skipped %q; want no figures and the reason", rep.Browser, rep.BrowserSkipped)
		}
		return
	}
	b := rep.Browser
	if b == nil {
		t.Fatalf("no browser figures (skipped: %q)", rep.BrowserSkipped)
	}
	if b.Chromium == "" || b.Loads != 2 || b.OverviewPaint.P50 <= 0 || b.StaticPaint.P50 <= 0 || b.OverviewLoad.P50 <= 0 ||
		b.StaticLoad.P50 <= 0 || b.Ratio <= 0 || b.RatioLoad <= 0 || b.TargetMillis != 1000 {
		t.Errorf("the browser's figures: %+v", *b)
	}
}

// TestBenchDashboardFlagsRejected: bad flags are usage errors (exit
// status 2) and start nothing.
func TestBenchDashboardFlagsRejected(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "dashboard", "--agents", "1"},
		{"bench", "dashboard", "--agents", "10", "--events", "5"},
		{"bench", "dashboard", "--requests", "0"},
		{"bench", "dashboard", "--loads", "-1"},
		{"bench", "dashboard", "--concurrency", "0"},
	} {
		root := newRootCommand()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(args)
		err := root.ExecuteContext(benchCtx(t))
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: err = %v; want a usage error (exit 2)", args, err)
		}
	}
}
