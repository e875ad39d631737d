package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// stream is a page's live stream (server-sent events): each time the
// read models apply records it sends the page's live parts again as
// events named after their fragment (fragments.html), which the page's
// htmx SSE extension swaps in. ?view= names the page: overview (the
// default: markets, totals, feed) or attention (attention-summary,
// attention-queue, attention-responses, and attention-active when the
// active prompt is another than ?active=, so that a rating being typed is
// never replaced). Records in a burst make one update at most every
// StreamIntervalMin. The read models are fed by the one follow of the
// log, so an event reaches the page within that interval of being
// applied, and the stream reads nothing of the log itself.
func (d *Dashboard) stream(w http.ResponseWriter, r *http.Request, s *session) {
	var render func() (uint64, string, error)
	switch q := r.URL.Query(); q.Get("view") {
	case "", "overview":
		render = func() (uint64, string, error) {
			o := d.overviewNow()
			u, err := d.update(o)
			return o.Seq, u, err
		}
	case "attention":
		render = d.attentionUpdates(s, q.Get("active"))
	default:
		http.Error(w, "view: overview or attention", http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if d.opts.Done != nil {
		go func() {
			select {
			case <-d.opts.Done:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	// The page was read before the stream opened: the first update, at
	// once, covers what moved in between.
	for {
		last, update, err := render()
		if err != nil {
			d.opts.Logger.Error("dashboard: stream ended: a fragment failed", "err", err)
			return
		}
		// A write fails when the client has gone: the stream ends, quietly.
		if _, err := io.WriteString(w, update); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if !sleep(ctx, StreamIntervalMin) {
			return
		}
		for {
			wait, stopWait := context.WithTimeout(ctx, StreamKeepAlive)
			err := d.deps.Changes.WaitFor(wait, last+1)
			stopWait()
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, context.DeadlineExceeded) {
				// A comment line: the client ignores it, a proxy sees
				// the stream alive.
				if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
				continue
			}
			if err != nil {
				d.opts.Logger.Warn("dashboard: read models stopped; stream ended", "err", err)
				return
			}
			break
		}
	}
}

// update is the overview's parts as one event each.
func (d *Dashboard) update(o overviewData) (string, error) {
	var b strings.Builder
	for _, name := range []string{"markets", "totals", "feed"} {
		html, err := d.fragment(name, o)
		if err != nil {
			return "", err
		}
		writeEvent(&b, name, o.Seq, html)
	}
	return b.String(), nil
}

// writeEvent writes one server-sent event: its name, its id, and its data
// a line per line of data (a line of an event may not hold a newline).
func writeEvent(b *strings.Builder, name string, id uint64, data string) {
	fmt.Fprintf(b, "event: %s\nid: %d\n", name, id)
	for line := range strings.SplitSeq(strings.ReplaceAll(data, "\r", ""), "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}

// attentionUpdates renders the attention page's live parts; active is
// the prompt the page shows (its form), "" for none.
func (d *Dashboard) attentionUpdates(s *session, active string) func() (uint64, string, error) {
	return func() (uint64, string, error) {
		seq := d.deps.Changes.LastSeq()
		a := d.attentionNow()
		a.CSRF = s.csrf
		var b strings.Builder
		names := []string{"attention-summary", "attention-queue", "attention-responses"}
		now := ""
		if a.Queue.Active != nil {
			now = a.Queue.Active.PromptID
		}
		if now != active {
			names, active = append(names, "attention-active"), now
		}
		for _, name := range names {
			html, err := d.fragment(name, a)
			if err != nil {
				return 0, "", err
			}
			writeEvent(&b, name, seq, html)
		}
		return seq, b.String(), nil
	}
}

// sleep waits for d, or less if ctx ends first (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
