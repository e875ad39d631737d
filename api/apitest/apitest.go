// Package apitest is the client side of the HTTP APIs' tests (api/system,
// api/operator): one real request, its answer read whole, and the checks
// every route's test makes of it (a 200 with a JSON object; a problem+json
// with its status and a detail saying what it must).
package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Answer is an HTTP answer, read whole.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the answer as one JSON object, numbers kept as json.Number.
func (a Answer) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %s", a.Status, err, a.Body)
	}
	return m
}

// Call makes one request to base+path with client. A string body is sent as
// it is, any other non-nil body as JSON; headers are name, value pairs.
func Call(t testing.TB, client *http.Client, base, method, path, token string, body any, headers ...string) Answer {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// OK checks a 200 and returns the decoded body.
func OK(t testing.TB, a Answer) map[string]any {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", a.Status, a.Body)
	}
	return a.JSON(t)
}

// Problem checks a problem+json answer with status whose detail contains
// every one of words, and returns its detail.
func Problem(t testing.TB, a Answer, status int, words ...string) string {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status %d, want %d: %s", a.Status, status, a.Body)
	}
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q, want application/problem+json: %s", ct, a.Body)
	}
	m := a.JSON(t)
	detail, _ := m["detail"].(string)
	if detail == "" {
		t.Fatalf("problem without a detail: %s", a.Body)
	}
	if fmt.Sprint(m["status"]) != fmt.Sprint(status) {
		t.Fatalf("problem status %v, want %d", m["status"], status)
	}
	for _, w := range words {
		if !strings.Contains(detail, w) {
			t.Fatalf("detail %q does not say %q", detail, w)
		}
	}
	return detail
}
