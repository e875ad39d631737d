"""Tests of genesis's pure decisions (main.py): no service, no disk."""

import copy
import decimal
import json
import unittest

import main

D = decimal.Decimal
BASE = {"cpu_seconds": D(1), "memory_mb": D(128)}  # reserve 6.28 at the default prices


def market(price, supply, leased=0, bids=0):
    supply, leased = D(supply), D(leased)
    return {"price": D(price), "supply": supply, "leased": leased, "utilization": leased / supply,
            "active_bids": bids, "recent": []}


def markets(**over):
    m = {"cpu_seconds": market("5", 100), "memory_mb": market("0.01", 10000), "tokens": market("0.1", 10000),
         "attention": market("50", 1)}
    m.update(over)
    return m


def bid(agent, amount, cpu=1, mem=128, bid_id=None, beneficiary=""):
    return {"bid_id": bid_id or "b-%s-%s" % (agent, amount), "agent_id": agent, "beneficiary_id": beneficiary,
            "resources": {"cpu_seconds": D(cpu), "memory_mb": D(mem)}, "amount": D(amount)}


def obs(available="1000", bids=(), queue=(), agents=("genesis",), **mk):
    return {"me": "genesis", "balance": D(available), "available": D(available), "cycle": 7,
            "markets": markets(**mk), "bids": list(bids), "queue": list(queue), "queue_known": True,
            "agents": list(agents) if agents is not None else None, "config": {}, "inbox": [], "history": []}


CFG = main.settings({})


class ReserveTest(unittest.TestCase):
    def test_reserve_is_units_times_price_rounded_up(self):
        self.assertEqual(main.reserve_price(BASE, markets()), D("6.28"))
        self.assertEqual(main.reserve_price(dict(BASE, tokens=D(600)), markets()), D("66.28"))
        odd = markets(cpu_seconds=market("0.3333333", 100))
        self.assertEqual(main.reserve_price({"cpu_seconds": D(1)}, odd), D("0.333334"))

    def test_unknown_resource_has_no_reserve(self):
        self.assertIsNone(main.reserve_price({"gpu": D(1)}, markets()))


class AmountToWinTest(unittest.TestCase):
    def test_alone_the_reserve_wins(self):
        free = main.free_supply(markets())
        self.assertEqual(main.amount_to_win(BASE, [], free, D("6.28")), D("6.28"))

    def test_competitors_that_leave_room_do_not_matter(self):
        free = main.free_supply(markets())
        others = [bid("a", 50, cpu=10), bid("b", 40, cpu=10)]
        self.assertEqual(main.amount_to_win(BASE, others, free, D("6.28")), D("6.28"))

    def test_outbids_the_bid_that_would_take_the_last_units(self):
        free = main.free_supply(markets(cpu_seconds=market("5", 100, leased=90)))
        others = [bid("a", 20, cpu=10), bid("b", 8, cpu=5)]
        # a takes the 10 free CPU seconds; only above a do we fit.
        # The step above a competitor is 1% of the reserve.
        self.assertEqual(main.amount_to_win(BASE, others, free, D("6.28")), D("20.0628"))

    def test_a_bid_that_does_not_fit_is_skipped_like_the_clearing_does(self):
        free = main.free_supply(markets(cpu_seconds=market("5", 100, leased=95)))
        others = [bid("big", 100, cpu=50), bid("a", 9, cpu=5)]
        # big does not fit and stays in the book; a takes the 5 free; we need to be above a.
        self.assertEqual(main.amount_to_win(BASE, others, free, D("6.28")), D("9.0628"))

    def test_ties_go_to_the_earlier_bid(self):
        free = {"cpu_seconds": D(1), "memory_mb": D(1000)}
        self.assertFalse(main.wins_at(D(10), BASE, [bid("a", 10)], free))
        self.assertTrue(main.wins_at(D("10.01"), BASE, [bid("a", 10)], free))

    def test_too_large_a_bundle_never_wins(self):
        free = main.free_supply(markets())
        self.assertIsNone(main.amount_to_win({"cpu_seconds": D(101), "memory_mb": D(1)}, [], free, D(1)))


class PlanContinuationTest(unittest.TestCase):
    def test_alone_bids_the_reserve(self):
        plan = main.plan_continuation(obs(), main.new_memory(), dict(BASE))
        self.assertEqual((plan["action"], plan["amount"]), ("place", D("6.28")))

    def test_competition_is_outbid_with_a_margin(self):
        o = obs(bids=[bid("a", 12, cpu=10)], cpu_seconds=market("5", 100, leased=90))
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE))
        self.assertEqual(plan["action"], "place")
        self.assertEqual(plan["amount"], D("12.0628") * D("1.02"))

    def test_never_more_than_three_times_the_reserve(self):
        o = obs(bids=[bid("a", 500, cpu=10)], cpu_seconds=market("5", 100, leased=90))
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE))
        self.assertEqual(plan["amount"], D("18.84"))

    def test_short_runway_bids_the_reserve_and_waits(self):
        o = obs(available="20", bids=[bid("a", 15, cpu=10)], cpu_seconds=market("5", 100, leased=90))
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE))
        self.assertEqual((plan["action"], plan["amount"]), ("place", D("6.28")))

    def test_never_more_than_available(self):
        o = obs(available="6", bids=[])
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE))
        self.assertEqual(plan["action"], "none")
        self.assertIn("available", plan["why"])

    def test_an_own_competitive_bid_is_kept(self):
        o = obs(bids=[bid("genesis", 7, bid_id="b-mine")])
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE))
        self.assertEqual((plan["action"], plan["bid_id"]), ("keep", "b-mine"))

    def test_an_own_outbid_bid_is_raised_and_extras_withdrawn(self):
        o = obs(bids=[bid("a", 12, cpu=10), bid("genesis", 7, bid_id="b-mine"), bid("genesis", "6.5", bid_id="b-x")],
                cpu_seconds=market("5", 100, leased=90))
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE))
        self.assertEqual((plan["action"], plan["bid_id"]), ("raise", "b-mine"))
        self.assertEqual(plan["withdraw"], ["b-x"])
        self.assertEqual(plan["amount"], D("12.304056"))

    def test_the_bid_that_started_this_execution_is_ignored(self):
        o = obs(bids=[bid("genesis", 50, bid_id="b-now", cpu=99)])
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE), current_bid_id="b-now")
        self.assertEqual((plan["action"], plan["amount"]), ("place", D("6.28")))

    def test_full_markets_assume_leases_will_be_released(self):
        # Nothing is free now; once the leases end, a's 100 CPU seconds go first.
        o = obs(cpu_seconds=market("5", 100, leased=100), bids=[bid("a", 10, cpu=100)])
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE))
        self.assertEqual((plan["action"], plan["amount"]), ("place", D("10.264056")))

    def test_sponsored_bids_for_others_are_competition(self):
        o = obs(bids=[bid("genesis", 30, cpu=100, beneficiary="a-child")])
        plan = main.plan_continuation(o, main.new_memory(), dict(BASE))
        self.assertEqual(plan["action"], "place")
        self.assertEqual(plan["amount"], D("18.84"))


class MemoryTest(unittest.TestCase):
    def test_first_execution(self):
        m = main.begin_execution(main.new_memory(), "x-b-1", "t0")
        self.assertEqual((m["executions"], m["phase"], m["previous_cut_short"]), (1, "observing", False))

    def test_a_cut_short_execution_doubles_the_envelope(self):
        m = main.begin_execution(main.new_memory(), "x-1", "t0")  # never reaches "done"
        m = main.begin_execution(m, "x-2", "t1")
        self.assertTrue(m["previous_cut_short"])
        self.assertEqual(m["envelope"], {"cpu_seconds": "2", "memory_mb": "256"})
        for _ in range(10):
            m = main.begin_execution(m, "x", "t")
        self.assertEqual(m["envelope"], {"cpu_seconds": "8", "memory_mb": "1024"})

    def test_cut_short_while_prompting_shortens_inference(self):
        m = main.begin_execution(main.new_memory(), "x-1", "t0")
        m["phase"] = "prompting"
        m = main.begin_execution(m, "x-2", "t1")
        self.assertEqual(m["inference_timeout"], main.INFERENCE_TIMEOUT_SECONDS / 2)
        self.assertEqual(main.envelope(m), BASE)

    def test_clean_runs_shrink_a_grown_envelope(self):
        m = main.new_memory()
        m.update(executions=5, envelope={"cpu_seconds": "4", "memory_mb": "512"})
        for _ in range(main.CLEAN_RUNS_TO_SHRINK):
            m = main.end_execution(main.begin_execution(m, "x", "t"), {}, "t")
        self.assertEqual(m["envelope"], {"cpu_seconds": "2", "memory_mb": "256"})

    def test_begin_is_pure(self):
        m = main.new_memory()
        main.begin_execution(m, "x", "t")
        self.assertEqual(m, main.new_memory())

    def test_absorb_records_prices_rewards_mail_and_children(self):
        m = main.begin_execution(main.new_memory(), "x", "t")
        m["prompts"].update(pending_id="p-1", last_bid="50")
        m["children"] = ["a-1", "a-2"]
        o = obs(agents=["genesis", "a-2"])
        o["history"] = {"transactions": [{"seq": 9, "kind": "reward", "amount": D(900)},
                                         {"seq": 8, "kind": "hold_posted", "amount": D(6)}]}
        o["inbox"] = {"messages": [{"from_agent_id": "a-2", "content": '{"kind": "scout_report", "executions": 5, '
                                                                        '"prices": {"cpu_seconds": "5"}}'},
                                   {"from_agent_id": "x", "content": "hello"}]}
        a = main.absorb(m, o)
        self.assertEqual(a["rewards"]["count"], 1)
        self.assertEqual(a["rewards"]["total"], "900")
        self.assertEqual(a["prompts"]["interval"], main.PROMPT_INTERVAL // 2)  # paid back 18 times
        self.assertEqual(a["prompts"]["pending_id"], "")  # no longer in the queue
        self.assertEqual(a["children"], ["a-2"])
        self.assertEqual(a["scout_reports"][0]["from"], "a-2")
        self.assertEqual(a["notes"], [{"from": "x", "content": "hello"}])
        self.assertEqual(a["prices"][-1]["prices"]["cpu_seconds"], "5")
        # The same reward is not counted twice.
        self.assertEqual(main.absorb(a, o)["rewards"]["count"], 1)

    def test_prompt_interval_follows_rewards(self):
        self.assertEqual(main.adapt_prompt_interval(8, D(300), D(50)), 4)
        self.assertEqual(main.adapt_prompt_interval(2, D(300), D(50)), 2)
        self.assertEqual(main.adapt_prompt_interval(8, D(10), D(50)), 16)
        self.assertEqual(main.adapt_prompt_interval(40, D(0), D(50)), 40)
        self.assertEqual(main.adapt_prompt_interval(8, D(100), D(50)), 8)

    def test_end_records_the_outcome(self):
        m = main.end_execution(main.begin_execution(main.new_memory(), "x", "t"), {"bid": {"action": "place"}}, "t2")
        self.assertEqual(m["phase"], "done")
        self.assertEqual(m["outcomes"][-1], {"bid": {"action": "place"}, "execution": 1, "at": "t2"})


class PromptTest(unittest.TestCase):
    def due(self):
        m = main.new_memory()
        m["executions"] = main.PROMPT_INTERVAL
        return m

    def test_prompts_when_due_and_affordable(self):
        plan = main.plan_prompt(obs(), self.due(), CFG, D(500))
        self.assertEqual(plan["bid_amount"], D(50))

    def test_not_due_not_affordable_or_already_waiting(self):
        self.assertIsNone(main.plan_prompt(obs(), main.new_memory(), CFG, D(500)))
        self.assertIsNone(main.plan_prompt(obs(), self.due(), CFG, D(49)))
        waiting = obs(queue=[{"prompt_id": "p", "agent_id": "genesis", "bid_amount": D(50)}])
        self.assertIsNone(main.plan_prompt(waiting, self.due(), CFG, D(500)))
        shown = obs() | {"active": {"prompt_id": "p", "agent_id": "genesis", "bid_amount": D(50)}}
        self.assertIsNone(main.plan_prompt(shown, self.due(), CFG, D(500)), "one of ours is in front of the human")
        others = obs() | {"active": {"prompt_id": "p", "agent_id": "a1", "bid_amount": D(50)}}
        self.assertIsNotNone(main.plan_prompt(others, self.due(), CFG, D(500)))
        self.assertIsNone(main.plan_prompt(obs() | {"queue_known": False}, self.due(), CFG, D(500)),
                          "an unreadable queue may hide one of ours")

    def test_a_prompt_waiting_behind_higher_bids_is_raised_within_bounds(self):
        m = self.due()
        m["executions"] += main.PROMPT_INTERVAL
        m["prompts"].update(pending_id="p-1", last_execution=main.PROMPT_INTERVAL)
        mine = {"prompt_id": "p-1", "agent_id": "genesis", "bid_amount": D(50)}
        ahead = {"prompt_id": "p-0", "agent_id": "a1", "bid_amount": D(80)}
        lift = main.plan_prompt_raise(obs(queue=[ahead, mine]), m, CFG, D(500))
        self.assertEqual((lift["prompt_id"], lift["bid_amount"]), ("p-1", D("80.5")))
        self.assertEqual(main.plan_prompt_raise(obs(queue=[ahead, mine]), m, CFG, D(10))["bid_amount"], D(60),
                         "never by more than the spare credits")
        self.assertIsNone(main.plan_prompt_raise(obs(queue=[mine]), m, CFG, D(500)), "first in line")
        dear = dict(ahead, bid_amount=D(400))
        self.assertEqual(main.plan_prompt_raise(obs(queue=[dear, mine]), m, CFG, D(500))["bid_amount"], D(375),
                         "half the expected reward at most")
        dearer = dict(ahead, bid_amount=D(5000))
        m["prompts"]["pending_id"] = "p-1"
        mine375 = dict(mine, bid_amount=D(375))
        self.assertIsNone(main.plan_prompt_raise(obs(queue=[dearer, mine375]), m, CFG, D(500)))
        young = copy.deepcopy(m)
        young["prompts"]["last_execution"] = m["executions"] - 1
        self.assertIsNone(main.plan_prompt_raise(obs(queue=[ahead, mine]), young, CFG, D(500)), "not yet")

    def test_bids_the_higher_of_the_two_prices(self):
        plan = main.plan_prompt(obs() | {"attention_price": D("50.0000001")}, self.due(), CFG, D(500))
        self.assertEqual(plan["bid_amount"], D("50.000001"))  # rounded up to the micro-credit
        self.assertEqual(main.plan_prompt(obs() | {"attention_price": D(40)}, self.due(), CFG, D(500))["bid_amount"], D(50))

    def test_a_shown_prompt_stays_pending_until_answered(self):
        m = self.due()
        m["prompts"]["pending_id"] = "p-1"
        shown = obs() | {"active": {"prompt_id": "p-1", "agent_id": "genesis", "bid_amount": D(50)},
                         "history": [], "inbox": [], "cycle": 1}
        self.assertEqual(main.absorb(m, shown)["prompts"]["pending_id"], "p-1")
        answered = shown | {"active": None, "history": {"transactions": [
            {"seq": 4, "kind": "reward", "amount": D(1200), "reference": "p-1"}]}}
        m["prompts"]["recent"] = [{"prompt_id": "p-1", "execution": 5, "bid_amount": "50"}]
        a = main.absorb(m, answered)
        self.assertEqual(a["prompts"]["pending_id"], "")
        self.assertEqual(a["prompts"]["recent"][0]["reward"], "1200")
        self.assertEqual((a["rewards"]["count"], a["rewards"]["total"]), (1, "1200"))

    def test_crowded_queue_is_outbid_within_half_the_expected_reward(self):
        q = [{"prompt_id": str(i), "agent_id": "a%d" % i, "bid_amount": D(60 + i)} for i in range(3)]
        plan = main.plan_prompt(obs(queue=q), self.due(), CFG, D(1000))
        self.assertEqual(plan["bid_amount"], D("62.5"))
        q[0]["bid_amount"] = D(5000)
        self.assertEqual(main.plan_prompt(obs(queue=q), self.due(), CFG, D(10000))["bid_amount"], D(375))

    def test_not_worth_it_when_rewards_are_poor(self):
        m = self.due()
        m["rewards"].update(count=2, total="40")
        self.assertIsNone(main.plan_prompt(obs(), m, CFG, D(500)))

    def test_report_reads_well(self):
        m = main.begin_execution(main.new_memory(), "x", "t")
        m = main.absorb(m, obs())
        text = main.market_report(obs(cpu_seconds=market("5", 100, leased=90)), m, CFG)
        self.assertIn("cpu_seconds", text)
        self.assertIn("90%", text)
        self.assertIn("Observation: cpu_seconds is scarce", text)
        self.assertIn("6.28", text)
        self.assertNotIn("E+", text)

    def test_inference_needs_an_upstream_and_a_due_prompt(self):
        m = self.due()
        up = dict(CFG, upstream=True)
        self.assertTrue(main.wants_inference(m, up, m["executions"]))
        self.assertFalse(main.wants_inference(m, CFG, m["executions"]))
        m["inference_paused_until"] = m["executions"] + 1
        self.assertFalse(main.wants_inference(m, up, m["executions"]))
        self.assertIn("tokens", main.continuation_bundle(m, True))

    def test_upstream_configured(self):
        self.assertFalse(main.upstream_configured({}))
        self.assertFalse(main.upstream_configured({"inference": {"url": ""}}))
        self.assertTrue(main.upstream_configured({"inference": {"url": "https://api.example/v1"}}))
        self.assertFalse(main.upstream_configured({"inference": {"configured": False, "url": "x"}}))
        self.assertTrue(main.upstream_configured({"inference": {"enabled": True}}))


class SpawnTest(unittest.TestCase):
    # At the default figures: the helper gets 15 continuations of 6.28 and
    # 5 messages of 1 (99.2); genesis must keep 200 continuations of 6.28
    # after paying it and the spawn cost of 100: 100 + 99.2 + 1256.
    RICH = D("1455.2")

    def ready(self):
        m = main.new_memory()
        m["executions"] = main.SPAWN_MIN_EXECUTIONS
        m["execution_id"] = "x-b-7"
        return m

    def test_spawns_when_rich(self):
        plan = main.plan_spawn(obs(), self.ready(), CFG, self.RICH)
        self.assertEqual(plan["initial_credits"], D("99.2"))
        self.assertEqual(plan["initial_bid"]["amount"], D("6.28"))
        self.assertEqual(plan["initial_bid"]["resources"], main.HELPER_BUNDLE)
        self.assertEqual(json.loads(plan["initial_bid"]["payload"]), {"parent": "genesis"})

    def test_not_when_poor(self):
        self.assertIsNone(main.plan_spawn(obs(), self.ready(), CFG, self.RICH - main.MICRO))
        self.assertIsNone(main.plan_spawn(obs(), self.ready(), CFG, D(1000)), "the default grant is not rich")

    def test_the_threshold_follows_the_config_and_the_prices(self):
        cfg = main.settings({"economy": {"spawn_cost": 500, "message_cost": 2}})
        threshold, initial, reserve = main.spawn_threshold(obs(cpu_seconds=market("10", 100)), cfg)
        self.assertEqual(reserve, D("11.28"))
        self.assertEqual(initial, D("11.28") * 15 + 2 * 5)
        self.assertEqual(threshold, 500 + initial + D("11.28") * main.RICH_RUNWAY_EXECUTIONS)
        self.assertIsNone(main.spawn_threshold(obs(cpu_seconds=market("10", 100)) | {"markets": {}}, cfg))

    def test_sunken_prices_count_at_their_initial_level(self):
        # An empty economy's CPU price has sunk to 0.05; it was 5 and will
        # climb back as agents come: the runway and the helper's credits
        # are counted at 5, the first bid is the reserve now.
        cfg = main.settings({"resources": {"cpu_seconds": {"initial_price": 5}, "memory_mb": {"initial_price": "0.01"},
                                           "junk": {}, "tokens": "x"}})
        self.assertEqual(cfg["initial_prices"], {"cpu_seconds": D(5), "memory_mb": D("0.01")})
        sunk = obs(cpu_seconds=market("0.05", 100))
        threshold, initial, reserve = main.spawn_threshold(sunk, cfg)
        self.assertEqual((threshold, initial, reserve), (self.RICH, D("99.2"), D("1.33")))
        self.assertIsNone(main.plan_spawn(sunk, self.ready(), cfg, D(1000)))
        self.assertEqual(main.plan_spawn(sunk, self.ready(), cfg, self.RICH)["initial_bid"]["amount"], D("1.33"))
        # Without the configured prices, the posted ones are all there is.
        self.assertEqual(main.spawn_threshold(sunk, CFG)[0], 100 + D("1.33") * 15 + 5 + D("1.33") * 200)

    def test_not_young_with_a_helper_alive_recently_or_pending(self):
        young = self.ready()
        young["executions"] = main.SPAWN_MIN_EXECUTIONS - 1
        self.assertIsNone(main.plan_spawn(obs(), young, CFG, D(10**6)))
        parent = self.ready()
        parent["children"] = ["a-1"]
        self.assertIsNone(main.plan_spawn(obs(), parent, CFG, self.RICH * 2 - D("0.01")),
                          "a second helper only when rich for both")
        self.assertIsNotNone(main.plan_spawn(obs(), parent, CFG, self.RICH * 2))
        parent["children"] = ["a-1", "a-2"]
        self.assertIsNone(main.plan_spawn(obs(), parent, CFG, D(10**6)), "two living helpers at most")
        recent = self.ready()
        recent.update(executions=20, last_spawn_execution=11)
        self.assertIsNone(main.plan_spawn(obs(), recent, CFG, D(10**6)))
        recent["last_spawn_execution"] = 10
        self.assertIsNotNone(main.plan_spawn(obs(), recent, CFG, D(10**6)))
        refused = self.ready()
        refused.update(executions=20)
        refused["spawn"]["refused_execution"] = 15
        self.assertIsNone(main.plan_spawn(obs(), refused, CFG, D(10**6)))
        pending = self.ready()
        pending["spawn"]["pending"] = {"key": "k"}
        self.assertIsNone(main.plan_spawn(obs(), pending, CFG, D(10**6)))

    def test_spawn_key_is_derived_from_the_memory(self):
        m = self.ready()
        self.assertEqual(main.spawn_key(m), "genesis-spawn-1-x-b-7")
        self.assertEqual(main.spawn_key(copy.deepcopy(m)), main.spawn_key(m))
        m["spawn"]["count"] = 1
        self.assertEqual(main.spawn_key(m), "genesis-spawn-2-x-b-7")
        m["execution_id"] = "x-b-8"
        self.assertEqual(main.spawn_key(m), "genesis-spawn-2-x-b-8")

    def test_helper_files(self):
        files = main.helper_files("helper", "genesis")
        self.assertEqual(sorted(files), ["helper.json", "main.py"], "agora.py is copied in by the service")
        self.assertEqual(json.loads(files["helper.json"]), {"parent_id": "genesis",
                                                            "report_every": main.HELPER_REPORT_EVERY})


class InboxTest(unittest.TestCase):
    def test_unread_messages_are_counted_once(self):
        book = main.new_memory()["inbox"]
        inbox = {"messages": [
            {"message_id": "m1", "from_agent_id": "a-1", "content": "hello", "sent_at": "t1", "read": False},
            {"message_id": "m2", "from_agent_id": "a-2", "content": '{"kind": "scout_report", "executions": 1}',
             "sent_at": "t2", "read": False},
            {"message_id": "m0", "from_agent_id": "a-0", "content": "old", "read": True}]}
        notes, scouts = main.read_inbox(inbox, book)
        self.assertEqual(notes, [{"from": "a-1", "content": "hello"}])
        self.assertEqual([(s["from"], s["executions"]) for s in scouts], [("a-2", 1)])
        self.assertEqual((book["read"], book["seen"], book["last_from"], book["last_at"]), (2, ["m1", "m2"], "a-2", "t2"))
        # The same page again (an answer replayed, a mark that did not stick) adds nothing.
        self.assertEqual(main.read_inbox(inbox, book), ([], []))
        self.assertEqual(book["read"], 2)

    def test_junk_is_skipped(self):
        book = main.new_memory()["inbox"]
        self.assertEqual(main.read_inbox({"messages": [None, "x", {"content": ""}]}, book), ([], []))
        self.assertEqual(main.read_inbox(None, book), ([], []))


class ReadTest(unittest.TestCase):
    def test_read_markets_and_bids_tolerate_junk(self):
        doc = {"cycle": 3, "markets": [{"resource": "cpu_seconds", "supply": 100, "leased": 2, "price": 5},
                                       {"resource": "x"}, "junk"]}
        m = main.read_markets(doc)
        self.assertEqual(list(m), ["cpu_seconds"])
        self.assertEqual(m["cpu_seconds"]["utilization"], D("0.02"))
        bids = main.read_bids({"bids": [{"bid_id": "b", "agent_id": "a", "resources": {"cpu_seconds": 1},
                                         "amount": D("6.5")}, {"amount": "x"}, None]})
        self.assertEqual(len(bids), 1)
        self.assertIsNone(main.read_agents({"agents": []}))
        self.assertEqual(main.read_agents(["a", {"agent_id": "b"}]), ["a", "b"])

    def test_settings_defaults(self):
        self.assertEqual(CFG["spawn_cost"], D(100))
        self.assertEqual(CFG["timeout_seconds"], D(30))
        self.assertFalse(CFG["upstream"])


if __name__ == "__main__":
    unittest.main()
