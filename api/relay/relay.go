// Package relay carries HTTP calls over NATS request/reply. This is a
// minimal stand-in with the package's final signatures, to be replaced by
// the full package.
package relay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/nats-io/nats.go"
)

// SubjectDefault is the subject the economy answers System Service calls on.
const SubjectDefault = "agora.system"

type options struct{}

// Option tunes Handler or Serve.
type Option func(*options)

type call struct {
	Method string      `json:"method"`
	Target string      `json:"target"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

type answer struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// Serve answers the HTTP calls arriving on subject with h.
func Serve(nc *nats.Conn, subject string, h http.Handler, _ ...Option) (func(), error) {
	sub, err := nc.QueueSubscribe(subject, "agora-relay", func(m *nats.Msg) {
		go func() {
			var c call
			if err := json.Unmarshal(m.Data, &c); err != nil {
				return
			}
			r := httptest.NewRequest(c.Method, c.Target, bytes.NewReader(c.Body))
			r.Header = c.Header
			r.RemoteAddr = "nats-relay"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			data, _ := json.Marshal(answer{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()})
			_ = m.Respond(data)
		}()
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Handler forwards each HTTP call it gets over NATS to subject.
func Handler(nc *nats.Conn, subject string, _ ...Option) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data, _ := json.Marshal(call{Method: r.Method, Target: r.URL.RequestURI(), Header: r.Header, Body: body})
		m, err := nc.Request(subject, data, 90*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var a answer
		if err := json.Unmarshal(m.Data, &a); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range a.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	})
}
