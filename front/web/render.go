package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/agora-econ/agora/events"
)

// pages are the parsed templates: each page is the layout with the page's
// own file; the fragments (templates/fragments.html) are in every one, so
// that a page and the live stream render a fragment from one definition.
type pages struct {
	byName map[string]*template.Template
}

// funcs are the templates' helpers. Money and units are shown as the
// APIs write them (events.Micros.String: exact, no trailing zeros), so
// that a figure on a page is the figure in GET /admin/...
var funcs = template.FuncMap{
	"credits": func(m events.Micros) string { return m.String() },
	"units":   func(u events.Units) string { return u.String() },
	// ratio is parts per million as the API writes it (0.25); percent
	// the same as a rounded percentage for people.
	"ratio":   func(ppm int64) string { return events.Micros(ppm).String() },
	"percent": func(ppm int64) string { return fmt.Sprintf("%.1f%%", float64(ppm)/1e4) },
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	},
	// col is a column of the agents' table for its sort link.
	"col": func(data any, col, label string) map[string]any {
		return map[string]any{"Data": data, "Col": col, "Label": label}
	},
	"short": func(id string) string {
		if len(id) > 20 {
			return id[:20] + "…"
		}
		return id
	},
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	base, err := template.New("layout").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/fragments.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || name == "fragments" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(files, n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	p.byName["fragments"] = base
	return p, nil
}

// view is what the layout gets: the page's own data in Data.
type view struct {
	Title string
	// Nav names the menu entry to mark as current.
	Nav string
	// CSRF is the session's token for the forms; LoggedIn whether the
	// menu is shown.
	CSRF     string
	LoggedIn bool
	Data     any
}

// render writes the page name with data. It renders into a buffer first,
// so that a template error is a 500 with nothing half-written.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, title, nav string, data any) {
	t, ok := d.pages.byName[name]
	if !ok {
		d.fail(w, r, fmt.Errorf("no page %q", name))
		return
	}
	v := view{Title: title, Nav: nav, Data: data}
	if s != nil {
		v.CSRF, v.LoggedIn = s.csrf, true
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		d.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fragment renders one fragment of the templates into a string.
func (d *Dashboard) fragment(name string, data any) (string, error) {
	var buf bytes.Buffer
	if err := d.pages.byName["fragments"].ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error) {
	d.opts.Logger.Error("dashboard: page failed", "path", r.URL.Path, "err", err)
	http.Error(w, "the page failed; the economy's log has the details", http.StatusInternalServerError)
}
