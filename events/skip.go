package events

import (
	"errors"
	"fmt"
	"strings"
)

// Reason says why a follower of the log skipped a record. A record in the
// log is a fact for every follower, so a record that cannot be one (it does
// not decode, or its event would break its actor's state) must be skipped by
// all of them alike, never stop them: one stray publish on the log's subjects
// would otherwise stop the economy, and stop it again at every start.
// The set is open to later checks (a broken hash chain, say): a follower
// treats every reason alike.
type Reason string

// The reasons a record is skipped.
const (
	// ReasonUndecodable: the record is not a JSON envelope.
	ReasonUndecodable Reason = "undecodable"
	// ReasonBadSubject: the subject is not events.<kind>.<id>.<type> with a
	// known kind, a subject-safe id and the envelope's own type, or the
	// envelope names another subject than the one it was stored under.
	ReasonBadSubject Reason = "bad_subject"
	// ReasonUnknownType: the type is not one of the closed set of events.
	ReasonUnknownType Reason = "unknown_type"
	// ReasonUnknownSchema: the event's schema is newer than this binary
	// reads: it may mean something the folds would get wrong.
	ReasonUnknownSchema Reason = "unknown_schema"
	// ReasonBadData: the data does not decode into the event's type.
	ReasonBadData Reason = "bad_data"
	// ReasonInvariant: the event would break an invariant of its actor's
	// state (an overspend, a hold for an agent that never existed, a cycle
	// cleared twice); its actor's admission check refused it.
	ReasonInvariant Reason = "invariant"
)

// Reasons lists the reasons above (a metric shows each from zero).
var Reasons = []Reason{ReasonUndecodable, ReasonBadSubject, ReasonUnknownType, ReasonUnknownSchema, ReasonBadData,
	ReasonInvariant}

// ErrBadRecord matches every *BadRecord with errors.Is: a record skipped
// by the followers of the log, never acted on.
var ErrBadRecord = errors.New("bad record")

// BadRecord is a record every follower skips, and why.
type BadRecord struct {
	Seq     uint64
	Subject string
	Reason  Reason
	Err     error
}

func (b *BadRecord) Error() string {
	return fmt.Sprintf("record %d (%s) skipped: %s: %v", b.Seq, b.Subject, b.Reason, b.Err)
}

// Unwrap is the cause (an ErrUnknownEventType, an admission rejection ...).
func (b *BadRecord) Unwrap() error { return b.Err }

// Is makes errors.Is(b, ErrBadRecord) true.
func (b *BadRecord) Is(target error) bool { return target == ErrBadRecord }

// Skip makes the BadRecord of r.
func Skip(r Record, reason Reason, err error) *BadRecord {
	return &BadRecord{Seq: r.Seq, Subject: r.Envelope.Subject, Reason: reason, Err: err}
}

// AsBadRecord returns the *BadRecord err carries, if any.
func AsBadRecord(err error) (*BadRecord, bool) {
	var b *BadRecord
	ok := errors.As(err, &b)
	return b, ok
}

// ErrEnvelope is the cause of an undecodable record: the log adapter could
// not read its envelope.
var ErrEnvelope = errors.New("not an event envelope")

// ErrSubject is the cause of a record whose subject is not an event's.
var ErrSubject = errors.New("not an event subject")

// Check refuses, as a *BadRecord, a record whose envelope no follower may
// act on: it did not decode (Record.Bad), its subject is not
// events.<kind>.<id>.<type> with a known kind, a subject-safe id and the
// envelope's type, or its type or schema is unknown to this binary. It
// does not decode the data (Read does). A record delivered unread (an
// empty envelope: a type the follower asked not to read) passes.
func Check(r Record) error {
	if r.Bad != nil {
		if errors.Is(r.Bad, ErrSubject) {
			return Skip(r, ReasonBadSubject, r.Bad)
		}
		return Skip(r, ReasonUndecodable, r.Bad)
	}
	if r.Envelope.Type == "" && r.Envelope.Subject == "" {
		return nil // delivered unread
	}
	kind, id, typ, ok := splitSubject(r.Envelope.Subject)
	switch {
	case !ok:
		return Skip(r, ReasonBadSubject, fmt.Errorf("%w: %q is not events.<kind>.<id>.<type>", ErrSubject, r.Envelope.Subject))
	case !knownKind(kind):
		return Skip(r, ReasonBadSubject, fmt.Errorf("%w: unknown kind %q", ErrSubject, kind))
	case typ != r.Envelope.Type:
		return Skip(r, ReasonBadSubject, fmt.Errorf("%w: subject type %q, envelope type %q", ErrSubject, typ, r.Envelope.Type))
	}
	if err := ValidateID(id); err != nil {
		return Skip(r, ReasonBadSubject, err)
	}
	schema, known := schemas[r.Envelope.Type]
	if !known {
		return Skip(r, ReasonUnknownType, fmt.Errorf("%w: %q", ErrUnknownEventType, r.Envelope.Type))
	}
	if r.Envelope.Schema > schema {
		return Skip(r, ReasonUnknownSchema, fmt.Errorf("%w: %s schema %d, this binary reads up to %d",
			ErrUnknownSchema, r.Envelope.Type, r.Envelope.Schema, schema))
	}
	return nil
}

// ErrUnknownSchema is the cause of a record whose event schema is newer
// than this binary reads.
var ErrUnknownSchema = errors.New("unknown event schema")

// Read checks r (Check) and decodes its event; a record that fails either
// is a *BadRecord, which every follower skips. A record made by Shared is
// read once: its copies get the same event, or the same error.
func Read(r Record) (Event, error) {
	if o := r.read; o != nil {
		if !o.done {
			o.e, o.err = read(r)
			o.done = true
		}
		return o.e, o.err
	}
	return read(r)
}

func read(r Record) (Event, error) {
	if err := Check(r); err != nil {
		return nil, err
	}
	e, err := Decode(r.Envelope)
	if err != nil {
		return nil, Skip(r, ReasonBadData, err)
	}
	return e, nil
}

// ActorOf returns the kind and id of the actor whose subject r is on, for
// a record Check passed.
func ActorOf(r Record) (Kind, string, bool) {
	kind, id, _, ok := splitSubject(r.Envelope.Subject)
	return Kind(kind), id, ok
}

// splitSubject cuts events.<kind>.<id>.<type> without allocating: every
// follower checks the subject of every record it acts on.
func splitSubject(s string) (kind, id, typ string, ok bool) {
	root, rest, ok1 := strings.Cut(s, ".")
	kind, rest, ok2 := strings.Cut(rest, ".")
	id, typ, ok3 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !ok3 || root != SubjectRoot || kind == "" || typ == "" || strings.Contains(typ, ".") {
		return "", "", "", false
	}
	return kind, id, typ, true
}

func knownKind(k string) bool {
	switch Kind(k) {
	case KindAgent, KindMarket, KindAttention, KindClearing, KindSystem:
		return true
	}
	return false
}

// RecordOf reads the record stored at seq under subject. A record that is
// not an envelope, or whose envelope names another subject than the one
// it is stored under (a stray publish), comes back marked bad (Record.Bad)
// for its followers to skip: one such record must not stop every reader of
// the log. An empty subject (an adapter that does not know it) is not
// compared.
func RecordOf(seq uint64, subject string, data []byte) Record {
	env, canonical, err := unmarshal(data)
	if err != nil {
		return Record{Seq: seq, Envelope: Envelope{Subject: subject}, Bad: fmt.Errorf("%w: %v", ErrEnvelope, err)}
	}
	if env.Type == "" && env.Subject == "" {
		return Record{Seq: seq, Envelope: Envelope{Subject: subject}, Bad: fmt.Errorf("%w: no type and no subject", ErrEnvelope)}
	}
	if subject != "" && env.Subject != subject {
		bad := fmt.Errorf("%w: stored under %q, the envelope names %q", ErrSubject, subject, env.Subject)
		env.Subject = subject
		return Record{Seq: seq, Envelope: env, Bad: bad}
	}
	r := Record{Seq: seq, Envelope: env}
	if canonical {
		r.Stored = data
	}
	return r
}
