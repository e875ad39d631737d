package system_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

// benchSenders is how many agents send transfers in BenchmarkHTTPTransfer:
// enough that the calls in flight are not all queued on one account.
const benchSenders = 16

// BenchmarkHTTPBalance is the calls per second of GET /economic/balance
// over real HTTP, from several clients at once: the cost of the service's
// own path (authentication, admission, the account's answer) with no
// write behind it.
func BenchmarkHTTPBalance(b *testing.B) {
	e := startEconomy(b, harnessOptions{})
	e.create("alice", 100)
	token := e.issue("alice", 0, time.Now().Add(time.Hour))
	benchHTTP(b, e, func(int64) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, e.server.URL+"/economic/balance", nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req, err
	})
}

// BenchmarkHTTPTransfer is the calls per second of POST /economic/transfer
// over real HTTP: each call a new command (its own Idempotency-Key) of one
// micro-credit from one of benchSenders agents, durable in the log and
// read back by the read models before it is answered.
func BenchmarkHTTPTransfer(b *testing.B) {
	e := startEconomy(b, harnessOptions{})
	e.create("sink", 1)
	tokens := make([]string, benchSenders)
	for i := range tokens {
		id := fmt.Sprintf("sender-%02d", i)
		e.create(id, 1_000_000)
		tokens[i] = e.issue(id, 0, time.Now().Add(time.Hour))
	}
	body := []byte(`{"to_agent_id":"sink","amount":0.000001}`)
	benchHTTP(b, e, func(n int64) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, e.server.URL+"/economic/transfer", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+tokens[n%benchSenders])
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "bench-"+events.NewID())
		}
		return req, err
	})
}

// benchHTTP sends the requests next makes from 4 clients per core and
// reports the calls answered 200 per second, and the CPU time the process
// spent per call (the service, its economy and the clients together):
// on a shared machine the first follows the load of others, the second
// much less.
func benchHTTP(b *testing.B, e *economyForTest, next func(n int64) (*http.Request, error)) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var count atomic.Int64
	b.SetParallelism(4)
	cpu := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := next(count.Add(1))
			if err != nil {
				b.Error(err)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, answer)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/call")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
