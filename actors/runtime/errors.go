package runtime

import (
	"errors"
	"fmt"
)

// ErrUnavailable: the event log did not acknowledge the append (timeout,
// connection loss, full disk). The command may or may not have been
// recorded; the actor has recovered from the log, so a retry with the same
// idempotency key gets the true outcome.
var ErrUnavailable = errors.New("event log unavailable")

// ErrConflict: another writer appended to this actor's events first. The
// actor has recovered from the log; the command can be retried.
var ErrConflict = errors.New("concurrent write to the same actor")

// ErrStopped: the host is shutting down and takes no more commands.
var ErrStopped = errors.New("actor host stopped")

// ErrUnknownMessage: the actor was sent a message it does not handle (a
// query for another state type, say). It is answered at once rather than
// left to time out.
var ErrUnknownMessage = errors.New("unknown message")

// ErrFenced: the actor failed an append and refuses this manager's
// commands until the manager resumes it; the manager resends them in order.
// It wraps ErrUnavailable, so it is retried like one.
var ErrFenced = fmt.Errorf("%w: fenced after a failed append", ErrUnavailable)

// ErrWrongCommand: the actor was sent a command of another kind of actor
// (an agent's command sent to a market). It is refused at once and
// changes nothing; a retry cannot succeed.
var ErrWrongCommand = fmt.Errorf("%w: command of another kind of actor", ErrUnknownMessage)

// ErrTriggerNotRecorded: a decider answered a command that carries a
// process manager's trigger with an event that does not record it. The
// event would not move the actor's mark, and a redelivery of the command
// would apply it again, so nothing is written. A bug in the decider.
var ErrTriggerNotRecorded = errors.New("event does not record its command's trigger")
