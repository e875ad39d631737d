package clearing_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
)

// placedBid is a bid the test placed, in order of placement, whatever
// became of it.
type placedBid struct {
	id, agent string
	amount    events.Micros
}

// startedExecution is an execution the test started, whatever became of
// it.
type startedExecution struct{ id, runner string }

// TestPropertyClearing drives a whole economy (accounts, book, markets,
// both managers) with random commands and restarts over one in-memory log.
// After every step, once the managers caught up: the log passes the audit
// (every invariant of SPEC.md section 4, 1 to 4, at every event), nothing
// is left owed (every bid hold listed or rejected, every allocation paid or
// refused, every cycle recorded by every market, markets leasing exactly
// the running executions), and the live actors hold exactly the state
// replayed from the log (invariant 7).
func TestPropertyClearing(t *testing.T) {
	// seen counts the event types of every run, to show what was covered
	// (go test -v).
	seen := map[string]int{}
	defer func() { t.Logf("events over every run: %v", seen) }()
	rapid.Check(t, func(rt *rapid.T) {
		log, store := memlog.New(), memlog.NewStore()
		options := func(rt *rapid.T) nodeOptions {
			return nodeOptions{runtime: runtime.Options{SnapshotEvery: rapid.IntRange(0, 4).Draw(rt, "snapshotEvery")}}
		}
		n := boot(rt, log, store, options(rt))
		defer func() { n.close(rt) }()
		ctx := context.Background()
		living := []string{"a", "b", "c"}
		n.createAgents(rt, events.Credits(60), living...)
		everyone := append(slices.Clone(living), "d") // d is never created
		// someone is mostly a created agent, now and then the unknown d.
		someone := func(rt *rapid.T, label string) string {
			if rapid.IntRange(0, 9).Draw(rt, label+"Unknown") == 9 {
				return "d"
			}
			return rapid.SampledFrom(living).Draw(rt, label)
		}
		audit := newAuditor()
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		var bids []placedBid
		var executions []string
		var started []startedExecution

		reserve := func(rt *rapid.T, bundle map[string]events.Units) events.Micros {
			prices, err := clearing.Inspect(ctx, n.svc, func(b clearing.Book) map[string]events.Micros {
				out := map[string]events.Micros{}
				for r, m := range b.Markets {
					out[r] = m.PriceMicros
				}
				return out
			})
			if err != nil {
				rt.Fatal(err)
			}
			var sum events.Micros
			for r, u := range bundle {
				c, _ := events.Cost(u, prices[r])
				sum += c
			}
			return sum
		}
		drawBid := func(rt *rapid.T) (events.BidTerms, events.Micros) {
			bundle := map[string]events.Units{
				"cpu_seconds": events.Units(rapid.Int64Range(1, 60).Draw(rt, "cpuTenths")) * 100_000,
				"memory_mb":   events.WholeUnits(rapid.Int64Range(1, 600).Draw(rt, "memory")),
			}
			if rapid.Bool().Draw(rt, "tokens") {
				bundle["tokens"] = events.WholeUnits(rapid.Int64Range(1, 3000).Draw(rt, "tokenUnits"))
			}
			terms := events.BidTerms{Resources: bundle}
			if rapid.IntRange(0, 3).Draw(rt, "sponsored") == 0 {
				terms.BeneficiaryID = someone(rt, "beneficiary")
			}
			// Around the reserve: sometimes below it (refused), mostly
			// above.
			percent := events.Micros(rapid.IntRange(100, 250).Draw(rt, "percentOfReserve"))
			if rapid.IntRange(0, 4).Draw(rt, "belowReserve") == 4 {
				percent = 95
			}
			return terms, max(1, reserve(rt, bundle)*percent/100)
		}
		pickBid := func(rt *rapid.T) placedBid {
			if len(bids) == 0 {
				rt.Skip("no bid yet")
			}
			return bids[rapid.IntRange(0, len(bids)-1).Draw(rt, "bid")]
		}
		// bidder is mostly the bid's own agent, sometimes someone else.
		bidder := func(rt *rapid.T, b placedBid) string {
			if rapid.IntRange(0, 4).Draw(rt, "stranger") == 4 {
				return someone(rt, "by")
			}
			return b.agent
		}

		placeBid := func(rt *rapid.T) {
			who := someone(rt, "agent")
			terms, amount := drawBid(rt)
			id, status, err := n.svc.Place(ctx, who, "", terms, amount)
			requireTyped(rt, "place", err)
			seen["place: "+rejection(err)]++
			if err == nil {
				if status != clearing.StatusOpen {
					rt.Fatalf("bid %s placed at the posted prices is %s", id, status)
				}
				bids = append(bids, placedBid{id: id, agent: who, amount: amount})
			}
		}
		clearCycle := func(rt *rapid.T) {
			// Sometimes past the lease timeout of the running executions.
			now = now.Add(time.Duration(rapid.IntRange(1, 90).Draw(rt, "seconds")) * time.Second)
			cc, _, err := n.svc.Clear(ctx, now)
			if err != nil {
				rt.Fatal(err)
			}
			if cc != nil { // nil: an idle cycle writes nothing
				for _, a := range cc.Allocations {
					executions = append(executions, a.ExecutionID)
				}
			}
		}

		rt.Repeat(map[string]func(*rapid.T){
			"place": func(rt *rapid.T) {
				for range rapid.IntRange(1, 3).Draw(rt, "bids") {
					placeBid(rt)
				}
			},
			// A bid's hold placed straight on the account, unchecked: the
			// book lists it or records its rejection, and the hold is
			// voided.
			"placeAgain": func(rt *rapid.T) { placeBid(rt) },
			"clearAgain": func(rt *rapid.T) { clearCycle(rt) },
			"placeUnchecked": func(rt *rapid.T) {
				who := rapid.SampledFrom(living).Draw(rt, "agent")
				terms, amount := drawBid(rt)
				// The System Service refuses a dead or unknown beneficiary
				// before the hold; an unchecked hold names none.
				terms.Pool, terms.BeneficiaryID = testPool, ""
				switch rapid.IntRange(0, 3).Draw(rt, "flaw") {
				case 0:
					delete(terms.Resources, "memory_mb")
				case 1:
					terms.Resources["attention"] = events.WholeUnits(1)
				case 2:
					amount = max(1, amount/3)
				}
				id := clearing.BidIDPrefix + events.NewID()
				_, err := n.accounts.Do(ctx, who, "", agent.PlaceHold{HoldID: id, AmountMicros: amount, Purpose: events.PurposeBid, Bid: &terms})
				requireTyped(rt, "place hold", err)
				if err == nil {
					bids = append(bids, placedBid{id: id, agent: who, amount: amount})
				}
			},
			"raise": func(rt *rapid.T) {
				b := pickBid(rt)
				amount := b.amount + events.Credits(rapid.Int64Range(0, 10).Draw(rt, "raiseBy"))
				status, err := n.svc.Raise(ctx, bidder(rt, b), "", b.id, amount)
				requireTyped(rt, "raise", err)
				if err == nil && status == clearing.StatusOpen {
					for i := range bids {
						if bids[i].id == b.id {
							bids[i].amount = amount
						}
					}
				}
			},
			"withdraw": func(rt *rapid.T) {
				b := pickBid(rt)
				requireTyped(rt, "withdraw", n.svc.Withdraw(ctx, bidder(rt, b), "", b.id))
			},
			"clear": func(rt *rapid.T) { clearCycle(rt) },
			// The executor's part: a paid allocation still leased starts
			// in its runner's account (refused for a dead runner), and a
			// started execution ends once, which releases its leases.
			"start": func(rt *rapid.T) {
				if len(executions) == 0 {
					rt.Skip("no execution yet")
				}
				id := executions[rapid.IntRange(0, len(executions)-1).Draw(rt, "execution")]
				type held struct {
					x  clearing.Execution
					ok bool
				}
				l, err := clearing.Inspect(ctx, n.svc, func(b clearing.Book) held {
					x, _, ok := b.Lease(id)
					x.Resources = maps.Clone(x.Resources)
					return held{x, ok}
				})
				if err != nil {
					rt.Fatal(err)
				}
				if !l.ok {
					rt.Skip("its lease is released")
				}
				x := l.x
				last, err := log.LastSeq(ctx)
				if err != nil {
					rt.Fatal(err)
				}
				_, err = n.accounts.Do(ctx, x.BeneficiaryID, "", agent.StartExecution{ExecutionID: id, BidID: x.BidID, PayerID: x.AgentID,
					Pool: testPool, Resources: x.Resources, Trigger: events.Trigger{Manager: "executor", Seq: last}})
				requireTyped(rt, "start", err)
				seen["start: "+rejection(err)]++
				started = append(started, startedExecution{id: id, runner: x.BeneficiaryID})
			},
			"end": func(rt *rapid.T) {
				if len(started) == 0 {
					rt.Skip("no execution started")
				}
				x := started[rapid.IntRange(0, len(started)-1).Draw(rt, "started")]
				_, err := n.accounts.Do(ctx, x.runner, "", agent.EndExecution{ExecutionID: x.id,
					Cause: rapid.SampledFrom(events.ExecutionCauses).Draw(rt, "cause"), ExitCode: rapid.IntRange(-9, 3).Draw(rt, "exitCode")})
				requireTyped(rt, "end", err)
				seen["end: "+rejection(err)]++
			},
			"release": func(rt *rapid.T) {
				if len(executions) == 0 {
					rt.Skip("no execution yet")
				}
				x := executions[rapid.IntRange(0, len(executions)-1).Draw(rt, "execution")]
				requireTyped(rt, "release", n.svc.Release(ctx, x, "exited"))
			},
			"die": func(rt *rapid.T) {
				who := someone(rt, "agent")
				n.withdrawBidsFor(rt, who)
				_, err := n.accounts.Do(ctx, who, "", agent.Die{Reason: "test", IfBroke: rapid.Bool().Draw(rt, "ifBroke")})
				requireTyped(rt, "die", err)
			},
			"transfer": func(rt *rapid.T) {
				from, to := someone(rt, "from"), someone(rt, "to")
				amount := events.Credits(rapid.Int64Range(1, 30).Draw(rt, "credits"))
				_, err := n.accounts.Transfer(ctx, from, "", agent.Transfer{TransferID: "t-" + events.NewID(), To: to, AmountMicros: amount})
				requireTyped(rt, "transfer", err)
			},
			"restart": func(rt *rapid.T) {
				n.close(rt)
				n = boot(rt, log, store, options(rt))
			},
			// A crash right after a cycle's decision: the cycle is in the
			// log, none of its payments and leases; the next process
			// carries them out.
			"crashAfterClear": func(rt *rapid.T) {
				now = now.Add(time.Duration(rapid.IntRange(1, 90).Draw(rt, "seconds")) * time.Second)
				n.haltClearing(rt)
				cc, _ := n.clearDirect(rt, now)
				for _, a := range cc.Allocations {
					executions = append(executions, a.ExecutionID)
				}
				n.close(rt)
				n = boot(rt, log, store, options(rt))
			},
			// A crash after a cycle's decision, and a winner dying before
			// it is paid: its payment is refused and its leases revoked.
			"dieBeforePaid": func(rt *rapid.T) {
				now = now.Add(time.Duration(rapid.IntRange(1, 90).Draw(rt, "seconds")) * time.Second)
				n.haltClearing(rt)
				cc, _ := n.clearDirect(rt, now)
				if len(cc.Allocations) > 0 {
					a := cc.Allocations[rapid.IntRange(0, len(cc.Allocations)-1).Draw(rt, "winner")]
					n.withdrawBidsFor(rt, a.AgentID)
					if _, err := n.accounts.Do(ctx, a.AgentID, "", agent.Die{Reason: "test"}); err != nil {
						rt.Fatal(err)
					}
				}
				for _, a := range cc.Allocations {
					executions = append(executions, a.ExecutionID)
				}
				n.close(rt)
				n = boot(rt, log, store, options(rt))
			},
			// A crash with work the clearing manager has not reacted to
			// yet, in any order: deaths whose bids are not cancelled, holds
			// not yet listed (the price may rise past them), cycles not yet
			// paid. The next process reacts in log order.
			"crashWithPendingWork": func(rt *rapid.T) {
				n.haltClearing(rt)
				for range rapid.IntRange(1, 4).Draw(rt, "pending") {
					switch work := rapid.IntRange(0, 5).Draw(rt, "work"); {
					case work == 5:
						who := someone(rt, "agent")
						n.withdrawBidsFor(rt, who)
						_, err := n.accounts.Do(ctx, who, "", agent.Die{Reason: "test"})
						requireTyped(rt, "die", err)
					case work < 3:
						who := rapid.SampledFrom(living).Draw(rt, "agent")
						terms, amount := drawBid(rt)
						terms.Pool, terms.BeneficiaryID = testPool, ""
						id := clearing.BidIDPrefix + events.NewID()
						_, err := n.accounts.Do(ctx, who, "", agent.PlaceHold{HoldID: id, AmountMicros: amount, Purpose: events.PurposeBid, Bid: &terms})
						requireTyped(rt, "place hold", err)
						if err == nil {
							bids = append(bids, placedBid{id: id, agent: who, amount: amount})
						}
					default:
						now = now.Add(time.Duration(rapid.IntRange(1, 90).Draw(rt, "seconds")) * time.Second)
						cc, _ := n.clearDirect(rt, now)
						for _, a := range cc.Allocations {
							executions = append(executions, a.ExecutionID)
						}
					}
				}
				n.close(rt)
				n = boot(rt, log, store, options(rt))
			},
			"": func(rt *rapid.T) {
				n.settle(rt)
				eco := audit.catchUp(rt, log)
				if err := eco.CheckSettled(); err != nil {
					rt.Fatal(err)
				}
				n.sameAsReplayed(rt, eco, everyone)
			},
		})
		// The incremental audit is the full one.
		n.settle(rt)
		inc, full := audit.catchUp(rt, log).Summary(), fullAudit(rt, log).Summary()
		if a, b := jsonOf(rt, inc), jsonOf(rt, full); a != b {
			rt.Fatalf("incremental audit %s, full audit %s", a, b)
		}
		_ = log.Read(ctx, events.SubjectRoot+".>", 1, func(r events.Record) error {
			seen[r.Envelope.Type]++
			return nil
		})
	})
}
