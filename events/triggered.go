package events

// Triggered is a command or an event that carries the trigger that obliged
// it: the actor shell recognises a redelivered command by it and keeps its
// marks from the events that carry one (actors/runtime). A zero trigger
// (Seq 0) means the command came from no process manager.
type Triggered interface {
	Triggered() Trigger
}

// The events that record a command of a process manager carry its trigger.

func (e AgentCreated) Triggered() Trigger      { return e.Trigger }
func (e TransferReceived) Triggered() Trigger  { return e.Trigger }
func (e TransferBounced) Triggered() Trigger   { return e.Trigger }
func (e TransferReturned) Triggered() Trigger  { return e.Trigger }
func (e HoldPlaced) Triggered() Trigger        { return e.Trigger }
func (e HoldIncreased) Triggered() Trigger     { return e.Trigger }
func (e HoldPosted) Triggered() Trigger        { return e.Trigger }
func (e PaymentRefused) Triggered() Trigger    { return e.Trigger }
func (e HoldVoided) Triggered() Trigger        { return e.Trigger }
func (e CreditsBurned) Triggered() Trigger     { return e.Trigger }
func (e AgentDied) Triggered() Trigger         { return e.Trigger }
func (e ExecutionStarted) Triggered() Trigger  { return e.Trigger }
func (e BidListed) Triggered() Trigger         { return e.Trigger }
func (e BidRejected) Triggered() Trigger       { return e.Trigger }
func (e BidRaised) Triggered() Trigger         { return e.Trigger }
func (e BidsCancelled) Triggered() Trigger     { return e.Trigger }
func (e ExecutionReleased) Triggered() Trigger { return e.Trigger }
func (e MarketCleared) Triggered() Trigger     { return e.Trigger }
func (e LeaseReleased) Triggered() Trigger     { return e.Trigger }
