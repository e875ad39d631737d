package system

// PublicConfig is the configuration of the economy an agent may know (GET
// /system/config): the laws, the markets, the cycle and the execution
// envelope. It holds no secret and nothing of the host (no NATS, listener,
// data directory or upstream URL). The composition root fills it from
// the economy's configuration.
type PublicConfig struct {
	Economy    PublicEconomy             `json:"economy"`
	Resources  map[string]PublicResource `json:"resources"`
	Allocation PublicAllocation          `json:"allocation"`
	Execution  PublicExecution           `json:"execution"`
	Attention  PublicAttention           `json:"attention"`
	Inference  PublicInference           `json:"inference"`
}

// PublicEconomy is what things cost and what attention earns.
type PublicEconomy struct {
	InitialCreditBudget      Credits            `json:"initial_credit_budget"`
	AttentionConversionRates map[string]Credits `json:"attention_conversion_rates" doc:"Credits per score point: interesting, useful, understandable."`
	SpawnCost                Credits            `json:"spawn_cost"`
	MessageCost              Credits            `json:"message_cost"`
	InboxLimit               int                `json:"inbox_limit" doc:"The unread messages an inbox holds; a message to a full inbox is refused, uncharged."`
	MaxAgents                int                `json:"max_agents" doc:"At most this many agents live at once: a spawn beyond it is refused (409), uncharged."`
}

// PublicResource is one market's configuration.
type PublicResource struct {
	Supply       Units   `json:"supply"`
	InitialPrice Credits `json:"initial_price"`
	MinPrice     Credits `json:"min_price"`
	MaxPrice     Credits `json:"max_price"`
}

// PublicAllocation is the clearing cycle and its price rules.
type PublicAllocation struct {
	ScheduleSeconds          float64 `json:"schedule_seconds"`
	TransactionHistoryLength int     `json:"transaction_history_length"`
	HighMark                 float64 `json:"high_mark"`
	LowMark                  float64 `json:"low_mark"`
	PriceStepUp              float64 `json:"price_step_up"`
	PriceStepDown            float64 `json:"price_step_down"`
	LeaseTimeoutSeconds      float64 `json:"lease_timeout_seconds"`
}

// PublicExecution is the envelope of an execution.
type PublicExecution struct {
	TimeoutSeconds  float64 `json:"timeout_seconds"`
	DefaultMemoryMB int64   `json:"default_memory_mb"`
	WorkspaceMB     int64   `json:"workspace_mb" doc:"How much the workspace may hold on disk while the program runs, in MiB: over it the execution is killed with cause disk."`
}

// PublicAttention is the rules of the attention queue.
type PublicAttention struct {
	PromptExpirySeconds float64 `json:"prompt_expiry_seconds" doc:"0: prompts never expire."`
}

// PublicInference says whether inference is available; its upstream and
// key are not shown.
type PublicInference struct {
	Available bool   `json:"available"`
	Model     string `json:"model,omitempty" doc:"The model used when a request names none."`
}
