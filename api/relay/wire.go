package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// The relay's own headers. Every name starts with headerPrefix; a call's
// or an answer's headers of that prefix are dropped, so neither side can
// pass for the relay. None is "Status" or "Description": nats.go reads
// those as the status of a message (a no-responders answer is "Status:
// 503"), and an answer carrying them would be taken for one.
const (
	headerPrefix = "Agora-Relay-"
	// headerVersion is the wire format's version, on every message: a
	// message of another version is refused, not guessed at.
	headerVersion = headerPrefix + "Version"
	// headerMethod and headerTarget are the call's method and request
	// target (path and query, as the client sent them); headerHost its
	// Host.
	headerMethod = headerPrefix + "Method"
	headerTarget = headerPrefix + "Target"
	headerHost   = headerPrefix + "Host"
	// headerTimeout is how long the caller waits, in milliseconds: a
	// duration, not a time, since the two machines' clocks may differ.
	headerTimeout = headerPrefix + "Timeout"
	// headerStatus is the answer's HTTP status, on its first message.
	headerStatus = headerPrefix + "Status"
	// headerChunk numbers the messages of one answer: "i/n", from 1.
	headerChunk = headerPrefix + "Chunk"
)

// wireVersion is the version of this wire format.
const wireVersion = "1"

// hopByHop are the headers that describe one connection, not the call
// (RFC 9110 7.6.1), and those the relay sets itself (the body's length):
// neither side passes them on.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Host": true,
}

// copyHeaders copies the end-to-end headers of from into to: every header
// but the hop-by-hop ones, those the Connection header names, and the
// relay's own.
func copyHeaders(to map[string][]string, from http.Header) {
	named := map[string]bool{}
	for _, v := range from.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				named[http.CanonicalHeaderKey(f)] = true
			}
		}
	}
	for k, vs := range from {
		ck := http.CanonicalHeaderKey(k)
		if hopByHop[ck] || named[ck] || strings.HasPrefix(ck, headerPrefix) || ck == "Status" || ck == "Description" {
			continue
		}
		to[ck] = append([]string(nil), vs...)
	}
}

// requestMsg is the call r, with its body already read, as the message
// to send on subject, answered on reply; the caller waits for at most
// wait.
func requestMsg(r *http.Request, body []byte, subject, reply string, wait time.Duration) *nats.Msg {
	h := nats.Header{}
	copyHeaders(h, r.Header)
	h.Set(headerVersion, wireVersion)
	h.Set(headerMethod, r.Method)
	h.Set(headerTarget, r.URL.RequestURI())
	if r.Host != "" {
		h.Set(headerHost, r.Host)
	}
	h.Set(headerTimeout, strconv.FormatInt(max(wait.Milliseconds(), 1), 10))
	return &nats.Msg{Subject: subject, Reply: reply, Header: h, Data: body}
}

// errEnvelope is a call or an answer the relay cannot read.
var errEnvelope = errors.New("not a relayed call of wire version " + wireVersion)

// request is the call m carries, as an http.Request for the served
// handler, with the time its caller waits.
func request(m *nats.Msg) (*http.Request, time.Duration, error) {
	if v := m.Header.Get(headerVersion); v != wireVersion {
		return nil, 0, fmt.Errorf("%w: %s is %q", errEnvelope, headerVersion, v)
	}
	method, target := m.Header.Get(headerMethod), m.Header.Get(headerTarget)
	if method == "" || !strings.HasPrefix(target, "/") {
		return nil, 0, fmt.Errorf("%w: no method, or a target that is not a path (%q)", errEnvelope, target)
	}
	ms, err := strconv.ParseInt(m.Header.Get(headerTimeout), 10, 64)
	if err != nil || ms <= 0 {
		return nil, 0, fmt.Errorf("%w: %s is %q, not a positive number of milliseconds", errEnvelope, headerTimeout, m.Header.Get(headerTimeout))
	}
	r, err := http.NewRequest(method, target, bytes.NewReader(m.Data))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errEnvelope, err)
	}
	copyHeaders(r.Header, http.Header(m.Header))
	r.Host = m.Header.Get(headerHost)
	r.RequestURI = target
	r.RemoteAddr = RemoteAddr
	r.ContentLength = int64(len(m.Data))
	if len(m.Data) == 0 {
		r.Body = http.NoBody
	}
	return r, time.Duration(ms) * time.Millisecond, nil
}

// answerMsgs cuts an answer into messages of at most maxPayload bytes of
// headers and data each: the first carries the status and the answer's
// headers, every one its place in the sequence.
func answerMsgs(reply string, status int, header http.Header, body []byte, maxPayload int64) ([]*nats.Msg, error) {
	first := nats.Header{}
	copyHeaders(first, header)
	first.Set(headerVersion, wireVersion)
	first.Set(headerStatus, strconv.Itoa(status))
	bare := nats.Header{headerVersion: {wireVersion}}
	room1 := maxPayload - headerBytes(first) - chunkHeaderRoom
	room := maxPayload - headerBytes(bare) - chunkHeaderRoom
	if room1 <= 0 || room <= 0 {
		return nil, fmt.Errorf("the answer's headers take %d bytes, more than the NATS server's max payload (%d bytes) leaves room for", headerBytes(first), maxPayload)
	}
	n := 1
	if rest := int64(len(body)) - room1; rest > 0 {
		n += int((rest + room - 1) / room)
	}
	msgs := make([]*nats.Msg, 0, n)
	for i := 1; i <= n; i++ {
		from, size := bare, room
		if i == 1 {
			from, size = first, room1
		}
		h := nats.Header(http.Header(from).Clone())
		h.Set(headerChunk, fmt.Sprintf("%d/%d", i, n))
		cut := min(int64(len(body)), size)
		msgs = append(msgs, &nats.Msg{Subject: reply, Header: h, Data: body[:cut]})
		body = body[cut:]
	}
	return msgs, nil
}

// headerBytes is how many bytes h takes on the wire.
func headerBytes(h nats.Header) int64 { return int64((&nats.Msg{Header: h}).Size()) }

// errNoResponders is the answer NATS gives for a call no subscriber
// received.
var errNoResponders = errors.New("no responders")

// answer is what the served handler answered.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// readAnswer reads the messages of one answer with next, until the last
// or until ctx ends.
func readAnswer(ctx context.Context, next func(context.Context) (*nats.Msg, error)) (answer, error) {
	var a answer
	var buf bytes.Buffer
	for want, total := 1, 1; want <= total; want++ {
		m, err := next(ctx)
		if err != nil {
			return answer{}, err
		}
		if want == 1 && m.Header.Get(headerStatus) == "" && m.Header.Get("Status") == "503" && len(m.Data) == 0 {
			return answer{}, errNoResponders
		}
		if v := m.Header.Get(headerVersion); v != wireVersion {
			return answer{}, fmt.Errorf("%w: %s is %q", errEnvelope, headerVersion, v)
		}
		i, n, err := chunkOf(m.Header.Get(headerChunk))
		if err != nil || i != want || (want > 1 && n != total) {
			return answer{}, fmt.Errorf("%w: message %q where %d of %d was due", errEnvelope, m.Header.Get(headerChunk), want, total)
		}
		if want == 1 {
			total = n
			if a.status, err = strconv.Atoi(m.Header.Get(headerStatus)); err != nil || a.status < 100 || a.status > 999 {
				return answer{}, fmt.Errorf("%w: %s is %q", errEnvelope, headerStatus, m.Header.Get(headerStatus))
			}
			a.header = http.Header{}
			copyHeaders(a.header, http.Header(m.Header))
		}
		if buf.Len()+len(m.Data) > AnswerBytesMax {
			return answer{}, fmt.Errorf("%w: the answer is larger than %d bytes", errEnvelope, AnswerBytesMax)
		}
		buf.Write(m.Data)
	}
	a.body = buf.Bytes()
	return a, nil
}

// chunkOf reads a headerChunk value "i/n".
func chunkOf(v string) (int, int, error) {
	is, ns, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || i < 1 || n < i {
		return 0, 0, fmt.Errorf("%w: %s is %q", errEnvelope, headerChunk, v)
	}
	return i, n, nil
}
