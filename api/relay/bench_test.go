package relay_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRelay compares a small call (a 200-byte JSON body each way)
// made over HTTP straight to the handler with the same call relayed over
// NATS (HTTP to relay.Handler, NATS to relay.Serve, then the handler), on
// one embedded server: the ratio of the two is the relay's cost.
func BenchmarkRelay(b *testing.B) {
	body := `{"to_agent_id":"payee","amount":1.5,"memo":"` + strings.Repeat("m", 150) + `"}`
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	})
	direct := httptest.NewServer(h)
	b.Cleanup(direct.Close)
	for _, bc := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"direct", func(*testing.B) string { return direct.URL }},
		{"relayed", func(b *testing.B) string { return relayTo(b, startServer(b, nil), h, nil, nil).url }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			url := bc.url(b)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.Cleanup(client.CloseIdleConnections)
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, url+"/economic/transfer", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer token")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || n != int64(len(body)) {
						b.Errorf("answer %d, %d bytes", resp.StatusCode, n)
						return
					}
				}
			})
		})
	}
}
