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

// stream is the overview's live stream (server-sent events): each time
// the read models apply records it sends the overview's parts again as
// events named after their fragment (markets, totals, feed), which the
// page's htmx SSE extension swaps in. Records in a burst make one update
// at most every StreamIntervalMin. The read models are fed by the one
// follow of the log, so an event reaches the page within that interval
// of being applied, and the stream reads nothing of the log itself.
func (d *Dashboard) stream(w http.ResponseWriter, r *http.Request, _ *session) {
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
	last := uint64(0)
	for {
		o := d.overviewNow()
		last = o.Seq
		update, err := d.update(o)
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
