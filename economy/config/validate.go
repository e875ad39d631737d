package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// Bounds of the time settings, in seconds.
const (
	// MinScheduleSeconds is the shortest clearing interval, 1 ms.
	MinScheduleSeconds = 0.001
	// MaxScheduleSeconds is the longest clearing interval, one day.
	MaxScheduleSeconds = 86400
	// MaxTimeoutSeconds bounds execution and lease timeouts, prompt
	// expiry and runtime.idle_seconds: one week.
	MaxTimeoutSeconds = 7 * 86400
	// MinIdleSeconds is the shortest runtime.idle_seconds, 10 ms: below
	// it an actor would be put to sleep between two commands of one
	// client and loaded again for the next.
	MinIdleSeconds = 0.01
	// MinFailoverSeconds is the shortest cluster.failover_seconds, one
	// second: the lease lives half of it and is renewed three times within
	// that, and a shorter one would make a node that pauses for a garbage
	// collection or a slow fsync give its actors up.
	MinFailoverSeconds = 1
	// MaxFailoverSeconds is the longest cluster.failover_seconds, one
	// hour: the economy stands still that long when its node dies.
	MaxFailoverSeconds = 3600
	// MaxTransactionHistoryLength bounds allocation.transaction_history_length.
	MaxTransactionHistoryLength = 100000
	// MaxWorkspaceMB bounds execution.workspace_mb: 1 TiB, the sandbox's
	// own bound.
	MaxWorkspaceMB = 1 << 20
	// MinWorkerAckSeconds and MaxWorkerAckSeconds bound
	// execution.worker_ack_seconds: a worker heartbeats every quarter of
	// it, and a dead worker's order waits that long for another.
	MinWorkerAckSeconds = 1
	MaxWorkerAckSeconds = 600
	// MaxInferenceTimeoutSeconds bounds inference.timeout_seconds: ten
	// minutes, far past any execution's use for one answer.
	MaxInferenceTimeoutSeconds = 600
	// MinOperatorTokenLength is the shortest operator token accepted.
	MinOperatorTokenLength = 16
)

// Bounds of the history read model's keys (history.*). A series thins
// half of its old points at a time, so it needs a few to thin; the upper
// bounds keep one series, and the snapshot that holds them all, within
// what a read model may cost.
const (
	// MaxHistoryWindowCycles bounds history.window_cycles.
	MaxHistoryWindowCycles = 1_000_000
	// MinHistoryPoints and MaxHistoryPoints bound history.points_max and
	// history.agent_points_max.
	MinHistoryPoints = 4
	MaxHistoryPoints = 100_000
)

// Validate checks every rule of the configuration and reports all the
// problems at once (errors.Join), each prefixed with its key path, e.g.
// "allocation.low_mark: 0.9 must be below allocation.high_mark (0.8)".
func (c Config) Validate() error {
	v := &validator{}
	c.validateEconomy(v)
	c.validateResources(v)
	c.validateAllocation(v)
	c.validateExecution(v)
	v.seconds("attention.prompt_expiry_seconds", c.Attention.PromptExpirySeconds, 0, MaxTimeoutSeconds, true)
	c.validateInference(v)
	c.validateNats(v)
	if c.Runtime.SnapshotEvery < 1 {
		v.errorf("runtime.snapshot_every", "%d must be at least 1", c.Runtime.SnapshotEvery)
	}
	if c.Runtime.IdempotencyMemory < 1 {
		v.errorf("runtime.idempotency_memory", "%d must be at least 1", c.Runtime.IdempotencyMemory)
	}
	v.seconds("runtime.idle_seconds", c.Runtime.IdleSeconds, MinIdleSeconds, MaxTimeoutSeconds, false)
	v.seconds("cluster.failover_seconds", c.Cluster.FailoverSeconds, MinFailoverSeconds, MaxFailoverSeconds, false)
	v.check("server.listen", checkListen(c.Server.Listen))
	v.check("server.operator_token", checkToken(c.Server.OperatorToken))
	v.check("data.dir", checkDataDir(c.Data.Dir))
	c.validateHistory(v)
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) errorf(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// check records err, what a check found wrong with key's value, if any.
func (v *validator) check(key string, err error) {
	if err != nil {
		v.errorf(key, "%s", err)
	}
}

// money checks 0 <= c <= 1e12 credits, and c > 0 when positive is set.
func (v *validator) money(key string, c Credits, positive bool) {
	switch {
	case c < 0:
		v.errorf(key, "%s credits is negative", c)
	case positive && c == 0:
		v.errorf(key, "must be greater than 0 credits")
	case c.Micros() > events.AmountMax:
		v.errorf(key, "%s credits is above the maximum of %d credits", c, int64(events.AmountMaxCredits))
	}
}

// seconds checks a finite time in [lo, hi] seconds; zero is refused unless
// zeroOK.
func (v *validator) seconds(key string, s, lo, hi float64, zeroOK bool) {
	switch {
	case math.IsNaN(s) || math.IsInf(s, 0):
		v.errorf(key, "%v is not a finite number of seconds", s)
	case s == 0 && zeroOK:
	case s <= 0:
		v.errorf(key, "%v must be greater than 0 seconds", s)
	case s < lo:
		v.errorf(key, "%v must be at least %v seconds", s, lo)
	case s > hi:
		v.errorf(key, "%v must be at most %v seconds", s, hi)
	}
}

func (c Config) validateEconomy(v *validator) {
	e := c.Economy
	v.money("economy.initial_credit_budget", e.InitialCreditBudget, true)
	v.money("economy.attention_conversion_rates.interesting", e.AttentionConversionRates.Interesting, false)
	v.money("economy.attention_conversion_rates.useful", e.AttentionConversionRates.Useful, false)
	v.money("economy.attention_conversion_rates.understandable", e.AttentionConversionRates.Understandable, false)
	v.money("economy.spawn_cost", e.SpawnCost, false)
	v.money("economy.message_cost", e.MessageCost, false)
	if e.InboxLimit < 1 || e.InboxLimit > agent.InboxLimitMax {
		v.errorf("economy.inbox_limit", "%d must be within 1 and %d unread messages", e.InboxLimit, agent.InboxLimitMax)
	}
	if e.MaxAgents < 1 || e.MaxAgents > MaxAgentsMax {
		v.errorf("economy.max_agents", "%d must be within 1 and %d", e.MaxAgents, MaxAgentsMax)
	}
}

// MaxAgentsMax bounds economy.max_agents: every living agent is an actor,
// a workspace and a line of the directory.
const MaxAgentsMax = 1_000_000

func (c Config) validateResources(v *validator) {
	for _, name := range RequiredResources {
		if _, ok := c.Resources[name]; !ok {
			v.errorf("resources."+name, "is required (every economy has cpu_seconds, memory_mb and attention)")
		}
	}
	for _, name := range c.ResourceNames() {
		r := c.Resources[name]
		key := "resources." + name
		if err := events.ValidateID(name); err != nil {
			v.errorf(key, "the name is not a valid id: %s", strings.TrimPrefix(err.Error(), events.ErrInvalidID.Error()+": "))
		}
		switch {
		case r.Supply <= 0:
			v.errorf(key+".supply", "%s must be greater than 0", r.Supply)
		case r.Supply > Units(events.AmountMax):
			v.errorf(key+".supply", "%s is above the maximum of %d", r.Supply, int64(events.AmountMaxCredits))
		case name == ResourceAttention && r.Supply != WholeUnits(1):
			v.errorf(key+".supply", "%s must be exactly 1: one prompt is in front of the human at a time", r.Supply)
		}
		v.money(key+".initial_price", r.InitialPrice, true)
		v.money(key+".min_price", r.MinPrice, true)
		v.money(key+".max_price", r.MaxPrice, true)
		if r.MinPrice > 0 && r.InitialPrice > 0 && r.MinPrice > r.InitialPrice {
			v.errorf(key+".min_price", "%s is above initial_price (%s)", r.MinPrice, r.InitialPrice)
		}
		if r.MaxPrice > 0 && r.InitialPrice > 0 && r.InitialPrice > r.MaxPrice {
			v.errorf(key+".max_price", "%s is below initial_price (%s)", r.MaxPrice, r.InitialPrice)
		}
	}
}

func (c Config) validateAllocation(v *validator) {
	a := c.Allocation
	v.seconds("allocation.schedule_seconds", a.ScheduleSeconds, MinScheduleSeconds, MaxScheduleSeconds, false)
	if n := a.TransactionHistoryLength; n < 1 || n > MaxTransactionHistoryLength {
		v.errorf("allocation.transaction_history_length", "%d must be in 1..%d", n, MaxTransactionHistoryLength)
	}
	highOK := fraction(a.HighMark) && a.HighMark > 0
	if !highOK {
		v.errorf("allocation.high_mark", "%v must be in (0, 1]", a.HighMark)
	}
	switch {
	case !fraction(a.LowMark) || a.LowMark == 1:
		v.errorf("allocation.low_mark", "%v must be in [0, 1)", a.LowMark)
	case highOK && a.LowMark >= a.HighMark:
		v.errorf("allocation.low_mark", "%v must be below allocation.high_mark (%v)", a.LowMark, a.HighMark)
	}
	if !fraction(a.PriceStepUp) || a.PriceStepUp == 0 {
		v.errorf("allocation.price_step_up", "%v must be in (0, 1] (0.1 means +10%%)", a.PriceStepUp)
	}
	if !fraction(a.PriceStepDown) || a.PriceStepDown == 0 {
		v.errorf("allocation.price_step_down", "%v must be in (0, 1] (0.1 means -10%%)", a.PriceStepDown)
	}
	v.seconds("allocation.lease_timeout_seconds", a.LeaseTimeoutSeconds, 0, MaxTimeoutSeconds, false)
	if finite(a.LeaseTimeoutSeconds) && finite(c.Execution.TimeoutSeconds) && c.Execution.TimeoutSeconds > 0 &&
		a.LeaseTimeoutSeconds > 0 && a.LeaseTimeoutSeconds <= c.Execution.TimeoutSeconds {
		v.errorf("allocation.lease_timeout_seconds", "%v must be greater than execution.timeout_seconds (%v), or running executions would lose their leases",
			a.LeaseTimeoutSeconds, c.Execution.TimeoutSeconds)
	}
}

// finite reports whether f is neither NaN nor an infinity.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// fraction reports whether f is in [0, 1].
func fraction(f float64) bool { return f >= 0 && f <= 1 }

func (c Config) validateExecution(v *validator) {
	e := c.Execution
	v.seconds("execution.timeout_seconds", e.TimeoutSeconds, 0, MaxTimeoutSeconds, false)
	switch mem, ok := c.Resources[ResourceMemoryMB]; {
	case e.DefaultMemoryMB < 1:
		v.errorf("execution.default_memory_mb", "%d must be at least 1", e.DefaultMemoryMB)
	case ok && mem.Supply > 0 && e.DefaultMemoryMB > int64(mem.Supply/MicroUnitsPerUnit):
		v.errorf("execution.default_memory_mb", "%d is above resources.memory_mb.supply (%s): such a bundle never fits", e.DefaultMemoryMB, mem.Supply)
	}
	if e.WorkspaceMB < 1 || e.WorkspaceMB > MaxWorkspaceMB {
		v.errorf("execution.workspace_mb", "%d must be in 1..%d", e.WorkspaceMB, MaxWorkspaceMB)
	}
	v.seconds("execution.worker_ack_seconds", e.WorkerAckSeconds, MinWorkerAckSeconds, MaxWorkerAckSeconds, false)
}

func (c Config) validateInference(v *validator) {
	in := c.Inference
	if in.URL != "" {
		u, err := url.Parse(in.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf("inference.url", "%q is not an http(s) URL", in.URL)
		}
	}
	if in.APIKeyEnv != "" && !envName(in.APIKeyEnv) {
		v.errorf("inference.api_key_env", "%q is not an environment variable name", in.APIKeyEnv)
	}
	if strings.ContainsFunc(in.APIKey, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		v.errorf("inference.api_key", "must not contain spaces or control characters")
	}
	v.seconds("inference.timeout_seconds", in.TimeoutSeconds, 0, MaxInferenceTimeoutSeconds, false)
}

func envName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

func (c Config) validateNats(v *validator) {
	n := c.Nats
	v.check("nats.url", checkNatsURL(n.URL))
	v.check("nats.host", checkHost(n.Host))
	v.check("nats.port", checkPort(n.Port))
	v.check("nats.sync", checkSync(n.Sync))
	switch {
	case n.Replicas != 1 && n.Replicas != 3 && n.Replicas != 5:
		v.errorf("nats.replicas", "%d must be 1, 3 or 5", n.Replicas)
	case n.Replicas > 1 && n.URL == "":
		v.errorf("nats.replicas", "%d needs a cluster: set nats.url (the embedded server is a single node)", n.Replicas)
	}
	if !streamName(n.Stream) {
		v.errorf("nats.stream", "%q is not a stream name: 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", n.Stream)
	}
	switch {
	case (n.User != "" || n.Password != "") && n.URL == "":
		v.errorf("nats.user", "a user and password are for a server given by nats.url; the embedded server's credential is made in <data>/nats.password")
	case n.User != "" && n.Password == "":
		v.errorf("nats.password", "nats.user %q needs a password", n.User)
	case n.User == "" && n.Password != "":
		v.errorf("nats.user", "nats.password needs a user")
	}
	if n.Credentials != "" {
		switch {
		case n.URL == "":
			v.errorf("nats.credentials", "a credentials file is for a server given by nats.url; the embedded server's credential is made in <data>/nats.password")
		case n.User != "" || n.Password != "":
			v.errorf("nats.credentials", "give either a credentials file or nats.user and nats.password, not both")
		}
		v.check("nats.credentials", checkCredsFile(n.Credentials))
	}
	v.check("nats.user", checkNatsCredential(n.User))
	v.check("nats.password", checkNatsCredential(n.Password))
}

// checkCredsFile checks that path is a NATS credentials file: a user JWT
// and a user nkey seed, each between the markers nsc and `nats auth`
// write. The server judges the rest when Agora connects.
func checkCredsFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read the credentials file: %w", err)
	}
	for _, marker := range []string{"-----BEGIN NATS USER JWT-----", "-----BEGIN USER NKEY SEED-----"} {
		if !strings.Contains(string(b), marker) {
			return fmt.Errorf("%s is not a NATS credentials file: it has no %q", path, marker)
		}
	}
	return nil
}

// checkNatsCredential refuses what the NATS protocol's CONNECT cannot
// carry faithfully: control characters, and surrounding spaces that the
// YAML author likely did not mean.
func checkNatsCredential(s string) error {
	if strings.TrimSpace(s) != s {
		return errors.New("must not begin or end with spaces")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return errors.New("must not contain control characters")
	}
	return nil
}

func streamName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func checkDataDir(dir string) error {
	if strings.TrimSpace(dir) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// checkNatsURL checks a comma-separated list of NATS URLs; the empty one
// selects the embedded server.
func checkNatsURL(s string) error {
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a NATS URL like nats://host:4222", part)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q has scheme %q; expected nats, tls, ws or wss", part, u.Scheme)
		}
		if u.User != nil {
			// A URL is printed in logs and error messages, and is seen by
			// anyone who can list processes when given as a flag.
			return fmt.Errorf("the URL of %s carries a user or token; give Agora's user as nats.user and nats.password instead (a URL is printed in logs)", u.Scheme+"://"+u.Host)
		}
	}
	return nil
}

func checkHost(h string) error {
	if h == "" {
		return errors.New("must not be empty")
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not an IP address or host name", h)
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return fmt.Errorf("%q is not an IP address or host name", h)
			}
		}
	}
	return nil
}

func checkPort(p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%d is not a port: must be in 1..65535", p)
	}
	return nil
}

func checkSync(s string) error {
	if s != SyncAlways && s != SyncInterval {
		return fmt.Errorf("%q must be %q or %q", s, SyncAlways, SyncInterval)
	}
	return nil
}

func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080)", s)
	}
	if host != "" {
		if err := checkHost(host); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q must be in 0..65535", s, port)
	}
	return nil
}

func checkToken(t string) error {
	if t == "" {
		return nil
	}
	if len(t) < MinOperatorTokenLength {
		return fmt.Errorf("is %d characters; at least %d are required", len(t), MinOperatorTokenLength)
	}
	if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("must not contain spaces or control characters")
	}
	return nil
}

func (c Config) validateHistory(v *validator) {
	h := c.History
	if h.WindowCycles < 1 || h.WindowCycles > MaxHistoryWindowCycles {
		v.errorf("history.window_cycles", "%d must be in 1..%d", h.WindowCycles, MaxHistoryWindowCycles)
	}
	if h.PointsMax < MinHistoryPoints || h.PointsMax > MaxHistoryPoints {
		v.errorf("history.points_max", "%d must be in %d..%d", h.PointsMax, MinHistoryPoints, MaxHistoryPoints)
	}
	if h.AgentPointsMax < MinHistoryPoints || h.AgentPointsMax > MaxHistoryPoints {
		v.errorf("history.agent_points_max", "%d must be in %d..%d", h.AgentPointsMax, MinHistoryPoints, MaxHistoryPoints)
	}
}
