package ticket

import "errors"

// The rejections of the registry. They are values, not strings, so that the
// System Service can answer each precisely (401 for the first three, 429
// for the quota) and the executor can tell its own mistakes apart.
var (
	// ErrUnknownToken: no execution was ever issued this token (or it was
	// forgotten long after its execution ended). The caller is not
	// authenticated.
	ErrUnknownToken = errors.New("unknown execution token")
	// ErrExpired: the execution's deadline has passed; its program has been
	// or is being killed, so the token no longer acts for the agent.
	ErrExpired = errors.New("execution token expired")
	// ErrRevoked: the execution ended and the executor revoked its token. A
	// token outlives its execution for nobody: a program that leaked it (to
	// a child it spawned, say) cannot act with it afterwards.
	ErrRevoked = errors.New("execution token revoked")
	// ErrQuotaExhausted: the execution's inference tokens are spent (SPEC.md
	// 1.4: exceeding tokens makes the inference call fail with a clear
	// error).
	ErrQuotaExhausted = errors.New("token quota exhausted")
	// ErrInvalidTicket: Issue was given an invalid agent or execution id, a
	// negative allocation, or no deadline; nothing was issued.
	ErrInvalidTicket = errors.New("invalid ticket")
	// ErrInvalidTokens: Meter was given a negative count.
	ErrInvalidTokens = errors.New("invalid token count")
	// ErrTooManyTickets: TicketsMax tickets are live already. Executions
	// are bounded by the markets' supply, so this means tokens are not
	// being revoked.
	ErrTooManyTickets = errors.New("too many live tickets")
)
