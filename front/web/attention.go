package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/system"
	attnview "github.com/agora-econ/agora/projections/attention"
)

// attentionData is the attention page: the slot as GET
// /admin/attention/queue answers it, the human's latest responses, and
// the answer to the form just sent.
type attentionData struct {
	Queue     system.AttentionQueue
	Responses []attnview.Response
	// Answered is the response just recorded (after a rating or a skip);
	// Error the operator API's refusal of the form, Form what it held.
	Answered *attnview.Response
	Error    string
	Form     ratingForm
	// Key is the Idempotency-Key of the form shown: the same form sent
	// twice (a double click, a resend) is answered once.
	Key string
	// CSRF is the session's token, for the forms (the page's fragments
	// are rendered without the layout).
	CSRF string
}

// ratingForm is the rating form's fields as sent.
type ratingForm struct {
	Interesting, Useful, Understandable, Reason string
}

func (d *Dashboard) attentionPage(w http.ResponseWriter, r *http.Request, s *session) {
	data := d.attentionNow()
	data.CSRF = s.csrf
	if id := r.URL.Query().Get("answered"); id != "" {
		if resp, ok := d.deps.AttentionView.Response(id); ok {
			data.Answered = &resp
		}
	}
	d.render(w, r, http.StatusOK, "attention", s, "Attention", "attention", data)
}

func (d *Dashboard) attentionNow() attentionData {
	data := attentionData{Queue: system.Queue(d.deps.AttentionView, d.deps.Markets, func(attention.Prompt) bool { return true }),
		Key: randomToken()}
	data.Responses, _, _ = d.deps.AttentionView.Responses(ResponsesShown, "")
	return data
}

// rate is the rating form: POST /ui/attention/{id}/response with the
// fields interesting, useful, understandable (0 to 10) and reason. It is
// POST /attention/prompt/{id}/response of the operator API, called in
// process with the operator token: the same checks, the same reward
// minted, the same idempotency as the terminal's rating.
func (d *Dashboard) rate(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	form := ratingForm{Interesting: f.Get("interesting"), Useful: f.Get("useful"), Understandable: f.Get("understandable"),
		Reason: f.Get("reason")}
	body := map[string]any{}
	for name, v := range map[string]string{"interesting": form.Interesting, "useful": form.Useful, "understandable": form.Understandable} {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			d.refused(w, r, s, form, http.StatusUnprocessableEntity, name+": give a whole number from 0 to 10")
			return
		}
		body[name] = n
	}
	if form.Reason != "" {
		body["reason"] = form.Reason
	}
	d.answer(w, r, s, form, "response", body)
}

// skip is the form's other button: POST /ui/attention/{id}/skip, the
// operator API's POST /attention/prompt/{id}/skip.
func (d *Dashboard) skip(w http.ResponseWriter, r *http.Request, s *session) {
	body := map[string]any{}
	if reason := r.PostForm.Get("reason"); reason != "" {
		body["reason"] = reason
	}
	d.answer(w, r, s, ratingForm{Reason: r.PostForm.Get("reason")}, "skip", body)
}

// answer calls the operator API's answer route for the prompt and sends
// the browser to the attention page with the response, or shows the
// API's refusal.
func (d *Dashboard) answer(w http.ResponseWriter, r *http.Request, s *session, form ratingForm, route string, body map[string]any) {
	id := r.PathValue("id")
	b, err := json.Marshal(body)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	status, answer := d.callOperator(r.Context(), http.MethodPost, "/attention/prompt/"+url.PathEscape(id)+"/"+route,
		r.PostForm.Get("key"), b)
	if status != http.StatusOK {
		d.refused(w, r, s, form, status, problemDetail(answer))
		return
	}
	var resp operator.Response
	if err := json.Unmarshal(answer, &resp); err != nil {
		d.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"attention?answered="+url.QueryEscape(resp.PromptID), http.StatusSeeOther)
}

// refused shows the attention page again with why the form was refused.
func (d *Dashboard) refused(w http.ResponseWriter, r *http.Request, s *session, form ratingForm, status int, why string) {
	data := d.attentionNow()
	data.Error, data.Form, data.CSRF = why, form, s.csrf
	d.render(w, r, status, "attention", s, "Attention", "attention", data)
}

// callOperator calls the operator API's handler in process, as the
// operator, and returns its status and body.
func (d *Dashboard) callOperator(ctx context.Context, method, path, key string, body []byte) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.Header.Set("Authorization", "Bearer "+d.opts.Token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	d.deps.Operator.ServeHTTP(rec, req)
	return rec.status, rec.body.Bytes()
}

// problemDetail is the detail of an RFC 9457 problem, or the body as it
// is when it is not one.
func problemDetail(b []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(b, &p) == nil && (p.Detail != "" || p.Title != "") {
		if p.Detail == "" {
			return p.Title
		}
		return p.Detail
	}
	return strings.TrimSpace(string(b))
}

// recorder is the http.ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
