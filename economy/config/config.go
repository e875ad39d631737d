// Package config is Agora's configuration: the laws of the economy (costs,
// rewards, markets and their price rules), the allocation cycle, the executor,
// the NATS event log, the actor runtime, the servers and the data directory.
//
// The configuration is YAML (SPEC.md 3.4). It is assembled in three layers:
// the built-in defaults (Default), then a file (Load), then the flags of
// `agora run` (ApplyOverrides). Every value is validated at start, and every
// problem is reported with the key that holds it, e.g.
//
//	resources.cpu_seconds.initial_price: "abc" is not a number of credits (line 7)
//
// Money is written in YAML as a plain number of credits (1000, 0.1) and read
// exactly into micro-credits (Credits, events.Micros), never through a
// float64. Resource quantities are read the same way into micro-units (Units).
// Times are written as seconds (float allowed) and read with Duration
// helpers. Ratios (marks, price steps) are plain fractions: 0.8 means 80%.
package config

import (
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// Names of the resources every economy must have (SPEC.md 1.2, 1.4, 1.5),
// plus the default, optional tokens market.
const (
	ResourceCPUSeconds = "cpu_seconds"
	ResourceMemoryMB   = "memory_mb"
	ResourceTokens     = "tokens"
	ResourceAttention  = "attention"
)

// RequiredResources are the markets Validate insists on: every execution
// bundle names cpu_seconds and memory_mb, and attention is the human's slot.
var RequiredResources = []string{ResourceCPUSeconds, ResourceMemoryMB, ResourceAttention}

// Values of Nats.Sync.
const (
	// SyncAlways fsyncs every JetStream write before it is acknowledged: an
	// acknowledged command survives a crash of the machine. The default.
	SyncAlways = "always"
	// SyncInterval lets the embedded server fsync on its own interval: faster,
	// but a crash of the machine (not only of the process) may lose the
	// writes acknowledged since the last fsync.
	SyncInterval = "interval"
)

// Config is the whole configuration of an economy. The zero value is not
// usable: start from Default or Load.
type Config struct {
	// Economy holds what things cost and what the human's attention is worth.
	Economy Economy `yaml:"economy"`
	// Resources maps a resource name (a subject-safe id, [a-z0-9_-]{1,64}) to
	// its market. It must hold cpu_seconds, memory_mb and attention; tokens
	// is in the defaults and may be removed. In a file, a resource whose name
	// is in the defaults is merged field by field over the default; a
	// resource set to null (`tokens: null`) is removed.
	Resources map[string]Resource `yaml:"resources"`
	// Allocation is the clearing cycle and the price rules (SPEC.md 1.3).
	Allocation Allocation `yaml:"allocation"`
	// Execution is the sandbox envelope of an agent's execution.
	Execution Execution `yaml:"execution"`
	// Attention holds the rules of the human's attention queue.
	Attention Attention `yaml:"attention"`
	// Inference is the upstream of POST /intelligence/inference.
	Inference Inference `yaml:"inference"`
	// Nats is the event log: an embedded server or an existing one.
	Nats Nats `yaml:"nats"`
	// Runtime tunes the actors.
	Runtime Runtime `yaml:"runtime"`
	// Cluster is how an economy node and its standby share the actors.
	Cluster Cluster `yaml:"cluster"`
	// Server is the HTTP listener of the System Service and the operator API.
	Server Server `yaml:"server"`
	// Data is where Agora keeps its files.
	Data Data `yaml:"data"`
	// History bounds the history read model (projections/series): the
	// markets, the economy and each agent over time.
	History History `yaml:"history"`
}

// Economy holds the amounts of the laws of the economy (SPEC.md 1.1, 1.5-1.7).
type Economy struct {
	// InitialCreditBudget is the grant, in credits, minted to the genesis
	// agent on a fresh log. Must be > 0. Default 1000.
	InitialCreditBudget Credits `yaml:"initial_credit_budget"`
	// AttentionConversionRates are the credits minted per point of the
	// human's 0-10 score on each axis. Default 50 each.
	AttentionConversionRates ConversionRates `yaml:"attention_conversion_rates"`
	// SpawnCost is what a parent pays (burned), in credits, to spawn a child,
	// on top of the child's initial credits. Must be >= 0. Default 100.
	SpawnCost Credits `yaml:"spawn_cost"`
	// MessageCost is what a sender pays (burned), in credits, per message.
	// Must be >= 0. Default 1.
	MessageCost Credits `yaml:"message_cost"`
	// InboxLimit is the number of unread messages an inbox holds; a
	// message to a full inbox is refused, uncharged (SPEC.md 1.6). 1 to
	// agent.InboxLimitMax (10000). Default 1000.
	InboxLimit int `yaml:"inbox_limit"`
	// MaxAgents bounds the agents alive at once: a spawn while as many
	// live is refused (409) and charges nothing. It bounds spawns only:
	// the operator may still add agents. 1 to MaxAgentsMax; default 1000.
	MaxAgents int `yaml:"max_agents"`
	// Genesis says whether a fresh log starts with the genesis agent (its
	// program, InitialCreditBudget and first bid). false starts an economy
	// with no agent; the operator adds them (`agora agent add`). A log
	// that already has genesis keeps it either way. Default true.
	Genesis bool `yaml:"genesis"`
}

// ConversionRates turn the human's scores into credits: the reward for a
// prompt is interesting*Interesting + useful*Useful +
// understandable*Understandable. Each rate is in credits per score point and
// must be >= 0.
type ConversionRates struct {
	// Interesting is credits per point of the "interesting" score.
	Interesting Credits `yaml:"interesting"`
	// Useful is credits per point of the "useful" score.
	Useful Credits `yaml:"useful"`
	// Understandable is credits per point of the "understandable" score.
	Understandable Credits `yaml:"understandable"`
}

// Resource is the configuration of one market.
type Resource struct {
	// Supply is the capacity, in units of the resource (cpu seconds,
	// megabytes, tokens, prompts), that can be leased at once. Exact to six
	// decimals (micro-units). Must be > 0; attention's must be exactly 1.
	Supply Units `yaml:"supply"`
	// InitialPrice is the posted price, in credits per unit, when the market
	// is created. Must be > 0 and within [MinPrice, MaxPrice].
	InitialPrice Credits `yaml:"initial_price"`
	// MinPrice is the floor, in credits per unit, below which the price never
	// falls. Must be > 0. When absent (or 0) in a file it is
	// InitialPrice/100 (at least one micro-credit).
	MinPrice Credits `yaml:"min_price"`
	// MaxPrice is the ceiling, in credits per unit, above which the price
	// never rises. When absent (or 0) in a file it is InitialPrice*100 (at
	// most 1e12 credits).
	MaxPrice Credits `yaml:"max_price"`
}

// Allocation is the clearing cycle (SPEC.md 1.3).
type Allocation struct {
	// ScheduleSeconds is the time between two clearings, in seconds
	// (fractions allowed). Must be in [0.001, 86400]. Default 10.
	ScheduleSeconds float64 `yaml:"schedule_seconds"`
	// TransactionHistoryLength is how many recent transactions the read
	// models keep per agent and per resource. Must be in [1, 100000].
	// Default 20.
	TransactionHistoryLength int `yaml:"transaction_history_length"`
	// HighMark is the utilization (leased/supply, a fraction) above which a
	// market's price rises after a clearing. Default 0.8.
	HighMark float64 `yaml:"high_mark"`
	// LowMark is the utilization (a fraction) below which a market's price
	// falls after a clearing. 0 <= LowMark < HighMark <= 1. Default 0.2.
	LowMark float64 `yaml:"low_mark"`
	// PriceStepUp is the relative rise of a price above the high mark: 0.1
	// means +10%. In (0, 1]. Default 0.1.
	PriceStepUp float64 `yaml:"price_step_up"`
	// PriceStepDown is the relative fall of a price below the low mark: 0.1
	// means -10%. In (0, 1]. Default 0.1.
	PriceStepDown float64 `yaml:"price_step_down"`
	// LeaseTimeoutSeconds is how long, in seconds, a lease may stay without
	// its execution reporting an end before it is released (an executor
	// crashed). Must be greater than execution.timeout_seconds, so that a
	// running execution never loses its lease. Default 120.
	LeaseTimeoutSeconds float64 `yaml:"lease_timeout_seconds"`
}

// Execution is the sandbox of an execution (SPEC.md 1.4).
type Execution struct {
	// TimeoutSeconds is the wall-clock deadline of an execution, in seconds
	// (fractions allowed). Must be in (0, 604800]. Default 30.
	TimeoutSeconds float64 `yaml:"timeout_seconds"`
	// DefaultMemoryMB is the memory, in megabytes, of a bundle the system
	// builds itself (the genesis agent's first bid, a first bid given
	// without memory). Must be >= 1 and fit in memory_mb's supply.
	// Default 100.
	DefaultMemoryMB int64 `yaml:"default_memory_mb"`
	// WorkspaceMB is how much an agent's workspace may hold on disk while
	// its program runs, in megabytes (MiB): over it the execution is killed
	// with cause disk. Must be in [1, 1048576]. Default 256.
	WorkspaceMB int64 `yaml:"workspace_mb"`
	// Workers, when true, leaves the executions to `agora worker`
	// processes: the economy publishes each as an order on a JetStream
	// work queue and keeps the workspaces in a JetStream object store
	// (docs/operations.md, "Execution workers"). Default false: `agora
	// run` runs them itself.
	Workers bool `yaml:"workers"`
	// WorkerAckSeconds is how long an order may go without its worker's
	// heartbeat before the queue gives it to another worker (which reports
	// the program lost: it runs again as its next attempt). Must be in
	// [1, 600]. Default 10.
	WorkerAckSeconds float64 `yaml:"worker_ack_seconds"`
}

// Attention holds the rules of the prompt queue (SPEC.md 1.5).
type Attention struct {
	// PromptExpirySeconds is how long, in seconds, a prompt may wait in the
	// queue before it expires and its hold is released. 0 means never.
	// Default 0.
	PromptExpirySeconds float64 `yaml:"prompt_expiry_seconds"`
}

// Inference is the OpenAI-compatible upstream behind
// POST /intelligence/inference (SPEC.md 3.2).
type Inference struct {
	// URL is the upstream's base URL (http or https), up to and including
	// its version, e.g. https://api.openai.com/v1: the System Service posts
	// chat completions to URL + "/chat/completions". Empty means no
	// upstream: inference answers 503. Default empty.
	URL string `yaml:"url"`
	// APIKeyEnv names the environment variable holding the upstream's API
	// key, so that the secret stays out of the file. Empty means no key.
	// Default AGORA_INFERENCE_API_KEY.
	APIKeyEnv string `yaml:"api_key_env"`
	// APIKey is the upstream's API key itself, for setups where a file is
	// the safer place; it takes precedence over APIKeyEnv. Never shown to
	// agents (see Redacted). It must not contain spaces or control
	// characters (it becomes a header). Default empty.
	APIKey string `yaml:"api_key"`
	// Model is the model used when a request names none. Default empty.
	Model string `yaml:"model"`
	// TimeoutSeconds bounds one upstream call, in seconds (fractions
	// allowed); past it the agent gets 504. Must be in (0, 600]. Default
	// 60.
	TimeoutSeconds float64 `yaml:"timeout_seconds"`
}

// Nats is the event log (SPEC.md 2).
type Nats struct {
	// URL is the NATS server (or comma-separated cluster URLs) to use. Empty
	// means: start an embedded server with JetStream in the data directory.
	// Default empty.
	URL string `yaml:"url"`
	// Host is the interface the embedded server listens on for clients (the
	// NATS CLI). Ignored with URL. Default 127.0.0.1.
	Host string `yaml:"host"`
	// Port is the client port of the embedded server, 1-65535. Ignored with
	// URL. Default 4222.
	Port int `yaml:"port"`
	// Sync is the embedded server's fsync policy: "always" (every write is on
	// disk before it is acknowledged; the default) or "interval" (faster,
	// weaker: a machine crash may lose acknowledged writes).
	Sync string `yaml:"sync"`
	// Replicas is the number of replicas of the stream: 1, 3 or 5. More than
	// 1 needs a cluster (URL). Default 1.
	Replicas int `yaml:"replicas"`
	// Stream is the name of the JetStream stream holding the events
	// ([A-Za-z0-9_-]{1,64}). Default AGORA_EVENTS.
	Stream string `yaml:"stream"`
	// User and Password are Agora's user on the server of URL (a user of
	// its authorization block, with the permissions docs/operations.md
	// gives). Both or neither, and only with URL: the embedded server's
	// credential is made at the first start in <data>/nats.password.
	// Password is never printed (see Redacted). Default empty.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Credentials is a NATS credentials file (a user JWT and its nkey
	// seed, as `nats --creds` takes) for a server of URL in operator mode,
	// instead of User and Password. Only with URL. Default empty.
	Credentials string `yaml:"credentials"`
}

// Runtime tunes the actors.
type Runtime struct {
	// SnapshotEvery is the number of events an actor appends between two
	// snapshots of its state (recovery replays at most that many). Must be
	// >= 1. Default 100.
	SnapshotEvery int `yaml:"snapshot_every"`
	// IdempotencyMemory is how many applied command ids each actor remembers
	// to answer a retried command without applying it twice. Must be >= 1.
	// Default 256.
	IdempotencyMemory int `yaml:"idempotency_memory"`
	// IdleSeconds is how long an actor goes without a message before it is
	// put to sleep: it leaves memory and is loaded again (snapshot and
	// the events after it) by the next message. Must be in [0.01, 7 days].
	// Default 60.
	IdleSeconds float64 `yaml:"idle_seconds"`
}

// Cluster is how two economy nodes on one NATS server (nats.url) share the
// actors: one holds a lease and runs them, the other waits as its standby
// (economy/lease).
type Cluster struct {
	// FailoverSeconds is how long the economy may stand still when its
	// active node dies: within it the standby takes the lease and serves.
	// The lease lives half of it (LeaseTTL); the other half is the
	// standby's time to notice and to start. Must be in
	// [MinFailoverSeconds, MaxFailoverSeconds]. Default 10.
	FailoverSeconds float64 `yaml:"failover_seconds"`
}

// Failover is FailoverSeconds as a duration.
func (c Cluster) Failover() time.Duration { return seconds(c.FailoverSeconds) }

// LeaseTTL is the lease's time to live, half of FailoverSeconds: a node
// that has not renewed it for this long stops acting, and its standby,
// which looks ten times within it, takes over and starts in what is left
// of FailoverSeconds. It is also the longest a restarted node waits for
// the lease of the process it replaces.
func (c Cluster) LeaseTTL() time.Duration { return c.Failover() / 2 }

// Server is the HTTP listener (SPEC.md 3.2, 3.3).
type Server struct {
	// Listen is the host:port of the System Service and the operator API.
	// Port 0 picks a free port. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// OperatorToken is the operator's bearer token. Empty means: create one
	// at first start in <data>/operator.token (mode 0600). When set it must
	// be at least 16 characters without spaces. Never shown to agents (see
	// Redacted).
	OperatorToken string `yaml:"operator_token"`
}

// Data is where Agora keeps its files.
type Data struct {
	// Dir is the data directory: the embedded JetStream store, the agents'
	// workspaces, operator.token. Default ./data.
	Dir string `yaml:"dir"`
}

// History bounds the history read model: every point of the last
// WindowCycles cycles is kept, older points are thinned by halving so that
// a series never holds more than its maximum (docs/decisions.md, "History
// is thinned by halving, past a window").
type History struct {
	// WindowCycles is how many recent clearing cycles keep every point.
	// 1 to MaxHistoryWindowCycles; default 1000.
	WindowCycles int `yaml:"window_cycles"`
	// PointsMax is the most points one market's series, or the economy's,
	// holds (the window included, which keeps at most half of it whole).
	// MinHistoryPoints to MaxHistoryPoints; default 2000.
	PointsMax int `yaml:"points_max"`
	// AgentPointsMax is the same bound for each agent's balance series,
	// smaller since there are many agents. MinHistoryPoints to
	// MaxHistoryPoints; default 500.
	AgentPointsMax int `yaml:"agent_points_max"`
}

// Default is the built-in configuration of SPEC.md 3.4; it validates.
func Default() Config {
	c := rawDefault()
	c.resolve()
	return c
}

// rawDefault is Default before the price bounds are derived, so that a file
// changing a default resource's initial_price also moves its bounds.
func rawDefault() Config {
	return Config{
		Economy: Economy{
			InitialCreditBudget: credits(1000, 0),
			AttentionConversionRates: ConversionRates{
				Interesting:    credits(50, 0),
				Useful:         credits(50, 0),
				Understandable: credits(50, 0),
			},
			SpawnCost:   credits(100, 0),
			MessageCost: credits(1, 0),
			InboxLimit:  agent.InboxLimitDefault,
			MaxAgents:   1000,
			Genesis:     true,
		},
		Resources: map[string]Resource{
			ResourceTokens:     {Supply: units(10000), InitialPrice: credits(0, 100_000)}, // 0.1
			ResourceCPUSeconds: {Supply: units(100), InitialPrice: credits(5, 0)},
			ResourceMemoryMB:   {Supply: units(10000), InitialPrice: credits(0, 10_000)}, // 0.01
			ResourceAttention:  {Supply: units(1), InitialPrice: credits(50, 0)},
		},
		Allocation: Allocation{
			ScheduleSeconds:          10,
			TransactionHistoryLength: 20,
			HighMark:                 0.8,
			LowMark:                  0.2,
			PriceStepUp:              0.1,
			PriceStepDown:            0.1,
			LeaseTimeoutSeconds:      120,
		},
		Execution: Execution{TimeoutSeconds: 30, DefaultMemoryMB: 100, WorkspaceMB: 256, WorkerAckSeconds: 10},
		Attention: Attention{PromptExpirySeconds: 0},
		Inference: Inference{APIKeyEnv: "AGORA_INFERENCE_API_KEY", TimeoutSeconds: 60},
		Nats: Nats{
			Host:     "127.0.0.1",
			Port:     4222,
			Sync:     SyncAlways,
			Replicas: 1,
			Stream:   "AGORA_EVENTS",
		},
		Runtime: Runtime{SnapshotEvery: 100, IdempotencyMemory: 256, IdleSeconds: 60},
		Cluster: Cluster{FailoverSeconds: 10},
		Server:  Server{Listen: "127.0.0.1:8080"},
		Data:    Data{Dir: "./data"},
		History: History{WindowCycles: 1000, PointsMax: 2000, AgentPointsMax: 500},
	}
}

// resolve fills each resource's absent (zero) price bounds from its initial
// price: min = initial/100 (at least 1 micro-credit), max = initial*100 (at
// most events.AmountMax).
func (c *Config) resolve() {
	for name, r := range c.Resources {
		if r.InitialPrice > 0 {
			if r.MinPrice == 0 {
				r.MinPrice = max(r.InitialPrice/100, 1)
			}
			if r.MaxPrice == 0 {
				if r.InitialPrice > Credits(events.AmountMax/100) {
					r.MaxPrice = Credits(events.AmountMax)
				} else {
					r.MaxPrice = r.InitialPrice * 100
				}
			}
		}
		c.Resources[name] = r
	}
}

// Clone returns a deep copy (the Resources map is not shared).
func (c Config) Clone() Config {
	if c.Resources != nil {
		m := make(map[string]Resource, len(c.Resources))
		for k, v := range c.Resources {
			m[k] = v
		}
		c.Resources = m
	}
	return c
}

// Redacted is a copy safe to print: the operator token, the inference
// API key and the NATS password are replaced by "[redacted]" when set. (Agents see less still:
// GET /system/config shows only the economy's public part.)
func (c Config) Redacted() Config {
	c = c.Clone()
	if c.Server.OperatorToken != "" {
		c.Server.OperatorToken = "[redacted]"
	}
	if c.Inference.APIKey != "" {
		c.Inference.APIKey = "[redacted]"
	}
	if c.Nats.Password != "" {
		c.Nats.Password = "[redacted]"
	}
	return c
}

// Schedule is ScheduleSeconds as a duration.
func (a Allocation) Schedule() time.Duration { return seconds(a.ScheduleSeconds) }

// LeaseTimeout is LeaseTimeoutSeconds as a duration.
func (a Allocation) LeaseTimeout() time.Duration { return seconds(a.LeaseTimeoutSeconds) }

// Timeout is TimeoutSeconds as a duration.
func (e Execution) Timeout() time.Duration { return seconds(e.TimeoutSeconds) }

// WorkerAckWait is WorkerAckSeconds as a duration.
func (e Execution) WorkerAckWait() time.Duration { return seconds(e.WorkerAckSeconds) }

// PromptExpiry is PromptExpirySeconds as a duration; 0 means never.
func (a Attention) PromptExpiry() time.Duration { return seconds(a.PromptExpirySeconds) }

// Timeout is TimeoutSeconds as a duration.
func (i Inference) Timeout() time.Duration { return seconds(i.TimeoutSeconds) }

// Key is the upstream's API key: APIKey when set, else the value of the
// environment variable APIKeyEnv as getenv (os.Getenv) reads it; empty
// means none.
func (i Inference) Key(getenv func(string) string) string {
	if i.APIKey != "" || i.APIKeyEnv == "" {
		return i.APIKey
	}
	return getenv(i.APIKeyEnv)
}

// IdleTimeout is IdleSeconds as a duration.
func (r Runtime) IdleTimeout() time.Duration { return seconds(r.IdleSeconds) }

// Embedded reports whether Agora starts its own NATS server (no URL given).
func (n Nats) Embedded() bool { return n.URL == "" }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
