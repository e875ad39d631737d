package events

// The events of one resource market, on events.market.<resource>.<type>.
// A market mirrors what the clearing decided for its resource: its supply,
// the leases of running executions and its posted price. The clearing is
// the only leaser; the market's own fold is what `nats kv watch
// market_state` and the audit's leased <= supply check read.

// Lease is the units one execution holds in one market.
type Lease struct {
	ExecutionID string `json:"execution_id"`
	Units       Units  `json:"units"`
}

// MarketConfigured opens a market or changes its supply and price bounds.
// The posted price is the initial price when the market opens; later it
// stays, clamped into the new bounds.
type MarketConfigured struct {
	Resource       string `json:"resource"`
	SupplyUnits    Units  `json:"supply_units"`
	PriceMicros    Micros `json:"price_micros"`
	MinPriceMicros Micros `json:"min_price_micros"`
	MaxPriceMicros Micros `json:"max_price_micros"`
	HighMarkPPM    int64  `json:"high_mark_ppm"`
	LowMarkPPM     int64  `json:"low_mark_ppm"`
	StepUpPPM      int64  `json:"step_up_ppm"`
	StepDownPPM    int64  `json:"step_down_ppm"`
}

// MarketCleared is one cycle's outcome for this market: the leases expired
// and granted, the utilization after them, and the price move it caused.
type MarketCleared struct {
	Cycle          uint64  `json:"cycle"`
	Released       []Lease `json:"released,omitempty"`
	Granted        []Lease `json:"granted,omitempty"`
	LeasedUnits    Units   `json:"leased_units"`
	SupplyUnits    Units   `json:"supply_units"`
	UtilizationPPM int64   `json:"utilization_ppm"`
	PriceMicros    Micros  `json:"price_micros"` // before the move
	NewPriceMicros Micros  `json:"new_price_micros"`
	Trigger        Trigger `json:"trigger"`
}

// LeaseReleased frees the units of an execution that ended (or was revoked).
type LeaseReleased struct {
	ExecutionID string  `json:"execution_id"`
	Units       Units   `json:"units"`
	Reason      string  `json:"reason"`
	Trigger     Trigger `json:"trigger"`
}

func (MarketConfigured) EventType() string { return "market_configured" }
func (MarketCleared) EventType() string    { return "market_cleared" }
func (LeaseReleased) EventType() string    { return "lease_released" }

func (MarketConfigured) EventSchema() int { return 1 }
func (MarketCleared) EventSchema() int    { return 1 }
func (LeaseReleased) EventSchema() int    { return 1 }

func init() { register(MarketConfigured{}, MarketCleared{}, LeaseReleased{}) }

// LeaseGranted leases units of a market outside the clearing's cycles: the
// attention market's one unit to the prompt the slot activated (its id
// stands for the execution's). It is released by a LeaseReleased when the
// human responds.
type LeaseGranted struct {
	ExecutionID string  `json:"execution_id"`
	Units       Units   `json:"units"`
	Trigger     Trigger `json:"trigger"`
}

func (LeaseGranted) EventType() string    { return "lease_granted" }
func (LeaseGranted) EventSchema() int     { return 1 }
func (e LeaseGranted) Triggered() Trigger { return e.Trigger }

func init() { register(LeaseGranted{}) }
