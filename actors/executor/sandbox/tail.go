package sandbox

import (
	"io"
	"os"
	"time"
)

// tail keeps the last cap(buf) bytes written to it and counts them all,
// so a program that prints gigabytes costs the executor a fixed amount of
// memory.
type tail struct {
	buf   []byte
	next  int   // where the next byte goes once buf is full
	total int64 // every byte ever written
}

func newTail(size int) *tail { return &tail{buf: make([]byte, 0, size)} }

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	t.total += int64(n)
	if c := cap(t.buf); len(p) >= c {
		t.buf, t.next = append(t.buf[:0], p[len(p)-c:]...), 0
		return n, nil
	}
	if room := cap(t.buf) - len(t.buf); room > 0 {
		k := min(room, len(p))
		t.buf, p = append(t.buf, p[:k]...), p[k:]
	}
	for len(p) > 0 {
		k := copy(t.buf[t.next:], p)
		t.next, p = (t.next+k)%cap(t.buf), p[k:]
	}
	return n, nil
}

// bytes is the kept tail, oldest byte first.
func (t *tail) bytes() []byte {
	if len(t.buf) < cap(t.buf) || t.next == 0 {
		return append([]byte(nil), t.buf...)
	}
	return append(append([]byte(nil), t.buf[t.next:]...), t.buf[:t.next]...)
}

// dropped counts the bytes written but no longer kept.
func (t *tail) dropped() int64 { return t.total - int64(len(t.buf)) }

// collect reads r to its end (or until r is closed) into a tail of size
// bytes and then sends it on the returned channel.
func collect(r *os.File, size int) <-chan *tail {
	done := make(chan *tail, 1)
	go func() {
		t := newTail(size)
		// The copy ends at the end of the pipe, or when drain cuts it.
		_, _ = io.Copy(t, r)
		done <- t
	}()
	return done
}

// drain waits for the output to end, at most outputDrainTimeout, then
// cuts the pipe so that collect returns whatever it has. Only a process
// that escaped the kill (possible without bwrap) can keep the pipe open.
func drain(r *os.File, done <-chan *tail) *tail {
	defer r.Close()
	select {
	case t := <-done:
		return t
	case <-time.After(outputDrainTimeout):
	}
	// The pipe is in Go's poller, so a past deadline ends the pending read.
	if err := r.SetReadDeadline(time.Now()); err != nil {
		_ = r.Close()
	}
	return <-done
}
