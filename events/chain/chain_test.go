package chain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
)

// history writes n burns for each actor in turn, chained as the actor shell
// chains them, and returns them as records in stream order.
func history(t *testing.T, actors []string, n int) []events.Record {
	t.Helper()
	heads := map[string]string{}
	var rs []events.Record
	for i := range n {
		for _, a := range actors {
			env, err := events.Encode(events.KindAgent, a, events.CreditsBurned{AmountMicros: events.Micros(i + 1), Reason: "x"},
				events.Meta{Time: time.Unix(int64(len(rs)), 0), Prev: heads[a]})
			if err != nil {
				t.Fatal(err)
			}
			if heads[a], err = chain.Hash(env); err != nil {
				t.Fatal(err)
			}
			rs = append(rs, events.Record{Seq: uint64(len(rs) + 1), Envelope: env})
		}
	}
	return rs
}

// verify checks rs in order and returns the first break.
func verify(rs []events.Record) (*chain.Break, *chain.Verifier) {
	v := &chain.Verifier{}
	for _, r := range rs {
		if err := v.Check(r); err != nil {
			var b *chain.Break
			if !errors.As(err, &b) || !errors.Is(err, chain.ErrBroken) {
				panic(err)
			}
			return b, v
		}
	}
	return nil, v
}

// A link is the first 32 hex digits of SHA-256 of the record as stored:
// what `sha256sum` prints for the payload `nats stream get` shows.
func TestHashIsTheStoredBytesDigest(t *testing.T) {
	rs := history(t, []string{"a"}, 1)
	b, err := events.Marshal(rs[0].Envelope)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(b)
	h, err := chain.Hash(rs[0].Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(d[:])[:32]; h != want || len(h) != chain.Len {
		t.Fatalf("Hash = %q, want %q", h, want)
	}
}

func TestIntactHistoryVerifies(t *testing.T) {
	rs := history(t, []string{"a", "b", "c"}, 5)
	if b, v := verify(rs); b != nil || v.Linked != 12 || v.First != 3 || v.ChainedFrom != 4 {
		t.Fatalf("break %v, verifier %+v; want none, 12 linked, 3 first, chained from 4", b, v)
	}
}

// Each alteration of a copy is caught at the record where the history
// stops being the one written, with the reason that says what happened.
func TestAlterationsBreakTheChain(t *testing.T) {
	actors := []string{"a", "b", "c"}
	seqOf := func(rs []events.Record) []events.Record { // renumber as a copy does
		for i := range rs {
			rs[i].Seq = uint64(i + 1)
		}
		return rs
	}
	cases := []struct {
		name   string
		alter  func([]events.Record) []events.Record
		seq    uint64
		reason string
	}{
		{"edited data", func(rs []events.Record) []events.Record {
			rs[4].Envelope.Data = []byte(`{"amount_micros":1,"reason":"y"}`) // b's 2nd: its successor at 8 breaks
			return rs
		}, 8, chain.ReasonMismatch},
		{"edited prev", func(rs []events.Record) []events.Record {
			rs[4].Envelope.Prev = rs[7].Envelope.Prev
			return rs
		}, 5, chain.ReasonMismatch},
		{"deleted", func(rs []events.Record) []events.Record {
			return seqOf(append(rs[:4:4], rs[5:]...)) // b's 2nd: b's 3rd (now 7) names it
		}, 7, chain.ReasonMismatch},
		{"deleted an actor's first", func(rs []events.Record) []events.Record {
			return seqOf(rs[1:]) // a's 2nd (now 3) names a first no longer there
		}, 3, chain.ReasonNoPredecessor},
		{"inserted, linked to its predecessor", func(rs []events.Record) []events.Record {
			fake := rs[4]
			fake.Envelope.ID, fake.Envelope.Data = "forged", []byte(`{"amount_micros":9,"reason":"x"}`)
			fake.Envelope.Prev = rs[4].Envelope.Prev
			rs[4].Envelope, _ = relink(t, rs[4].Envelope, fake.Envelope) // the forger relinks the next one too
			return seqOf(append(rs[:4:4], append([]events.Record{fake}, rs[4:]...)...))
		}, 9, chain.ReasonMismatch}, // b's 3rd still names b's original 2nd
		{"inserted, linked to nothing", func(rs []events.Record) []events.Record {
			fake := rs[4]
			fake.Envelope.ID, fake.Envelope.Prev = "forged", "0123456789abcdef0123456789abcdef"
			return seqOf(append(rs[:4:4], append([]events.Record{fake}, rs[4:]...)...))
		}, 5, chain.ReasonMismatch},
		{"inserted without prev", func(rs []events.Record) []events.Record {
			fake := rs[4]
			fake.Envelope.ID, fake.Envelope.Prev = "forged", ""
			return seqOf(append(rs[:4:4], append([]events.Record{fake}, rs[4:]...)...))
		}, 5, chain.ReasonMissing},
		{"swapped within an actor", func(rs []events.Record) []events.Record {
			rs[3], rs[6] = rs[6], rs[3] // a's 2nd and 3rd
			return seqOf(rs)
		}, 4, chain.ReasonMismatch},
		{"moved to another actor", func(rs []events.Record) []events.Record {
			e := rs[4].Envelope // b's 2nd, now said to be c's
			e.Subject = events.Subject(events.KindAgent, "c", e.Type)
			rs[4].Envelope = e
			return rs
		}, 5, chain.ReasonMismatch},
		{"subject of no actor", func(rs []events.Record) []events.Record {
			rs[2].Envelope.Subject = "events.agent"
			return rs
		}, 3, chain.ReasonSubject},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := verify(c.alter(history(t, actors, 5)))
			if b == nil {
				t.Fatal("the altered history verifies")
			}
			if b.Seq != c.seq || b.Reason != c.reason {
				t.Fatalf("break %v; want seq %d, %s", b, c.seq, c.reason)
			}
		})
	}
}

// relink returns next naming prev's hash, as a forger who rewrites the
// link of the record after an insertion would write it.
func relink(t *testing.T, next, prev events.Envelope) (events.Envelope, string) {
	t.Helper()
	h, err := chain.Hash(prev)
	if err != nil {
		t.Fatal(err)
	}
	next.Prev = h
	return next, h
}

// A log written before chaining verifies unlinked; an upgraded writer
// continues each actor from its last unlinked event; once any record
// carries a prev, a record without one (not its actor's first) is a break.
func TestChainingBeginsOnceForTheLog(t *testing.T) {
	legacy := history(t, []string{"a", "b"}, 3)
	for i := range legacy {
		legacy[i].Envelope.Prev = ""
	}
	if b, v := verify(legacy); b != nil || v.Unlinked != 4 || v.ChainedFrom != 0 {
		t.Fatalf("legacy log: break %v, verifier %+v", b, v)
	}
	// The upgraded writer: a's next event names a's last legacy event.
	next := func(rs []events.Record, actor, prevOf string) []events.Record {
		var last events.Envelope
		for _, r := range rs {
			if r.Envelope.Subject == prevOf {
				last = r.Envelope
			}
		}
		env, err := events.Encode(events.KindAgent, actor, events.CreditsBurned{AmountMicros: 1, Reason: "up"}, events.Meta{Time: time.Unix(100, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if last.ID != "" {
			env.Prev, _ = chain.Hash(last)
		}
		return append(rs, events.Record{Seq: uint64(len(rs) + 1), Envelope: env})
	}
	burned := func(id string) string { return events.Subject(events.KindAgent, id, "credits_burned") }
	up := next(append([]events.Record(nil), legacy...), "a", burned("a"))
	up = next(up, "c", burned("c")) // a new actor: its first names nothing
	if b, v := verify(up); b != nil || v.Linked != 1 || v.ChainedFrom != 7 {
		t.Fatalf("upgraded log: break %v, verifier %+v", b, v)
	}
	// b writes after chaining began without a prev: a break.
	stale := next(up, "b", "none")
	if b, _ := verify(stale); b == nil || b.Seq != 9 || b.Reason != chain.ReasonMissing {
		t.Fatalf("unlinked record after chaining began: break %v", b)
	}
	// The first linked record names a legacy event that is not a's last.
	wrong := next(append([]events.Record(nil), legacy[:4]...), "a", "none")
	wrong[4].Envelope.Prev, _ = chain.Hash(legacy[0].Envelope)
	if b, _ := verify(wrong); b == nil || b.Seq != 5 || b.Reason != chain.ReasonMismatch || b.PrevSeq != 3 {
		t.Fatalf("first link to a legacy event that is not the last: break %v", b)
	}
}

func TestBreakNamesWhatWasExpected(t *testing.T) {
	rs := history(t, []string{"a"}, 3)
	rs[2].Envelope.Prev = "ffffffffffffffffffffffffffffffff"
	b, _ := verify(rs)
	msg := b.Error()
	for _, want := range []string{"seq 3", rs[2].Envelope.Subject, "prev_mismatch", "ffffffffffffffffffffffffffffffff", "(seq 2)", b.Expected} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
}

// stored reads rs back from their bytes as a log does, each with its
// stored bytes (Record.Stored), edit applied to each record's bytes first.
func stored(t *testing.T, rs []events.Record, edit func(i int, b []byte) []byte) []events.Record {
	t.Helper()
	out := make([]events.Record, len(rs))
	for i, r := range rs {
		b, err := events.Marshal(r.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = events.RecordOf(r.Seq, r.Envelope.Subject, edit(i, b))
	}
	return out
}

// A record read with its stored bytes links as the same record marshalled
// again: the verifier hashes the bytes in place of Marshal's only when
// they are the same, so an edited record breaks the next link either way.
func TestStoredBytesLinkAsTheEnvelope(t *testing.T) {
	rs := history(t, []string{"a", "b"}, 4)
	same := func(_ int, b []byte) []byte { return b }
	read := stored(t, rs, same)
	for i, r := range read {
		if r.Stored == nil {
			t.Fatalf("record %d read without its stored bytes", i+1)
		}
	}
	b1, v1 := verify(rs)
	b2, v2 := verify(read)
	if b1 != nil || b2 != nil || v1.Stats() != v2.Stats() || v2.Linked != 6 {
		t.Fatalf("marshalled: %v %+v; stored: %v %+v", b1, v1.Stats(), b2, v2.Stats())
	}
	// Respelled (UTC as an offset), the record is the same envelope: it
	// is hashed as Marshal writes it, and the chain holds.
	respelled := stored(t, rs, func(i int, b []byte) []byte {
		if i != 2 {
			return b
		}
		return bytes.Replace(b, []byte(`Z","prev"`), []byte(`+00:00","prev"`), 1)
	})
	if respelled[2].Stored != nil {
		t.Fatalf("respelled record kept its stored bytes: %s", respelled[2].Stored)
	}
	if b, v := verify(respelled); b != nil || v.Stats() != v1.Stats() {
		t.Fatalf("respelled record: break %v, %+v", b, v.Stats())
	}
	// An edited amount: the next record of the same actor (a, seq 5)
	// names the hash of the record as written.
	edited := stored(t, rs, func(i int, b []byte) []byte {
		if i != 2 {
			return b
		}
		return bytes.Replace(b, []byte(`"amount_micros":2`), []byte(`"amount_micros":9`), 1)
	})
	if edited[2].Stored == nil {
		t.Fatal("edited record read without its stored bytes")
	}
	if b, _ := verify(edited); b == nil || b.Seq != 5 || b.Reason != chain.ReasonMismatch || b.PrevSeq != 3 {
		t.Fatalf("edited record: break %v", b)
	}
}

func BenchmarkHash(b *testing.B) {
	env, err := events.Encode(events.KindAgent, "a000001",
		events.TransferSent{TransferID: "01kb0f0f7xg6q0m6bq4y0x8y0z", ToAgentID: "a000002", AmountMicros: 501, Memo: "bench"},
		events.Meta{Time: time.Now(), IdempotencyKey: "k-01kb0f0f7xg6q0m6bq4y0x8y0z", Prev: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := chain.Hash(env); err != nil {
			b.Fatal(err)
		}
	}
}
