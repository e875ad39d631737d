// Package chain links the events of each actor into a hash chain and checks
// it. Every event Agora writes names, in Envelope.Prev, the hash of the
// event before it in the same actor's history (the records matching
// events.<kind>.<id>.>). A record edited, deleted, inserted, reordered or
// moved to another actor in a copy of the log then breaks a link, which
// Verifier finds and names.
//
// The hash is SHA-256 of the previous event's envelope as Agora encodes it
// (events.Marshal), which for every record Agora wrote is exactly its stored
// message bytes, kept to its first 128 bits and written as 32 lowercase hex
// digits: the first 32 characters of `sha256sum` of the stored payload. It
// covers the previous event's subject and its own prev, so each link binds
// the whole history of the actor before it. It does not cover stream
// sequences: a writer decides an event before it knows where the stream
// will put it (other actors' events interleave), so a log copied into a new
// stream, in the same order, still verifies.
//
// The chain has no key. It shows a record changed in the middle of an
// actor's history, but not a well-formed event added after an actor's last
// one by someone who computes the hash, nor an actor's last events removed;
// the economy's invariants and the log's write permissions are what guard
// those (docs/decisions.md).
package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/agora-econ/agora/events"
)

// Bytes is how much of the SHA-256 digest a link keeps: 128 bits. A forger
// would need a second preimage of a given link (2^128 work): Agora chooses
// each event's id and time, so no one can prepare a colliding pair for an
// event it will write. Half the digest keeps 32 bytes off every event.
const Bytes = 16

// Len is the length of a link as written: hex, two digits a byte.
const Len = 2 * Bytes

// Hash returns the link an event's successor names: the hash of env as
// stored.
func Hash(env events.Envelope) (string, error) {
	b, err := events.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("chain: hash %s: %w", env.Subject, err)
	}
	return Sum(b), nil
}

// Sum is the link of a record from its stored bytes.
func Sum(stored []byte) string {
	d := sha256.Sum256(stored)
	return hex.EncodeToString(d[:Bytes])
}

// Actor returns the actor of a subject, events.<kind>.<id>, or false for a
// subject that is not events.<kind>.<id>.<type>.
func Actor(subject string) (string, bool) {
	i := strings.LastIndexByte(subject, '.')
	if i < 0 || strings.Count(subject, ".") != 3 || !strings.HasPrefix(subject, events.SubjectRoot+".") {
		return "", false
	}
	return subject[:i], true
}

// The ways a link breaks.
const (
	// ReasonMismatch: the record names a hash that is not its actor's
	// previous record's. That record was edited, records between them were
	// deleted or inserted, or this one was inserted, moved or edited.
	ReasonMismatch = "prev_mismatch"
	// ReasonNoPredecessor: the first record of an actor in the log names a
	// previous event. Its predecessors were deleted, or it was moved here
	// from another actor.
	ReasonNoPredecessor = "prev_without_predecessor"
	// ReasonMissing: after chaining began, a record that is not its
	// actor's first names no previous event. It was written by something
	// that does not chain (inserted), or its prev was removed.
	ReasonMissing = "prev_missing"
	// ReasonSubject: the record's subject is not events.<kind>.<id>.<type>,
	// so it belongs to no actor's chain.
	ReasonSubject = "bad_subject"
)

// Break is the first broken link: the record at Seq, on Subject, names
// Found where its actor's history says Expected (the hash of the actor's
// record at PrevSeq; empty when the actor had none).
type Break struct {
	Seq      uint64 `json:"seq"`
	Subject  string `json:"subject"`
	Reason   string `json:"reason"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
	PrevSeq  uint64 `json:"prev_seq,omitempty"`
}

func (b *Break) Error() string {
	show := func(h string) string {
		if h == "" {
			return "none"
		}
		return h
	}
	switch b.Reason {
	case ReasonMismatch:
		return fmt.Sprintf("seq %d (%s): %s: names prev %s, but the actor's previous record (seq %d) hashes to %s: "+
			"that record was edited, records between them were deleted or inserted, or this one was inserted or moved",
			b.Seq, b.Subject, b.Reason, b.Found, b.PrevSeq, b.Expected)
	case ReasonNoPredecessor:
		return fmt.Sprintf("seq %d (%s): %s: the actor's first record names prev %s: "+
			"its previous records were deleted, or it was moved from another actor", b.Seq, b.Subject, b.Reason, b.Found)
	case ReasonMissing:
		return fmt.Sprintf("seq %d (%s): %s: names no prev, expected %s (the hash of seq %d): "+
			"written by something that does not chain, or its prev was removed", b.Seq, b.Subject, b.Reason, b.Expected, b.PrevSeq)
	default:
		return fmt.Sprintf("seq %d (%s): %s: expected %s, found %s", b.Seq, b.Subject, b.Reason, show(b.Expected), show(b.Found))
	}
}

// Is makes errors.Is(b, ErrBroken) true.
func (b *Break) Is(target error) bool { return target == ErrBroken }

// link is an actor's last record: its hash, kept as the digest's bytes
// rather than as hex so that checking a link allocates nothing.
type link struct {
	hash Digest
	seq  uint64
}

// hex is the link as an envelope names it.
func (l link) hex() string { return hex.EncodeToString(l.hash[:]) }

// names reports whether prev, as an envelope names it, is this link.
func (l link) names(prev string) bool {
	var h [Len]byte
	hex.Encode(h[:], l.hash[:])
	return string(h[:]) == prev
}

// Verifier checks every actor's chain, record after record in stream
// order. The zero value is ready.
//
// A log written before events were chained has no prev at all: its records
// are accepted unlinked until the first record that carries a prev. From
// there on every record that is not its actor's first must name its
// predecessor, which may be an unlinked one (an upgraded Agora continues an
// old actor's history from the hash of its last event). So chaining begins
// once for the whole log, and a record without prev after it is a break:
// stripping the prevs from part of a log does not make it legacy.
type Verifier struct {
	heads map[string]link
	// Linked counts the records that named their predecessor, Unlinked
	// those accepted without one before chaining began, First the actors'
	// first records (which name none).
	Linked, Unlinked, First uint64
	// ChainedFrom is the sequence of the first record that carried a prev
	// (0: none yet).
	ChainedFrom uint64
}

// Stats is what Verifier has checked, as an audit reports it.
type Stats struct {
	Actors      int    `json:"actors"`
	Linked      uint64 `json:"linked"`
	Unlinked    uint64 `json:"unlinked"`
	ChainedFrom uint64 `json:"chained_from"`
}

// Stats returns the counts so far.
func (v *Verifier) Stats() Stats {
	return Stats{Actors: len(v.heads), Linked: v.Linked, Unlinked: v.Unlinked, ChainedFrom: v.ChainedFrom}
}

// Digest is the hash of a record, as its successor's link names it (in
// hex: Sum, Hash).
type Digest [Bytes]byte

// DigestOf hashes r: its stored bytes when the log says they are what
// Marshal writes for its envelope (Record.Stored), else the envelope
// marshalled again, which was most of the cost of a check. It needs
// nothing but r, so a reader may hash records ahead of Check, on other
// cores (CheckDigest).
func DigestOf(r events.Record) (Digest, error) {
	stored := r.Stored
	if stored == nil {
		var err error
		if stored, err = events.Marshal(r.Envelope); err != nil {
			return Digest{}, fmt.Errorf("seq %d: chain: hash %s: %w", r.Seq, r.Envelope.Subject, err)
		}
	}
	d := sha256.Sum256(stored)
	return Digest(d[:Bytes]), nil
}

// Check checks r's link to its actor's previous record and makes r the
// actor's last. It returns a *Break for a broken link, or the error of
// hashing a record that cannot be encoded.
func (v *Verifier) Check(r events.Record) error {
	return v.CheckDigest(r, func() (Digest, error) { return DigestOf(r) })
}

// CheckDigest is Check with r's digest computed by digest (DigestOf),
// which it calls only for a record whose link holds.
func (v *Verifier) CheckDigest(r events.Record, digest func() (Digest, error)) error {
	env := r.Envelope
	actor, ok := Actor(env.Subject)
	if !ok {
		return &Break{Seq: r.Seq, Subject: env.Subject, Reason: ReasonSubject, Found: env.Prev}
	}
	if v.heads == nil {
		v.heads = map[string]link{}
	}
	head, known := v.heads[actor]
	if env.Prev != "" && v.ChainedFrom == 0 {
		v.ChainedFrom = r.Seq
	}
	switch {
	case !known && env.Prev != "":
		return &Break{Seq: r.Seq, Subject: env.Subject, Reason: ReasonNoPredecessor, Found: env.Prev}
	case !known:
		v.First++
	case env.Prev == "" && v.ChainedFrom != 0:
		return &Break{Seq: r.Seq, Subject: env.Subject, Reason: ReasonMissing, Expected: head.hex(), PrevSeq: head.seq}
	case env.Prev == "":
		v.Unlinked++
	case !head.names(env.Prev):
		return &Break{Seq: r.Seq, Subject: env.Subject, Reason: ReasonMismatch, Expected: head.hex(), Found: env.Prev, PrevSeq: head.seq}
	default:
		v.Linked++
	}
	d, err := digest()
	if err != nil {
		return err
	}
	v.heads[actor] = link{hash: d, seq: r.Seq}
	return nil
}
