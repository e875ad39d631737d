package clearing

import "errors"

// Rejections of the clearing decider. Each means nothing was recorded.
var (
	// ErrNotConfigured: the book has no markets yet.
	ErrNotConfigured = errors.New("the bid book is not configured")
	// ErrUnknownResource: a bundle names a resource with no market.
	ErrUnknownResource = errors.New("unknown resource")
	// ErrInvalidBundle: a bundle misses cpu_seconds or memory_mb, asks for
	// attention, or has a non-positive quantity.
	ErrInvalidBundle = errors.New("invalid bundle")
	// ErrExceedsSupply: a bundle asks for more of a resource than its
	// market's whole supply; it could never win.
	ErrExceedsSupply = errors.New("bundle exceeds supply")
	// ErrBelowReserve: the amount is below the bundle's reserve price (units
	// x posted prices).
	ErrBelowReserve = errors.New("amount below the reserve price")
	// ErrBidNotOpen: the bid is not in the book (never listed, won,
	// withdrawn or cancelled).
	ErrBidNotOpen = errors.New("bid not open")
	// ErrNotYourBid: an agent may only withdraw its own bids.
	ErrNotYourBid = errors.New("bid belongs to another agent")
	// ErrExecutionNotRunning: the execution is unknown or already released.
	ErrExecutionNotRunning = errors.New("execution not running")
	// ErrCycleOutOfOrder: a cycle number skips ahead of the next one.
	ErrCycleOutOfOrder = errors.New("cycle out of order")
	// ErrBookFull: BidsMax open bids already.
	ErrBookFull = errors.New("bid book full")
	// ErrSupplyBelowLeases: a configuration would put a market's supply
	// below what running executions lease; supply is a hard limit.
	ErrSupplyBelowLeases = errors.New("supply below the units leased")
	// ErrUnknownCommand: a message the book does not understand.
	ErrUnknownCommand = errors.New("unknown command")
)

// Limits of a book, in one place.
const (
	// BidsMax bounds the open bids of one pool, and so its memory.
	BidsMax = 1_000_000
	// PayloadBytesMax bounds the payload a bid hands to its execution.
	PayloadBytesMax = 16 << 10
	// AllocationsMaxDefault bounds the winners of one cycle, which keeps a
	// cycle's event far below the 1 MiB message limit.
	AllocationsMaxDefault = 1000
)

// Resources every bundle names, and the one it never names.
const (
	ResourceCPU       = "cpu_seconds"
	ResourceMemory    = "memory_mb"
	ResourceAttention = "attention"
)
