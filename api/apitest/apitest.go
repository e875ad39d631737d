// Package apitest is the client side of the HTTP APIs' tests (api/system,
// api/operator): one real request, its answer read whole, and the checks
// every route's test makes of it (a 200 with a JSON object; a problem+json
// with its status and a detail saying what it must).
package apitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// UnreadableBodies are raw chunked request bodies that cannot be read,
// each after a valid start: a chunk size that is not hexadecimal, a chunk
// longer than its size says, and a body cut short by the client's close.
var UnreadableBodies = map[string]string{
	"chunk size not hex":  "5\r\n{\"to_\r\nzz\r\nagent\r\n0\r\n\r\n",
	"chunk overruns size": "3\r\n{\"to_agent_id\"\r\n0\r\n\r\n",
	"cut short":           "40\r\n{\"to_agent_id\":",
}

// Raw sends one HTTP/1.1 request to base+path as raw bytes, with a JSON
// content type, the bearer token and Transfer-Encoding: chunked, followed
// by chunked, the body exactly as given (so it may be malformed), then
// closes its side of the connection and reads the answer.
func Raw(t testing.TB, base, method, path, token, chunked string) Answer {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := method + " " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
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

// NotLeaky checks that an answer shows nothing of the server's insides:
// no Go error text of the HTTP parser, no stack.
func NotLeaky(t testing.TB, a Answer) {
	t.Helper()
	for _, w := range []string{"chunk length", "invalid byte", "malformed chunked encoding", "unexpected EOF", "goroutine", ".go:"} {
		if strings.Contains(string(a.Body), w) {
			t.Fatalf("the answer says %q: %s", w, a.Body)
		}
	}
}

// Answered checks what any request must get, whatever it holds: a 2xx
// with a JSON body, or a 4xx problem+json with a detail and its status;
// never a 5xx. It reports whether the request was refused.
func Answered(t testing.TB, a Answer) (refused bool) {
	t.Helper()
	switch {
	case a.Status >= 200 && a.Status < 300:
		if !json.Valid(a.Body) {
			t.Fatalf("answer %d is not JSON: %s", a.Status, a.Body)
		}
		return false
	case a.Status >= 400 && a.Status < 500:
		if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Fatalf("answer %d of type %q, want application/problem+json: %s", a.Status, ct, a.Body)
		}
		m := a.JSON(t)
		if d, _ := m["detail"].(string); d == "" || fmt.Sprint(m["status"]) != fmt.Sprint(a.Status) {
			t.Fatalf("answer %d: a problem without a detail or with another status: %s", a.Status, a.Body)
		}
		return true
	}
	t.Fatalf("answer %d, want a 2xx or a 4xx: %s", a.Status, a.Body)
	return true
}

// Sendable reports whether an HTTP client can send v as a header value: no
// control character but tab (net/http refuses the request otherwise).
func Sendable(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
