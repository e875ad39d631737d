package clearing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// TestRules runs the clearing rules scripts of testdata/*.txt against the
// pure core (Decide, then Evolve on the event), as etcd-io/raft's
// interaction tests drive a RawNode: no actors, no log, time given by the
// script. The language is described in testdata/README.md.
//
// After every command the interpreter checks the book's invariants (leased
// within supply and equal to the running executions, prices within bounds,
// a bid never both open and running), that Decide is deterministic, and,
// after a clear, that the allocation is the greedy walk of SPEC.md 1.3
// recomputed independently. At the end of a script it replays every event
// through the log's codec and checks that the fold gives the same book,
// byte for byte.
func TestRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScript(t, f)
		})
	}
}

// scriptPool is the pool every script clears.
const scriptPool = "main"

// scriptEpoch is 00:00 of a script's clock.
var scriptEpoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// script is the interpreter's state.
type script struct {
	t    *testing.T
	file string
	line int

	book clearing.Book
	// marks are the book's redelivery marks, as the shell keeps them.
	marks   runtime.Marks
	applied []events.Event // every event, in order: the log

	markets map[string]events.MarketTerms
	rules   events.PriceRules
	lease   int64
	allocs  int

	seq       uint64 // the stream sequence of the next trigger
	lastCmd   any    // the last command carrying a trigger, for redeliver
	lastEvent events.Event
	lastErr   error
	lastClear *events.CycleCleared
	// bulk is set while randbids lists its bids: the book is then large,
	// and comparing it whole before and after each listing would be
	// quadratic.
	bulk bool
	// unchecked is a refusal the script has not expected yet: a refusal
	// must be expected on the next line, so that a mistyped bid cannot
	// silently drop out of a script.
	unchecked error
}

func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := &script{t: t, file: file, book: clearing.New(scriptPool), markets: map[string]events.MarketTerms{},
		rules: events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000, StepUpPPM: 100_000, StepDownPPM: 100_000}}
	for i, line := range strings.Split(string(data), "\n") {
		s.line = i + 1
		if j := strings.Index(line, "#"); j >= 0 {
			line = line[:j]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "skip" {
			t.Skip(strings.Join(fields[1:], " "))
		}
		s.do(fields[0], fields[1:])
		if t.Failed() {
			return // one failure is enough to read; the rest would follow from it
		}
	}
	if s.unchecked != nil {
		s.fatalf("the last command was refused (%v): say so with expect error or expect rejected", s.unchecked)
	}
	s.checkReplay()
}

func (s *script) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s:%d: "+format, append([]any{s.file, s.line}, args...)...)
}

func (s *script) errorf(format string, args ...any) {
	s.t.Helper()
	s.t.Errorf("%s:%d: "+format, append([]any{s.file, s.line}, args...)...)
}

func (s *script) do(cmd string, args []string) {
	if s.unchecked != nil && !(cmd == "expect" && len(args) > 0 && (args[0] == "error" || args[0] == "rejected")) {
		s.fatalf("the previous command was refused (%v): say so with expect error or expect rejected", s.unchecked)
	}
	s.unchecked = nil
	defer func() {
		if rej, ok := s.lastEvent.(events.BidRejected); ok && cmd != "expect" {
			s.unchecked = errors.New("bid rejected: " + rej.Reason)
		} else if s.lastErr != nil && cmd != "expect" {
			s.unchecked = s.lastErr
		}
	}()
	switch cmd {
	case "configure":
		s.configure(args)
	case "drop":
		if len(args) != 1 {
			s.fatalf("drop <market>")
		}
		delete(s.markets, args[0])
		s.sendConfigure()
	case "rules":
		s.setRules(args)
	case "bid":
		s.bid(args)
	case "randbids":
		s.randBids(args)
	case "validate":
		terms, amount, _ := s.bidTerms(args)
		s.lastEvent, s.lastErr = nil, clearing.Validate(s.book, terms, amount)
	case "raise":
		if len(args) != 2 {
			s.fatalf("raise <bid> <amount>")
		}
		s.decide(clearing.RaiseBid{BidID: args[0], AmountMicros: s.credits(args[1]), Trigger: s.trigger()})
	case "withdraw":
		kv := s.scriptArgs(args[1:])
		s.decide(clearing.WithdrawBid{BidID: args[0], AgentID: kv.take("by"), Reason: "withdrawn"})
		kv.done()
	case "die":
		if len(args) != 1 {
			s.fatalf("die <agent>")
		}
		s.decide(clearing.CancelAgentBids{AgentID: args[0], Trigger: s.trigger()})
	case "clear":
		s.clear(args)
	case "release":
		if len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1] != "triggered" {
			s.fatalf("release <execution>|all [triggered]")
		}
		if args[0] == "all" {
			for _, id := range slices.Sorted(maps.Keys(s.book.Executions)) {
				s.do("release", append([]string{id}, args[1:]...))
			}
			return
		}
		c := clearing.ReleaseExecution{ExecutionID: args[0], Reason: "exited"}
		if len(args) == 2 {
			c.Trigger = s.trigger()
		}
		s.decide(c)
	case "renew":
		if len(args) != 2 {
			s.fatalf("renew <execution> at=T")
		}
		kv := s.scriptArgs(args[1:])
		s.decide(clearing.RenewLease{ExecutionID: args[0], At: s.clock(kv.take("at"))})
		kv.done()
	case "redeliver":
		if s.lastCmd == nil {
			s.fatalf("redeliver: no command with a trigger yet")
		}
		s.decide(s.lastCmd)
	case "expect":
		if len(args) == 0 {
			s.fatalf("expect what?")
		}
		s.expect(args[0], args[1:])
	default:
		s.fatalf("unknown command %q", cmd)
	}
}

// decide runs the command as the shell does (runtime.Step: a redelivery
// is answered from the marks, anything else by Decide) and, when it yields
// an event, Evolve, checking determinism and the invariants.
func (s *script) decide(cmd any) {
	s.t.Helper()
	_, bulk := cmd.(clearing.ListBid)
	bulk = bulk && s.bulk
	var before []byte
	if !bulk {
		before = s.bookJSON()
	}
	agg := clearing.Aggregate(scriptPool)
	e, err := runtime.Step(agg, s.book, s.marks, cmd)
	if again, err2 := runtime.Step(agg, s.book, s.marks, cmd); !bytes.Equal(scriptJSON(s.t, e), scriptJSON(s.t, again)) || !scriptSameErr(err, err2) {
		s.errorf("Decide is not deterministic: %+v (%v) then %+v (%v)", e, err, again, err2)
	}
	if !bulk {
		if after := s.bookJSON(); !bytes.Equal(before, after) {
			s.errorf("Decide changed the book:\n%s\n%s", before, after)
		}
	}
	if runtime.TriggerOf(cmd).Seq != 0 {
		s.lastCmd = cmd
	}
	s.lastEvent, s.lastErr = e, err
	if c, ok := cmd.(clearing.Clear); ok && err == nil {
		s.lastClear = nil
		if cc, ok := e.(events.CycleCleared); ok {
			s.checkWalk(cc)
			s.lastClear = &cc
		} else if c.Cycle == s.book.Cycle+1 {
			s.checkIdle(c)
		}
	}
	if e == nil {
		return
	}
	s.book = clearing.Evolve(s.book, e)
	s.marks = s.marks.Settle(runtime.TriggerOf(e))
	s.applied = append(s.applied, e)
	s.checkInvariants()
}

func scriptSameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

func (s *script) trigger() events.Trigger {
	s.seq++
	return events.Trigger{Manager: clearing.ManagerName, Seq: s.seq}
}

// configure <market> supply=U price=P [min=P] [max=P]: adds or changes a
// market and sends Configure with every market so far.
func (s *script) configure(args []string) {
	if len(args) < 1 {
		s.fatalf("configure <market> supply= price= [min=] [max=]")
	}
	kv := s.scriptArgs(args[1:])
	price := s.credits(kv.take("price"))
	m := events.MarketTerms{SupplyUnits: s.units(kv.take("supply")), PriceMicros: price,
		MinPriceMicros: max(price/100, 1), MaxPriceMicros: price * 100}
	if v, ok := kv.opt("min"); ok {
		m.MinPriceMicros = s.credits(v)
	}
	if v, ok := kv.opt("max"); ok {
		m.MaxPriceMicros = s.credits(v)
	}
	kv.done()
	s.markets[args[0]] = m
	s.sendConfigure()
}

// rules [high=F] [low=F] [up=F] [down=F] [lease=SECONDS] [allocs=N]
func (s *script) setRules(args []string) {
	kv := s.scriptArgs(args)
	ppm := func(key string, into *int64) {
		if v, ok := kv.opt(key); ok {
			*into = int64(s.units(v)) // a fraction in micro-units is parts per million
		}
	}
	ppm("high", &s.rules.HighMarkPPM)
	ppm("low", &s.rules.LowMarkPPM)
	ppm("up", &s.rules.StepUpPPM)
	ppm("down", &s.rules.StepDownPPM)
	if v, ok := kv.opt("lease"); ok {
		s.lease = s.integer(v)
	}
	if v, ok := kv.opt("allocs"); ok {
		s.allocs = int(s.integer(v))
	}
	kv.done()
	if len(s.markets) > 0 {
		s.sendConfigure()
	}
}

func (s *script) sendConfigure() {
	s.decide(clearing.Configure{Markets: maps.Clone(s.markets), Rules: s.rules, LeaseTimeoutSeconds: s.lease, AllocationsMax: s.allocs})
}

// bid <id> agent=A [for=B] <resource>=U... amount=C [at=T] [payload_bytes=N]
// [pool=P] [nocheck]: what Service.Place does, without the account:
// Validate (a typed rejection records nothing), then ListBid as the
// manager sends it. nocheck skips Validate, to reach the book's own
// refusal (BidRejected).
func (s *script) bid(args []string) {
	if len(args) < 1 {
		s.fatalf("bid <id> agent= ...")
	}
	id := args[0]
	nocheck := slices.Contains(args, "nocheck")
	args = slices.DeleteFunc(slices.Clone(args[1:]), func(a string) bool { return a == "nocheck" })
	terms, amount, extra := s.bidTerms(args)
	if extra.agent == "" {
		s.fatalf("bid %s: missing agent=", id)
	}
	if !nocheck {
		if err := clearing.Validate(s.book, terms, amount); err != nil {
			s.lastEvent, s.lastErr = nil, err
			return
		}
	}
	s.decide(clearing.ListBid{BidID: id, AgentID: extra.agent, Terms: terms, AmountMicros: amount,
		PlacedAt: extra.at, Trigger: s.trigger()})
}

type scriptBid struct {
	agent string
	at    time.Time
}

// bidTerms reads the terms of a bid; any key it does not know is a
// resource. A bid placed without at= gets the script's epoch plus its
// trigger's sequence in milliseconds: later bids are placed later.
func (s *script) bidTerms(args []string) (events.BidTerms, events.Micros, scriptBid) {
	kv := s.scriptArgs(args)
	terms := events.BidTerms{Pool: scriptPool, Resources: map[string]events.Units{}}
	extra := scriptBid{at: scriptEpoch.Add(time.Duration(s.seq+1) * time.Millisecond)}
	extra.agent, _ = kv.opt("agent")
	amount := s.credits(kv.take("amount"))
	if v, ok := kv.opt("for"); ok {
		terms.BeneficiaryID = v
	}
	if v, ok := kv.opt("at"); ok {
		extra.at = s.clock(v)
	}
	if v, ok := kv.opt("payload_bytes"); ok {
		terms.Payload = strings.Repeat("p", int(s.integer(v)))
	}
	if v, ok := kv.opt("pool"); ok {
		terms.Pool = v
	}
	for k, v := range kv.rest() {
		terms.Resources[k] = s.units(v)
	}
	return terms, amount, extra
}

// randbids n=N seed=S [prefix=r] [agents=K] [at=T]: N random valid bids
// (bundles of cpu_seconds, memory_mb and, when the market exists, tokens,
// with micro-unit fractions; amounts from the reserve to ten times it),
// deterministic for a seed.
func (s *script) randBids(args []string) {
	kv := s.scriptArgs(args)
	n := int(s.integer(kv.take("n")))
	seed := uint64(s.integer(kv.take("seed")))
	prefix, agents := "r", int64(10)
	if v, ok := kv.opt("prefix"); ok {
		prefix = v
	}
	if v, ok := kv.opt("agents"); ok {
		agents = s.integer(v)
	}
	at := scriptEpoch
	if v, ok := kv.opt("at"); ok {
		at = s.clock(v)
	}
	kv.done()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s.bulk = true
	defer func() { s.bulk = false }()
	for i := range n {
		res := map[string]events.Units{}
		for _, r := range slices.Sorted(maps.Keys(s.book.Markets)) {
			if r != clearing.ResourceCPU && r != clearing.ResourceMemory && rng.IntN(3) == 0 {
				continue // optional resources are left out now and then
			}
			supply := s.book.Markets[r].SupplyUnits
			res[r] = 1 + events.Units(rng.Int64N(int64(max(supply/3, 1)))) // up to a third of the supply
		}
		terms := events.BidTerms{Pool: scriptPool, Resources: res}
		var reserve events.Micros
		for r, u := range res {
			c, _ := events.Cost(u, s.book.Markets[r].PriceMicros)
			reserve += c
		}
		amount := max(reserve, 1) + events.Micros(rng.Int64N(int64(9*max(reserve, 1)+1)))
		// Equal amounts and times now and then, so that the tie-breaks play.
		if i > 0 && rng.IntN(5) == 0 {
			amount = reserve + events.Micros(rng.IntN(3))*events.MicrosPerCredit
		}
		placed := at.Add(time.Duration(rng.IntN(n)) * time.Second)
		id := fmt.Sprintf("%s%04d", prefix, i)
		if err := clearing.Validate(s.book, terms, amount); err != nil {
			s.fatalf("randbids made an invalid bid %s: %v", id, err)
		}
		s.decide(clearing.ListBid{BidID: id, AgentID: fmt.Sprintf("ag%d", rng.Int64N(agents)), Terms: terms,
			AmountMicros: amount, PlacedAt: placed, Trigger: s.trigger()})
		if _, ok := s.lastEvent.(events.BidListed); !ok {
			s.fatalf("randbids: %s not listed: %+v %v", id, s.lastEvent, s.lastErr)
		}
	}
}

// clear [N] [at=T]: Clear cycle N (the next one by default).
func (s *script) clear(args []string) {
	c := clearing.Clear{Cycle: s.book.Cycle + 1, At: scriptEpoch}
	if len(args) > 0 && !strings.Contains(args[0], "=") {
		c.Cycle = uint64(s.integer(args[0]))
		args = args[1:]
	}
	kv := s.scriptArgs(args)
	if v, ok := kv.opt("at"); ok {
		c.At = s.clock(v)
	}
	kv.done()
	s.decide(c)
}

// scriptReference is the cycle of SPEC.md 1.3 recomputed from the book before
// it, in the simplest way: leases of timed out executions freed, bids sorted
// by amount (highest first), time, id, each taken when every resource it
// asks for fits in what is left, up to the cap; then each market's
// utilization and price move.
type scriptReference struct {
	expired []string
	winners []string
	leased  map[string]events.Units
	prices  map[string]events.Micros // after the move
}

func (s *script) reference(at time.Time) scriptReference {
	b := s.book
	free := map[string]events.Units{}
	for r, m := range b.Markets {
		free[r] = m.SupplyUnits - m.LeasedUnits
	}
	var ref scriptReference
	for id, x := range b.Executions {
		if b.LeaseTimeoutSeconds > 0 && at.Sub(x.At) >= time.Duration(b.LeaseTimeoutSeconds)*time.Second {
			ref.expired = append(ref.expired, id)
			for r, u := range x.Resources {
				free[r] += u
			}
		}
	}
	slices.Sort(ref.expired)
	bids := slices.SortedFunc(maps.Values(b.Bids), func(x, y clearing.Bid) int {
		if x.AmountMicros != y.AmountMicros {
			return -scriptCmp(x.AmountMicros, y.AmountMicros)
		}
		if c := x.PlacedAt.Compare(y.PlacedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	for _, bid := range bids {
		if len(ref.winners) == b.AllocationsMax {
			break
		}
		fit := true
		for r, u := range bid.Resources {
			fit = fit && u <= free[r]
		}
		if fit {
			for r, u := range bid.Resources {
				free[r] -= u
			}
			ref.winners = append(ref.winners, bid.ID)
		}
	}
	ref.leased, ref.prices = map[string]events.Units{}, map[string]events.Micros{}
	for r, m := range b.Markets {
		leased := m.SupplyUnits - free[r]
		ref.leased[r] = leased
		ref.prices[r] = m.PriceMicros
		// Utilization in whole parts per million, rounded down, as the
		// event reports it (scripts keep leased*1e6 inside int64).
		switch util := int64(leased) * 1_000_000 / int64(m.SupplyUnits); {
		case util > b.Rules.HighMarkPPM:
			ref.prices[r] = min(m.MaxPriceMicros, m.PriceMicros+max(m.PriceMicros*events.Micros(b.Rules.StepUpPPM)/1_000_000, 1))
		case util < b.Rules.LowMarkPPM:
			ref.prices[r] = max(m.MinPriceMicros, m.PriceMicros-max(m.PriceMicros*events.Micros(b.Rules.StepDownPPM)/1_000_000, 1))
		}
	}
	return ref
}

// checkWalk compares a written cycle with the reference.
func (s *script) checkWalk(cc events.CycleCleared) {
	s.t.Helper()
	b := s.book
	ref := s.reference(cc.At)
	if !slices.Equal(ref.expired, cc.Expired) {
		s.errorf("cycle %d expired %v, want %v", cc.Cycle, cc.Expired, ref.expired)
	}
	var got []string
	for _, a := range cc.Allocations {
		got = append(got, a.BidID)
		bid := b.Bids[a.BidID]
		if !maps.Equal(a.Resources, bid.Resources) || a.AmountMicros != bid.AmountMicros || a.AgentID != bid.AgentID ||
			a.BeneficiaryID != bid.Runner() || a.ExecutionID != clearing.ExecutionID(bid.ID) || a.Payload != bid.Payload {
			s.errorf("allocation %+v does not match its bid %+v", a, bid)
		}
	}
	if !slices.Equal(got, ref.winners) {
		s.errorf("cycle %d allocated %v, want %v", cc.Cycle, got, ref.winners)
	}
	if len(cc.Markets) != len(b.Markets) {
		s.errorf("cycle %d reports %d markets, the book has %d", cc.Cycle, len(cc.Markets), len(b.Markets))
	}
	for r, o := range cc.Markets {
		m := b.Markets[r]
		if o.LeasedUnits != ref.leased[r] || o.PriceMicros != m.PriceMicros || o.NewPriceMicros != ref.prices[r] {
			s.errorf("cycle %d market %s outcome %+v, want leased %s, price %s -> %s", cc.Cycle, r, o, ref.leased[r], m.PriceMicros, ref.prices[r])
		}
	}
	if cc.OpenBids != len(b.Bids)-len(cc.Allocations) {
		s.errorf("cycle %d open bids %d, want %d", cc.Cycle, cc.OpenBids, len(b.Bids)-len(cc.Allocations))
	}
}

// checkIdle: a cycle may write nothing only when nothing would happen in
// it: no expiry, no winner, no price move.
func (s *script) checkIdle(c clearing.Clear) {
	s.t.Helper()
	ref := s.reference(c.At)
	if len(ref.expired) > 0 || len(ref.winners) > 0 {
		s.errorf("cycle %d wrote nothing, but expires %v and allocates %v", c.Cycle, ref.expired, ref.winners)
	}
	for r, m := range s.book.Markets {
		if ref.prices[r] != m.PriceMicros {
			s.errorf("cycle %d wrote nothing, but %s's price should move %s -> %s", c.Cycle, r, m.PriceMicros, ref.prices[r])
		}
	}
}

func scriptCmp[T ~int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkInvariants holds after every event: leased is the sum of the
// running executions and within 0..supply, prices within bounds, and no bid
// both open and running. (An execution may hold units of a market the
// configuration has dropped since it won.)
func (s *script) checkInvariants() {
	s.t.Helper()
	sum := map[string]events.Units{}
	for id, x := range s.book.Executions {
		for r, u := range x.Resources {
			sum[r] += u
		}
		if _, open := s.book.Bids[x.BidID]; open {
			s.errorf("bid %s is open and running as %s", x.BidID, id)
		}
	}
	for r, m := range s.book.Markets {
		if m.LeasedUnits < 0 || m.LeasedUnits > m.SupplyUnits {
			s.errorf("market %s leases %s of a supply of %s", r, m.LeasedUnits, m.SupplyUnits)
		}
		if m.LeasedUnits != sum[r] {
			s.errorf("market %s leases %s but its executions hold %s", r, m.LeasedUnits, sum[r])
		}
		if m.PriceMicros < m.MinPriceMicros || m.PriceMicros > m.MaxPriceMicros {
			s.errorf("market %s price %s outside [%s, %s]", r, m.PriceMicros, m.MinPriceMicros, m.MaxPriceMicros)
		}
	}
}

// checkReplay folds every event, through the log's codec, into a fresh
// book: it must equal the live one byte for byte.
func (s *script) checkReplay() {
	s.t.Helper()
	b := clearing.New(scriptPool)
	for i, e := range s.applied {
		env, err := events.Encode(events.KindClearing, scriptPool, e, events.Meta{Time: scriptEpoch})
		if err != nil {
			s.t.Fatal(err)
		}
		raw, err := events.Marshal(env)
		if err != nil {
			s.t.Fatal(err)
		}
		env, err = events.Unmarshal(raw)
		if err != nil {
			s.t.Fatal(err)
		}
		decoded, err := events.Decode(env)
		if err != nil {
			s.t.Fatalf("event %d: %v", i, err)
		}
		b = clearing.Evolve(b, decoded)
	}
	if got, want := scriptJSON(s.t, b), s.bookJSON(); !bytes.Equal(got, want) {
		s.t.Errorf("%s: replayed book differs from the live one:\nreplay %s\nlive   %s", s.file, got, want)
	}
}

func (s *script) bookJSON() []byte { return scriptJSON(s.t, s.book) }

func scriptJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Expectations.

var scriptErrors = map[string]error{
	"ErrNotConfigured":       clearing.ErrNotConfigured,
	"ErrUnknownResource":     clearing.ErrUnknownResource,
	"ErrInvalidBundle":       clearing.ErrInvalidBundle,
	"ErrExceedsSupply":       clearing.ErrExceedsSupply,
	"ErrBelowReserve":        clearing.ErrBelowReserve,
	"ErrBidNotOpen":          clearing.ErrBidNotOpen,
	"ErrNotYourBid":          clearing.ErrNotYourBid,
	"ErrExecutionNotRunning": clearing.ErrExecutionNotRunning,
	"ErrCycleOutOfOrder":     clearing.ErrCycleOutOfOrder,
	"ErrBookFull":            clearing.ErrBookFull,
	"ErrUnknownCommand":      clearing.ErrUnknownCommand,
	"ErrInvalidAmount":       events.ErrInvalidAmount,
	"ErrInvalidID":           events.ErrInvalidID,
}

func (s *script) expect(what string, args []string) {
	s.t.Helper()
	switch what {
	case "winners":
		var got []string
		if s.lastClear != nil {
			for _, a := range s.lastClear.Allocations {
				got = append(got, a.BidID)
			}
		}
		if !slices.Equal(got, args) {
			s.errorf("winners %v, want %v", got, args)
		}
	case "expired":
		var got []string
		if s.lastClear != nil {
			got = s.lastClear.Expired
		}
		if !slices.Equal(got, args) {
			s.errorf("expired %v, want %v", got, args)
		}
	case "open":
		s.expectSet("open bids", slices.Collect(maps.Keys(s.book.Bids)), args)
	case "running":
		s.expectSet("running executions", slices.Collect(maps.Keys(s.book.Executions)), args)
	case "leased":
		for k, v := range s.scriptArgs(args).rest() {
			if got, want := s.book.Markets[k].LeasedUnits, s.units(v); got != want {
				s.errorf("leased %s = %s, want %s", k, got, want)
			}
		}
	case "price":
		for k, v := range s.scriptArgs(args).rest() {
			if got, want := s.book.Markets[k].PriceMicros, s.credits(v); got != want {
				s.errorf("price %s = %s, want %s", k, got, want)
			}
		}
	case "utilization":
		if s.lastClear == nil {
			s.fatalf("expect utilization: no clear yet")
		}
		for k, v := range s.scriptArgs(args).rest() {
			if got, want := s.lastClear.Markets[k].UtilizationPPM, int64(s.units(v)); got != want {
				s.errorf("utilization %s = %d ppm, want %d ppm", k, got, want)
			}
		}
	case "markets":
		s.expectSet("markets", slices.Collect(maps.Keys(s.book.Markets)), args)
	case "within-supply":
		for r, m := range s.book.Markets {
			if m.LeasedUnits > m.SupplyUnits {
				s.errorf("market %s leases %s > supply %s", r, m.LeasedUnits, m.SupplyUnits)
			}
		}
	case "error":
		s.expectError(args)
	case "rejected":
		rej, ok := s.lastEvent.(events.BidRejected)
		if !ok || len(args) == 0 || rej.BidID != args[0] {
			s.errorf("want bid %v rejected, got %+v (err %v)", args, s.lastEvent, s.lastErr)
			return
		}
		if want := strings.Join(args[1:], " "); !strings.Contains(rej.Reason, want) {
			s.errorf("rejection reason %q does not say %q", rej.Reason, want)
		}
	case "noop":
		if s.lastEvent != nil || s.lastErr != nil {
			s.errorf("want nothing decided, got %T %+v (err %v)", s.lastEvent, s.lastEvent, s.lastErr)
		}
	case "event":
		if len(args) != 1 || s.lastEvent == nil || s.lastEvent.EventType() != args[0] {
			s.errorf("want event %v, got %+v (err %v)", args, s.lastEvent, s.lastErr)
		}
	case "cycle":
		if len(args) != 1 || s.book.Cycle != uint64(s.integer(args[0])) {
			s.errorf("cycle %d, want %v", s.book.Cycle, args)
		}
	default:
		s.fatalf("unknown expectation %q", what)
	}
}

func (s *script) expectSet(what string, got, want []string) {
	s.t.Helper()
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		s.errorf("%s %v, want %v", what, got, want)
	}
}

// expect error none | expect error ErrX [text...]
func (s *script) expectError(args []string) {
	s.t.Helper()
	if len(args) == 0 {
		s.fatalf("expect error none | ErrX [text]")
	}
	if args[0] == "none" {
		if s.lastErr != nil {
			s.errorf("unexpected error %v", s.lastErr)
		}
		return
	}
	target, ok := scriptErrors[args[0]]
	if !ok {
		s.fatalf("unknown error %q", args[0])
	}
	if s.lastEvent != nil {
		s.errorf("want %s, but %T %+v was decided", args[0], s.lastEvent, s.lastEvent)
		return
	}
	if !errors.Is(s.lastErr, target) {
		s.errorf("error %v, want %s", s.lastErr, args[0])
		return
	}
	if want := strings.Join(args[1:], " "); !strings.Contains(s.lastErr.Error(), want) {
		s.errorf("error %q does not say %q", s.lastErr, want)
	}
}

// Arguments.

type scriptArgs struct {
	s *script
	m map[string]string
}

func (s *script) scriptArgs(args []string) scriptArgs {
	s.t.Helper()
	kv := scriptArgs{s: s, m: map[string]string{}}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			s.fatalf("want key=value, got %q", a)
		}
		if _, dup := kv.m[k]; dup {
			s.fatalf("%s given twice", k)
		}
		kv.m[k] = v
	}
	return kv
}

func (kv scriptArgs) take(k string) string {
	kv.s.t.Helper()
	v, ok := kv.opt(k)
	if !ok {
		kv.s.fatalf("missing %s=", k)
	}
	return v
}

func (kv scriptArgs) opt(k string) (string, bool) {
	v, ok := kv.m[k]
	delete(kv.m, k)
	return v, ok
}

func (kv scriptArgs) rest() map[string]string { return kv.m }

func (kv scriptArgs) done() {
	kv.s.t.Helper()
	if len(kv.m) > 0 {
		kv.s.fatalf("unknown arguments %v", kv.m)
	}
}

func (s *script) credits(v string) events.Micros {
	s.t.Helper()
	m, err := events.ParseCredits(v)
	if err != nil {
		s.fatalf("%v", err)
	}
	return m
}

func (s *script) units(v string) events.Units {
	s.t.Helper()
	u, err := events.ParseUnits(v)
	if err != nil {
		s.fatalf("%v", err)
	}
	return u
}

func (s *script) integer(v string) int64 {
	s.t.Helper()
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		s.fatalf("%v", err)
	}
	return n
}

// clock reads mm:ss or hh:mm:ss after the script's epoch.
func (s *script) clock(v string) time.Time {
	s.t.Helper()
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		s.fatalf("time %q: want mm:ss or hh:mm:ss", v)
	}
	var d time.Duration
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			s.fatalf("time %q: %v", v, err)
		}
		d = d*60 + time.Duration(n)
	}
	return scriptEpoch.Add(d * time.Second)
}

// TestBrokeSparesTheBeneficiaryOfAnOpenBid: SPEC.md 1.4 counts a bid
// placed on an agent's behalf as its future, so the end-of-cycle rule must
// not kill an agent that another agent's open bid will wake.
func TestBrokeSparesTheBeneficiaryOfAnOpenBid(t *testing.T) {
	b := clearing.New(scriptPool)
	b.Bids["b1"] = clearing.Bid{ID: "b1", AgentID: "sponsor", BeneficiaryID: "sleeper",
		Resources: map[string]events.Units{clearing.ResourceCPU: events.WholeUnits(1)}, AmountMicros: events.Credits(10)}
	accounts := []agent.Account{
		{ID: "sponsor", Status: agent.StatusAlive, BalanceMicros: events.Credits(100), HeldMicros: events.Credits(10),
			Holds: map[string]events.Micros{"b1": events.Credits(10)}},
		{ID: "sleeper", Status: agent.StatusAlive},
	}
	if dead := clearing.Broke(accounts, b); len(dead) != 0 {
		t.Fatalf("Broke = %v; sleeper has an open bid on its behalf", dead)
	}
}
