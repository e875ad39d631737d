package system

import "time"

// NewBounded is New with a bound of its own on the calls in flight and on
// the wait for room, small enough for a test to fill.
func NewBounded(deps Deps, opts Options, inFlight int, wait time.Duration) (*Service, error) {
	return newService(deps, opts, newAdmission(inFlight, wait))
}

// Waiting is how many calls wait for room now.
func (svc *Service) Waiting() int { return int(svc.s.admission.waiting.Load()) }
