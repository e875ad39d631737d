package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agora-econ/agora/events"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agora.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

func TestDefaultValidatesAndMatchesSpec(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	e := c.Economy
	if e.InitialCreditBudget.Micros() != events.Credits(1000) ||
		e.SpawnCost.Micros() != events.Credits(100) ||
		e.MessageCost.Micros() != events.Credits(1) ||
		e.AttentionConversionRates != (ConversionRates{credits(50, 0), credits(50, 0), credits(50, 0)}) ||
		!e.Genesis {
		t.Errorf("economy defaults = %+v", e)
	}
	want := map[string]Resource{
		"tokens":      {Supply: WholeUnits(10000), InitialPrice: 100_000, MinPrice: 1_000, MaxPrice: 10_000_000},
		"cpu_seconds": {Supply: WholeUnits(100), InitialPrice: 5_000_000, MinPrice: 50_000, MaxPrice: 500_000_000},
		"memory_mb":   {Supply: WholeUnits(10000), InitialPrice: 10_000, MinPrice: 100, MaxPrice: 1_000_000},
		"attention":   {Supply: WholeUnits(1), InitialPrice: 50_000_000, MinPrice: 500_000, MaxPrice: 5_000_000_000},
	}
	if !reflect.DeepEqual(c.Resources, want) {
		t.Errorf("resources = %+v\nwant %+v", c.Resources, want)
	}
	a := c.Allocation
	if a.ScheduleSeconds != 10 || a.TransactionHistoryLength != 20 || a.HighMark != 0.8 || a.LowMark != 0.2 ||
		a.PriceStepUp != 0.1 || a.PriceStepDown != 0.1 || a.LeaseTimeoutSeconds != 120 {
		t.Errorf("allocation = %+v", a)
	}
	if c.Execution != (Execution{TimeoutSeconds: 30, DefaultMemoryMB: 100, WorkspaceMB: 256, WorkerAckSeconds: 10}) {
		t.Errorf("execution = %+v", c.Execution)
	}
	if c.Nats != (Nats{Host: "127.0.0.1", Port: 4222, Sync: "always", Replicas: 1, Stream: "AGORA_EVENTS"}) || !c.Nats.Embedded() {
		t.Errorf("nats = %+v", c.Nats)
	}
	if c.Runtime != (Runtime{SnapshotEvery: 100, IdempotencyMemory: 256, IdleSeconds: 60}) {
		t.Errorf("runtime = %+v", c.Runtime)
	}
	if c.Cluster != (Cluster{FailoverSeconds: 10}) || c.Cluster.Failover().Seconds() != 10 {
		t.Errorf("cluster = %+v", c.Cluster)
	}
	if c.Inference != (Inference{APIKeyEnv: "AGORA_INFERENCE_API_KEY", TimeoutSeconds: 60}) || c.Inference.Timeout().Seconds() != 60 {
		t.Errorf("inference = %+v", c.Inference)
	}
	if c.Server.Listen != "127.0.0.1:8080" || c.Server.OperatorToken != "" || c.Data.Dir != "./data" {
		t.Errorf("server/data = %+v %+v", c.Server, c.Data)
	}
	if c.Allocation.Schedule().Seconds() != 10 || c.Execution.Timeout().Seconds() != 30 || c.Allocation.LeaseTimeout().Seconds() != 120 {
		t.Errorf("durations wrong")
	}
	// Default returns a fresh map each time.
	c.Resources["tokens"] = Resource{}
	if Default().Resources["tokens"].Supply != WholeUnits(10000) {
		t.Error("Default shares its Resources map")
	}
}

func TestLoadEmptyPathIsDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(\"\") = %+v", c)
	}
	for _, body := range []string{"", "\n# only a comment\n", "---\n"} {
		c, err := Load(writeFile(t, body))
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("%q: not the defaults", body)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(p)
	mustContain(t, err, p, "does not exist")
}

func TestLoadOverlaysAFewKeys(t *testing.T) {
	p := writeFile(t, `
economy:
  spawn_cost: 0.5
  attention_conversion_rates: {useful: 10}
resources:
  cpu_seconds: {initial_price: 10}     # bounds follow: 0.1 and 1000
  memory_mb: {min_price: 0.005}
  tokens: null                         # removed
  gpu_seconds: {supply: 2.5, initial_price: 40, max_price: 80}
allocation:
  schedule_seconds: 0.25
inference:
  url: http://127.0.0.1:11434/v1
  model: llama3
  timeout_seconds: 2.5
nats:
  sync: interval
  port: 4333
server:
  operator_token: abcdefghijklmnop0123
data:
  dir: /var/lib/agora
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Economy.SpawnCost = credits(0, 500_000)
	want.Economy.AttentionConversionRates.Useful = credits(10, 0)
	want.Resources["cpu_seconds"] = Resource{Supply: WholeUnits(100), InitialPrice: credits(10, 0), MinPrice: credits(0, 100_000), MaxPrice: credits(1000, 0)}
	mem := want.Resources["memory_mb"]
	mem.MinPrice = credits(0, 5_000)
	want.Resources["memory_mb"] = mem
	delete(want.Resources, "tokens")
	want.Resources["gpu_seconds"] = Resource{Supply: 2_500_000, InitialPrice: credits(40, 0), MinPrice: credits(0, 400_000), MaxPrice: credits(80, 0)}
	want.Allocation.ScheduleSeconds = 0.25
	want.Inference.URL, want.Inference.Model, want.Inference.TimeoutSeconds = "http://127.0.0.1:11434/v1", "llama3", 2.5
	want.Nats.Sync = SyncInterval
	want.Nats.Port = 4333
	want.Server.OperatorToken = "abcdefghijklmnop0123"
	want.Data.Dir = "/var/lib/agora"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if got := c.Allocation.Schedule().Milliseconds(); got != 250 {
		t.Errorf("schedule = %dms", got)
	}
	if got := c.ResourceNames(); !reflect.DeepEqual(got, []string{"attention", "cpu_seconds", "gpu_seconds", "memory_mb"}) {
		t.Errorf("names = %v", got)
	}
}

func TestValidateRules(t *testing.T) {
	cases := []struct {
		name string
		mut  func(c *Config)
		want []string // substrings of the error; the first is the key
	}{
		{"budget zero", func(c *Config) { c.Economy.InitialCreditBudget = 0 }, []string{"economy.initial_credit_budget:", "greater than 0"}},
		{"budget negative", func(c *Config) { c.Economy.InitialCreditBudget = -1 }, []string{"economy.initial_credit_budget:", "negative"}},
		{"budget too big", func(c *Config) { c.Economy.InitialCreditBudget = Credits(events.AmountMax + 1) }, []string{"economy.initial_credit_budget:", "maximum"}},
		{"rate negative", func(c *Config) { c.Economy.AttentionConversionRates.Useful = -1 }, []string{"economy.attention_conversion_rates.useful:"}},
		{"spawn negative", func(c *Config) { c.Economy.SpawnCost = -1 }, []string{"economy.spawn_cost:"}},
		{"message negative", func(c *Config) { c.Economy.MessageCost = -1 }, []string{"economy.message_cost:"}},
		{"max agents zero", func(c *Config) { c.Economy.MaxAgents = 0 }, []string{"economy.max_agents:", "within 1 and"}},
		{"max agents too many", func(c *Config) { c.Economy.MaxAgents = MaxAgentsMax + 1 }, []string{"economy.max_agents:", "within 1 and"}},
		{"no cpu", func(c *Config) { delete(c.Resources, "cpu_seconds") }, []string{"resources.cpu_seconds:", "required"}},
		{"no memory", func(c *Config) { delete(c.Resources, "memory_mb") }, []string{"resources.memory_mb:", "required"}},
		{"no attention", func(c *Config) { delete(c.Resources, "attention") }, []string{"resources.attention:", "required"}},
		{"bad name", func(c *Config) { c.Resources["GPU.x"] = c.Resources["cpu_seconds"] }, []string{"resources.GPU.x:", "not a valid id"}},
		{"long name", func(c *Config) { c.Resources[strings.Repeat("a", 65)] = c.Resources["cpu_seconds"] }, []string{"resources.aaaa", "longer than 64"}},
		{"supply zero", func(c *Config) { setRes(c, "tokens", func(r *Resource) { r.Supply = 0 }) }, []string{"resources.tokens.supply:", "greater than 0"}},
		{"supply negative", func(c *Config) { setRes(c, "tokens", func(r *Resource) { r.Supply = -1 }) }, []string{"resources.tokens.supply:"}},
		{"attention supply 2", func(c *Config) { setRes(c, "attention", func(r *Resource) { r.Supply = WholeUnits(2) }) }, []string{"resources.attention.supply:", "exactly 1"}},
		{"attention supply 0.5", func(c *Config) { setRes(c, "attention", func(r *Resource) { r.Supply = 500_000 }) }, []string{"resources.attention.supply:", "exactly 1"}},
		{"price zero", func(c *Config) { setRes(c, "cpu_seconds", func(r *Resource) { r.InitialPrice = 0 }) }, []string{"resources.cpu_seconds.initial_price:", "greater than 0"}},
		{"min zero", func(c *Config) { setRes(c, "cpu_seconds", func(r *Resource) { r.MinPrice = 0 }) }, []string{"resources.cpu_seconds.min_price:", "greater than 0"}},
		{"max zero", func(c *Config) { setRes(c, "cpu_seconds", func(r *Resource) { r.MaxPrice = 0 }) }, []string{"resources.cpu_seconds.max_price:", "greater than 0"}},
		{"min above initial", func(c *Config) { setRes(c, "cpu_seconds", func(r *Resource) { r.MinPrice = credits(6, 0) }) }, []string{"resources.cpu_seconds.min_price:", "above initial_price"}},
		{"max below initial", func(c *Config) { setRes(c, "cpu_seconds", func(r *Resource) { r.MaxPrice = credits(4, 0) }) }, []string{"resources.cpu_seconds.max_price:", "below initial_price"}},
		{"schedule zero", func(c *Config) { c.Allocation.ScheduleSeconds = 0 }, []string{"allocation.schedule_seconds:", "greater than 0"}},
		{"schedule negative", func(c *Config) { c.Allocation.ScheduleSeconds = -1 }, []string{"allocation.schedule_seconds:"}},
		{"schedule NaN", func(c *Config) { c.Allocation.ScheduleSeconds = math.NaN() }, []string{"allocation.schedule_seconds:", "finite"}},
		{"schedule tiny", func(c *Config) { c.Allocation.ScheduleSeconds = 1e-9 }, []string{"allocation.schedule_seconds:", "at least"}},
		{"schedule huge", func(c *Config) { c.Allocation.ScheduleSeconds = 1e9 }, []string{"allocation.schedule_seconds:", "at most"}},
		{"history zero", func(c *Config) { c.Allocation.TransactionHistoryLength = 0 }, []string{"allocation.transaction_history_length:"}},
		{"high above 1", func(c *Config) { c.Allocation.HighMark = 1.1 }, []string{"allocation.high_mark:"}},
		{"high zero", func(c *Config) { c.Allocation.HighMark = 0 }, []string{"allocation.high_mark:"}},
		{"high NaN", func(c *Config) { c.Allocation.HighMark = math.NaN() }, []string{"allocation.high_mark:"}},
		{"low negative", func(c *Config) { c.Allocation.LowMark = -0.1 }, []string{"allocation.low_mark:"}},
		{"low equals high", func(c *Config) { c.Allocation.LowMark = 0.8 }, []string{"allocation.low_mark:", "below allocation.high_mark"}},
		{"low above high", func(c *Config) { c.Allocation.LowMark = 0.9 }, []string{"allocation.low_mark:"}},
		{"step up zero", func(c *Config) { c.Allocation.PriceStepUp = 0 }, []string{"allocation.price_step_up:"}},
		{"step up above 1", func(c *Config) { c.Allocation.PriceStepUp = 1.5 }, []string{"allocation.price_step_up:"}},
		{"step down zero", func(c *Config) { c.Allocation.PriceStepDown = 0 }, []string{"allocation.price_step_down:"}},
		{"step down above 1", func(c *Config) { c.Allocation.PriceStepDown = 2 }, []string{"allocation.price_step_down:"}},
		{"lease zero", func(c *Config) { c.Allocation.LeaseTimeoutSeconds = 0 }, []string{"allocation.lease_timeout_seconds:"}},
		{"lease below timeout", func(c *Config) { c.Allocation.LeaseTimeoutSeconds = 30 }, []string{"allocation.lease_timeout_seconds:", "execution.timeout_seconds"}},
		{"timeout zero", func(c *Config) { c.Execution.TimeoutSeconds = 0 }, []string{"execution.timeout_seconds:"}},
		{"timeout inf", func(c *Config) { c.Execution.TimeoutSeconds = math.Inf(1) }, []string{"execution.timeout_seconds:"}},
		{"memory zero", func(c *Config) { c.Execution.DefaultMemoryMB = 0 }, []string{"execution.default_memory_mb:"}},
		{"memory above supply", func(c *Config) { c.Execution.DefaultMemoryMB = 20000 }, []string{"execution.default_memory_mb:", "never fits"}},
		{"no workspace", func(c *Config) { c.Execution.WorkspaceMB = 0 }, []string{"execution.workspace_mb:", "1..1048576"}},
		{"workspace too large", func(c *Config) { c.Execution.WorkspaceMB = 1<<20 + 1 }, []string{"execution.workspace_mb:"}},
		{"expiry negative", func(c *Config) { c.Attention.PromptExpirySeconds = -1 }, []string{"attention.prompt_expiry_seconds:"}},
		{"inference url", func(c *Config) { c.Inference.URL = "ftp://x" }, []string{"inference.url:"}},
		{"inference key env", func(c *Config) { c.Inference.APIKeyEnv = "1 bad" }, []string{"inference.api_key_env:"}},
		{"inference key space", func(c *Config) { c.Inference.APIKey = "sk abc" }, []string{"inference.api_key:", "spaces"}},
		{"inference key newline", func(c *Config) { c.Inference.APIKey = "sk\nX-Evil: 1" }, []string{"inference.api_key:", "control"}},
		{"inference timeout zero", func(c *Config) { c.Inference.TimeoutSeconds = 0 }, []string{"inference.timeout_seconds:", "greater than 0"}},
		{"inference timeout negative", func(c *Config) { c.Inference.TimeoutSeconds = -1 }, []string{"inference.timeout_seconds:"}},
		{"inference timeout huge", func(c *Config) { c.Inference.TimeoutSeconds = 601 }, []string{"inference.timeout_seconds:", "at most 600"}},
		{"inference timeout NaN", func(c *Config) { c.Inference.TimeoutSeconds = math.NaN() }, []string{"inference.timeout_seconds:", "finite"}},
		{"nats url", func(c *Config) { c.Nats.URL = "http://x:4222" }, []string{"nats.url:", "scheme"}},
		{"nats url garbage", func(c *Config) { c.Nats.URL = "not a url" }, []string{"nats.url:"}},
		{"nats host", func(c *Config) { c.Nats.Host = "" }, []string{"nats.host:"}},
		{"nats host bad", func(c *Config) { c.Nats.Host = "a b" }, []string{"nats.host:"}},
		{"port zero", func(c *Config) { c.Nats.Port = 0 }, []string{"nats.port:", "1..65535"}},
		{"port too big", func(c *Config) { c.Nats.Port = 65536 }, []string{"nats.port:"}},
		{"sync", func(c *Config) { c.Nats.Sync = "never" }, []string{"nats.sync:", `"always"`}},
		{"worker ack zero", func(c *Config) { c.Execution.WorkerAckSeconds = 0 }, []string{"execution.worker_ack_seconds:"}},
		{"worker ack short", func(c *Config) { c.Execution.WorkerAckSeconds = 0.5 }, []string{"execution.worker_ack_seconds:", "at least 1"}},
		{"worker ack long", func(c *Config) { c.Execution.WorkerAckSeconds = 601 }, []string{"execution.worker_ack_seconds:", "at most 600"}},
		{"replicas 2", func(c *Config) { c.Nats.Replicas = 2 }, []string{"nats.replicas:", "1, 3 or 5"}},
		{"replicas 3 embedded", func(c *Config) { c.Nats.Replicas = 3 }, []string{"nats.replicas:", "nats.url"}},
		{"stream", func(c *Config) { c.Nats.Stream = "a.b" }, []string{"nats.stream:"}},
		{"nats url with user", func(c *Config) { c.Nats.URL = "nats://agora:secret@n1:4222" }, []string{"nats.url:", "nats.user and nats.password"}},
		{"nats url with token", func(c *Config) { c.Nats.URL = "nats://n0:4222,nats://tok@n1:4222" }, []string{"nats.url:", "nats://n1:4222 carries"}},
		{"nats user embedded", func(c *Config) { c.Nats.User, c.Nats.Password = "agora", "pw" }, []string{"nats.user:", "nats.url", "nats.password"}},
		{"nats user without password", func(c *Config) { c.Nats.URL, c.Nats.User = "nats://n1:4222", "agora" }, []string{"nats.password:", "needs a password"}},
		{"nats password without user", func(c *Config) { c.Nats.URL, c.Nats.Password = "nats://n1:4222", "pw" }, []string{"nats.user:", "needs a user"}},
		{"nats password newline", func(c *Config) { c.Nats.URL, c.Nats.User, c.Nats.Password = "nats://n1:4222", "agora", "p\nw" }, []string{"nats.password:", "control"}},
		{"nats credentials embedded", func(c *Config) { c.Nats.Credentials = "testdata/agora.creds" }, []string{"nats.credentials:", "nats.url"}},
		{"nats credentials and user", func(c *Config) {
			c.Nats.URL, c.Nats.Credentials, c.Nats.User, c.Nats.Password = "nats://n1:4222", "testdata/agora.creds", "agora", "pw"
		}, []string{"nats.credentials:", "not both"}},
		{"nats credentials missing", func(c *Config) { c.Nats.URL, c.Nats.Credentials = "nats://n1:4222", "testdata/nosuch.creds" }, []string{"nats.credentials:", "cannot read"}},
		{"nats credentials not creds", func(c *Config) { c.Nats.URL, c.Nats.Credentials = "nats://n1:4222", "config_test.go" }, []string{"nats.credentials:", "not a NATS credentials file"}},
		{"nats user spaces", func(c *Config) { c.Nats.URL, c.Nats.User, c.Nats.Password = "nats://n1:4222", " agora", "pw" }, []string{"nats.user:", "spaces"}},
		{"snapshot", func(c *Config) { c.Runtime.SnapshotEvery = 0 }, []string{"runtime.snapshot_every:"}},
		{"idempotency", func(c *Config) { c.Runtime.IdempotencyMemory = 0 }, []string{"runtime.idempotency_memory:"}},
		{"idle zero", func(c *Config) { c.Runtime.IdleSeconds = 0 }, []string{"runtime.idle_seconds:"}},
		{"idle below the least", func(c *Config) { c.Runtime.IdleSeconds = 0.001 }, []string{"runtime.idle_seconds:"}},
		{"idle above a week", func(c *Config) { c.Runtime.IdleSeconds = 8 * 86400 }, []string{"runtime.idle_seconds:"}},
		{"failover zero", func(c *Config) { c.Cluster.FailoverSeconds = 0 }, []string{"cluster.failover_seconds:", "greater than 0"}},
		{"failover below a second", func(c *Config) { c.Cluster.FailoverSeconds = 0.5 }, []string{"cluster.failover_seconds:", "at least 1"}},
		{"failover above an hour", func(c *Config) { c.Cluster.FailoverSeconds = 3601 }, []string{"cluster.failover_seconds:", "at most 3600"}},
		{"listen", func(c *Config) { c.Server.Listen = "8080" }, []string{"server.listen:"}},
		{"listen port", func(c *Config) { c.Server.Listen = "127.0.0.1:99999" }, []string{"server.listen:"}},
		{"token short", func(c *Config) { c.Server.OperatorToken = "short" }, []string{"server.operator_token:", "at least 16"}},
		{"token space", func(c *Config) { c.Server.OperatorToken = "abcdefgh ijklmnopq" }, []string{"server.operator_token:"}},
		{"data dir", func(c *Config) { c.Data.Dir = " " }, []string{"data.dir:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mut(&c)
			err := c.Validate()
			mustContain(t, err, tc.want...)
			if !strings.HasPrefix(err.Error(), tc.want[0]) {
				t.Errorf("error %q does not start with the key %q", err, tc.want[0])
			}
		})
	}
}

func setRes(c *Config, name string, f func(*Resource)) {
	r := c.Resources[name]
	f(&r)
	c.Resources[name] = r
}

func TestValidateAcceptsEdges(t *testing.T) {
	c := Default()
	c.Allocation.LowMark, c.Allocation.HighMark = 0, 1
	c.Allocation.PriceStepUp, c.Allocation.PriceStepDown = 1, 1
	c.Economy.SpawnCost, c.Economy.MessageCost = 0, 0
	c.Nats.URL, c.Nats.Replicas = "nats://a:4222, nats://b:4222,tls://c:4222", 3
	c.Server.Listen = ":0"
	c.Inference.URL = "https://api.example.com/v1"
	c.Inference.TimeoutSeconds = MaxInferenceTimeoutSeconds
	setRes(&c, "cpu_seconds", func(r *Resource) { r.MinPrice, r.MaxPrice = r.InitialPrice, r.InitialPrice })
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateCollectsAllProblems(t *testing.T) {
	c := Default()
	c.Nats.Port = 0
	c.Runtime.SnapshotEvery = 0
	c.Economy.InitialCreditBudget = 0
	err := c.Validate()
	mustContain(t, err, "nats.port:", "runtime.snapshot_every:", "economy.initial_credit_budget:")

	p := writeFile(t, "nats: {port: 0, sync: sometimes}\nallocation: {low_mark: 0.9}\nbogus: 1\n")
	_, err = Load(p)
	mustContain(t, err, "bogus:", "unknown key")
	// Decoding errors are reported before validation runs.
	p = writeFile(t, "nats: {port: 0, sync: sometimes}\nallocation: {low_mark: 0.9}\n")
	_, err = Load(p)
	mustContain(t, err, p, "nats.port:", "nats.sync:", "allocation.low_mark:")
}

func TestLoadRejectsValidationProblemsFromFile(t *testing.T) {
	cases := map[string][]string{
		"resources: {attention: {supply: 2}}":                           {"resources.attention.supply:", "exactly 1"},
		"resources: {cpu_seconds: null}":                                {"resources.cpu_seconds:", "required"},
		"resources: {Bad: {supply: 1, initial_price: 1}}":               {"resources.Bad:", "not a valid id"},
		"resources: {gpu: {supply: 1}}":                                 {"resources.gpu.initial_price:", "greater than 0"},
		"resources: {cpu_seconds: {min_price: 0.000001, max_price: 1}}": {"resources.cpu_seconds.max_price:", "below initial_price"},
		"nats: {replicas: 4}":                                           {"nats.replicas:"},
		"execution: {timeout_seconds: 500}":                             {"allocation.lease_timeout_seconds:"},
	}
	for body, want := range cases {
		_, err := Load(writeFile(t, body))
		mustContain(t, err, want...)
	}
}

func TestUnknownAndMistypedKeys(t *testing.T) {
	cases := map[string][]string{
		"bogus: 1": {"bogus:", "unknown key", "line 1"},
		"economy:\n  spawn_cost: 1\n  spawncost: 2":         {"economy.spawncost:", "unknown key", "line 3", "spawn_cost"},
		"resources:\n  cpu_seconds:\n    price: 5":          {"resources.cpu_seconds.price:", "unknown key"},
		"nats: {port: 1, port: 2}":                          {"nats.port"},
		"nats: {port: abc}":                                 {"nats.port:", "whole number"},
		"nats: {port: 1.5}":                                 {"nats.port:", "whole number"},
		"nats: {port: 99999999999999999999}":                {"nats.port:"},
		"allocation: {schedule_seconds: [1]}":               {"allocation.schedule_seconds:", "expected a number"},
		"allocation: {high_mark: .nan}":                     {"allocation.high_mark:", "finite"},
		"allocation: {schedule_seconds: ten}":               {"allocation.schedule_seconds:", "expected a number"},
		"economy: 5":                                        {"economy:", "expected a mapping"},
		"resources: [a, b]":                                 {"resources:", "expected a mapping"},
		"- 1\n- 2":                                          {"(top level)", "expected a mapping"},
		"server: {listen: {a: 1}}":                          {"server.listen:", "expected a string"},
		"a: b\n---\nc: d":                                   {"more than one YAML document"},
		"economy: {genesis: no}":                            {"economy.genesis:", "expected true or false", `"no"`},
		"economy: {genesis: 0}":                             {"economy.genesis:", "expected true or false"},
		"economy: {genesis: \"false\"}":                     {"economy.genesis:", "expected true or false"},
		"economy: {genesis: [true]}":                        {"economy.genesis:", "expected true or false"},
		"economy: {genesis: }":                              {"economy.genesis:", "expected true or false"},
		"economy: {spawn_cost: [}":                          {"not valid YAML"},
		"base: &b {supply: 1}\nresources: {x: *b}":          {"base:", "unknown key"},
		"resources:\n  x: &r {supply: 1}\n  y:\n    <<: *r": {"resources.y.<<:", "merge keys"},
	}
	for body, want := range cases {
		_, err := Parse([]byte(body))
		mustContain(t, err, want...)
	}
}

func TestExactMoney(t *testing.T) {
	ok := map[string]events.Micros{
		"0.1":       100_000,
		"1000":      1_000_000_000,
		"0.000001":  1,
		"1e3":       1_000_000_000,
		"1_000":     1_000_000_000,
		"1e12":      events.AmountMax,
		"0":         0,
		"12.340000": 12_340_000,
		"+7":        7_000_000,
	}
	for lit, want := range ok {
		c, err := Parse([]byte("economy: {spawn_cost: " + lit + "}"))
		if err != nil {
			t.Errorf("%s: %v", lit, err)
			continue
		}
		if got := c.Economy.SpawnCost.Micros(); got != want {
			t.Errorf("%s: got %d micros, want %d", lit, got, want)
		}
	}
	bad := map[string]string{
		"0.0000001":     "more than 6 decimals",
		"1.5e-6":        "more than 6 decimals",
		"1e13":          "above the maximum",
		"1000000000001": "above the maximum",
		"-5":            "negative",
		`"abc"`:         `"abc" is not a number of credits`,
		"abc":           `"abc" is not a number of credits`,
		`"5"`:           `"5" is not a number of credits`,
		".inf":          "not a finite number",
		"-.inf":         "not a finite number",
		".nan":          "not a finite number",
		"0x10":          "not a number of credits",
		"[1]":           "expected a number of credits, found a list",
		"{a: 1}":        "expected a number of credits, found a mapping",
		"null":          "found no value",
		"true":          "not a number of credits",
	}
	for lit, want := range bad {
		_, err := Parse([]byte("resources:\n  cpu_seconds:\n    initial_price: " + lit + "\n"))
		mustContain(t, err, "resources.cpu_seconds.initial_price: ", want, "line 3")
	}
	// The example of the brief, verbatim.
	_, err := Parse([]byte("resources: {cpu_seconds: {initial_price: abc}}"))
	mustContain(t, err, `resources.cpu_seconds.initial_price: "abc" is not a number of credits`)
	// Units follow the same rules.
	_, err = Parse([]byte("resources: {tokens: {supply: 0.0000001}}"))
	mustContain(t, err, "resources.tokens.supply:", "more than 6 decimals")
	_, err = Parse([]byte("resources: {tokens: {supply: many}}"))
	mustContain(t, err, `resources.tokens.supply: "many" is not a number of units`)
	c, err := Parse([]byte("resources: {cpu_seconds: {supply: 0.5}}"))
	if err != nil || c.Resources["cpu_seconds"].Supply != 500_000 {
		t.Errorf("supply 0.5: %v %v", c.Resources["cpu_seconds"].Supply, err)
	}
}

func TestRoundTrip(t *testing.T) {
	custom := Default()
	custom.Economy.InitialCreditBudget = 123_456_789 // 123.456789
	custom.Economy.AttentionConversionRates.Interesting = 1
	custom.Economy.MessageCost = 0
	custom.Economy.Genesis = false
	custom.Resources["gpu-x_1"] = Resource{Supply: 1_500_001, InitialPrice: 100_000, MinPrice: 1, MaxPrice: Credits(events.AmountMax)}
	delete(custom.Resources, "tokens")
	custom.Allocation.ScheduleSeconds = 0.1
	custom.Allocation.HighMark, custom.Allocation.LowMark = 0.95, 0.05
	custom.Attention.PromptExpirySeconds = 3600
	custom.Inference = Inference{URL: "http://127.0.0.1:11434/v1", Model: "llama3", APIKeyEnv: "", APIKey: "sk-0123", TimeoutSeconds: 0.5}
	custom.Nats = Nats{URL: "nats://a:4222,nats://b:4222", Host: "0.0.0.0", Port: 5222, Sync: SyncInterval, Replicas: 3, Stream: "X-1"}
	custom.Server = Server{Listen: "[::1]:9000", OperatorToken: "0123456789abcdef0123"}
	custom.Data.Dir = "/tmp/agora data: 'quoted'"
	if err := custom.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{"default": Default(), "custom": custom} {
		b, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Load(writeFile(t, string(b)))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: round trip differs\ngot  %+v\nwant %+v\n%s", name, got, c, b)
		}
	}
	b, _ := Default().YAML()
	for _, line := range []string{"genesis: true\n", "initial_credit_budget: 1000\n", "initial_price: 0.1\n", "min_price: 0.0001\n", "supply: 10000\n"} {
		if !strings.Contains(string(b), line) {
			t.Errorf("YAML lacks %q:\n%s", line, b)
		}
	}
}

func TestApplyOverrides(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }

	c := Default()
	if err := c.ApplyOverrides(Overrides{}); err != nil || !reflect.DeepEqual(c, Default()) {
		t.Fatalf("empty overrides changed the config: %v", err)
	}
	if err := c.ApplyOverrides(Overrides{
		DataDir: str("/srv/agora"), NatsURL: str("nats://n:4222"), NatsPort: num(5000),
		Listen: str("0.0.0.0:9090"), Sync: str("interval"),
	}); err != nil {
		t.Fatal(err)
	}
	if c.Data.Dir != "/srv/agora" || c.Nats.URL != "nats://n:4222" || c.Nats.Port != 5000 ||
		c.Server.Listen != "0.0.0.0:9090" || c.Nats.Sync != SyncInterval {
		t.Errorf("overrides not applied: %+v", c)
	}

	bad := []struct {
		o    Overrides
		want []string
	}{
		{Overrides{NatsPort: num(70000)}, []string{"nats.port (command line):", "1..65535"}},
		{Overrides{Sync: str("sometimes")}, []string{"nats.sync (command line):"}},
		{Overrides{Listen: str("nope")}, []string{"server.listen (command line):"}},
		{Overrides{DataDir: str("")}, []string{"data.dir (command line):"}},
		{Overrides{NatsURL: str("http://x")}, []string{"nats.url (command line):"}},
		{Overrides{NatsPort: num(0), Sync: str("x")}, []string{"nats.port", "nats.sync"}},
	}
	for _, tc := range bad {
		before := c.Clone()
		err := c.ApplyOverrides(tc.o)
		mustContain(t, err, tc.want...)
		if !reflect.DeepEqual(c, before) {
			t.Errorf("a rejected override changed the config")
		}
	}

	// An override that breaks a cross-field rule is rejected by Validate.
	r := Default()
	r.Nats.URL, r.Nats.Replicas = "nats://a:4222", 3
	if err := r.ApplyOverrides(Overrides{NatsURL: str("")}); err == nil || !strings.Contains(err.Error(), "nats.replicas") {
		t.Errorf("embedded with 3 replicas accepted: %v", err)
	}
	if r.Nats.URL != "nats://a:4222" {
		t.Error("rejected override applied")
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Server.OperatorToken = "0123456789abcdef0123"
	r := c.Redacted()
	if r.Server.OperatorToken == c.Server.OperatorToken {
		t.Error("token not redacted")
	}
	r.Resources["cpu_seconds"] = Resource{}
	if c.Resources["cpu_seconds"].Supply == 0 {
		t.Error("Redacted shares the Resources map")
	}
	if Default().Redacted().Server.OperatorToken != "" {
		t.Error("an empty token became non-empty")
	}
	c.Inference.APIKey = "sk-secret"
	if r := c.Redacted(); r.Inference.APIKey != "[redacted]" || c.Inference.APIKey != "sk-secret" {
		t.Errorf("inference key: redacted %q, original %q", r.Inference.APIKey, c.Inference.APIKey)
	}
	c.Nats.User, c.Nats.Password = "agora", "nats-secret"
	if r := c.Redacted(); r.Nats.Password != "[redacted]" || r.Nats.User != "agora" || c.Nats.Password != "nats-secret" {
		t.Errorf("nats password: redacted %q, original %q", r.Nats.Password, c.Nats.Password)
	}
	if b, err := c.Redacted().YAML(); err != nil || strings.Contains(string(b), "nats-secret") {
		t.Errorf("the NATS password in the printed configuration: %v", err)
	}
	if b, err := c.Redacted().YAML(); err != nil || strings.Contains(string(b), "sk-secret") {
		t.Errorf("the redacted YAML shows the key: %v\n%s", err, b)
	}
}

func TestInferenceKey(t *testing.T) {
	env := map[string]string{"AGORA_INFERENCE_API_KEY": "sk-env", "OTHER": "sk-other"}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		in   Inference
		want string
	}{
		{Default().Inference, "sk-env"},
		{Inference{APIKeyEnv: "OTHER"}, "sk-other"},
		{Inference{APIKeyEnv: "UNSET"}, ""},
		{Inference{}, ""},
		{Inference{APIKey: "sk-file", APIKeyEnv: "OTHER"}, "sk-file"},
	}
	for _, tc := range cases {
		if got := tc.in.Key(getenv); got != tc.want {
			t.Errorf("%+v: key %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorsAreJoined(t *testing.T) {
	c := Default()
	c.Nats.Port, c.Runtime.SnapshotEvery = 0, 0
	err := c.Validate()
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) || len(j.Unwrap()) != 2 {
		t.Errorf("want 2 joined errors, got %v", err)
	}
}

// TestGenesisSwitch: economy.genesis is true unless a file says false; a
// file that does not name it keeps the default.
func TestGenesisSwitch(t *testing.T) {
	for doc, want := range map[string]bool{
		"economy: {genesis: false}": false, "economy: {genesis: true}": true,
		"economy: {spawn_cost: 1}": true, "": true,
	} {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c.Economy.Genesis != want {
			t.Errorf("%q: genesis %v, want %v", doc, c.Economy.Genesis, want)
		}
	}
}

// TestNatsCredentialsAccepted: Agora's user on an external server, by
// password or by credentials file.
func TestNatsCredentialsAccepted(t *testing.T) {
	c := Default()
	c.Nats.URL, c.Nats.User, c.Nats.Password = "nats://n1:4222", "agora", "s3cret pass"
	if err := c.Validate(); err != nil {
		t.Fatalf("user and password: %v", err)
	}
	c = Default()
	c.Nats.URL, c.Nats.Credentials = "nats://n1:4222", "testdata/agora.creds"
	if err := c.Validate(); err != nil {
		t.Fatalf("credentials file: %v", err)
	}
}

// The history read model's keys: defaults, a file that sets them, and
// every value out of bounds refused with its key.
func TestHistoryKeys(t *testing.T) {
	if h := Default().History; h != (History{WindowCycles: 1000, PointsMax: 2000, AgentPointsMax: 500}) {
		t.Fatalf("defaults %+v", h)
	}
	c, err := Parse([]byte("history:\n  window_cycles: 10\n  points_max: 40\n  agent_points_max: 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.History != (History{WindowCycles: 10, PointsMax: 40, AgentPointsMax: 8}) {
		t.Fatalf("parsed %+v", c.History)
	}
	for doc, want := range map[string][]string{
		"history:\n  window_cycles: 0":                  {"history.window_cycles:", "1..1000000"},
		"history:\n  window_cycles: 1000001":            {"history.window_cycles:"},
		"history:\n  points_max: 3":                     {"history.points_max:", "4..100000"},
		"history:\n  points_max: 100001":                {"history.points_max:"},
		"history:\n  agent_points_max: -1":              {"history.agent_points_max:"},
		"history:\n  agent_points_max: 100001":          {"history.agent_points_max:"},
		"history:\n  window_cycles: 1.5":                {"history.window_cycles:"},
		"history:\n  window: 10":                        {"history.window:", "unknown key"},
		"history:\n  points_max: 3\n  window_cycles: 0": {"history.points_max:", "history.window_cycles:"},
	} {
		_, err := Parse([]byte(doc))
		mustContain(t, err, want...)
	}
}
