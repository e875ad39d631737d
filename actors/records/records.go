// Package records keeps the operator's acknowledgements of skipped
// records: a record every follower of the log skips (it does not decode,
// or its event would break its actor's invariants) is reported until the
// operator acknowledges it, and each acknowledgement is an event of this
// actor (events.system.records.record_acknowledged), so that it is as
// durable and audited as the rest. Decide and Evolve are pure.
package records

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// ReasonBytesMax bounds the operator's note on an acknowledgement.
const ReasonBytesMax = 500

// ErrInvalidAcknowledgement: a sequence of 0, or a note too long or not
// UTF-8. Nothing is recorded.
var ErrInvalidAcknowledgement = errors.New("invalid acknowledgement")

// ErrUnknownCommand: a message the actor does not understand.
var ErrUnknownCommand = errors.New("unknown command")

// Acknowledgements is the state: the acknowledged sequences and their
// notes.
type Acknowledgements struct {
	Acknowledged map[uint64]string `json:"acknowledged,omitempty"`
}

// New is the state before the first event.
func New(string) Acknowledgements { return Acknowledgements{} }

// Acknowledge records that the operator accepts the skipped record at Seq.
// Whether Seq is a skipped record is for the caller to check (the economy
// fold knows which are); this actor only keeps the acknowledgements.
type Acknowledge struct {
	Seq    uint64
	Reason string
}

// Command is a command of the acknowledgements: Decide takes nothing
// else, and the shell refuses any other (runtime.ErrWrongCommand).
type Command interface{ recordsCommand() }

func (Acknowledge) recordsCommand() {}

// Decide answers Acknowledge with record_acknowledged, or nothing when the
// record is acknowledged already (a retry).
func Decide(s Acknowledgements, cmd Command) (events.Event, error) {
	c, ok := cmd.(Acknowledge)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
	if err := Validate(c); err != nil {
		return nil, err
	}
	if _, done := s.Acknowledged[c.Seq]; done {
		return nil, nil
	}
	return events.RecordAcknowledged{Seq: c.Seq, Reason: c.Reason}, nil
}

// Validate checks an acknowledgement before any actor is asked.
func Validate(c Acknowledge) error {
	switch {
	case c.Seq == 0:
		return fmt.Errorf("%w: sequence 0", ErrInvalidAcknowledgement)
	case len(c.Reason) > ReasonBytesMax:
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalidAcknowledgement, ReasonBytesMax)
	case !utf8.ValidString(c.Reason):
		return fmt.Errorf("%w: reason is not UTF-8", ErrInvalidAcknowledgement)
	}
	return nil
}

// Evolve applies an event.
func Evolve(s Acknowledgements, e events.Event) Acknowledgements {
	if a, ok := e.(events.RecordAcknowledged); ok {
		if s.Acknowledged == nil {
			s.Acknowledged = map[uint64]string{}
		}
		s.Acknowledged[a.Seq] = a.Reason
	}
	return s
}

// Aggregate is the acknowledgements as an actor kind (events.KindSystem,
// one actor: events.RecordsID).
func Aggregate() runtime.Aggregate[Acknowledgements, Command] {
	return runtime.Aggregate[Acknowledgements, Command]{Kind: events.KindSystem, New: New, Decide: Decide, Evolve: Evolve}
}

// Service is the front door to the acknowledgements.
type Service struct{ host *runtime.Host }

// NewService registers the actor kind on host.
func NewService(host *runtime.Host) (*Service, error) {
	if host == nil {
		return nil, errors.New("records: nil host")
	}
	runtime.Register(host, Aggregate())
	return &Service{host: host}, nil
}

// Acknowledge records the acknowledgement of the record at seq durably and
// returns the sequence of its event (0 when it was acknowledged already).
func (s *Service) Acknowledge(ctx context.Context, seq uint64, reason, key string) (uint64, error) {
	c := Acknowledge{Seq: seq, Reason: reason}
	if err := Validate(c); err != nil {
		return 0, err
	}
	r, err := s.host.Ask(ctx, events.KindSystem, events.RecordsID, runtime.Request{Command: c, Key: key})
	return r.Seq, err
}
