"""Genesis's executions end to end: main.py runs as a process in a workspace
of its own, as the executor runs it, against fakeservice on a Unix socket."""

import datetime
import decimal
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import fakeservice
import main

D = decimal.Decimal
HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = ("main.py", "agora.py", "helper.py")


class GenesisRun(unittest.TestCase):
    upstream = False

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="genesis-test-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.workspace = os.path.join(self.dir, "genesis")
        os.mkdir(self.workspace)
        for name in PROGRAM:
            shutil.copy(os.path.join(HERE, name), self.workspace)
        self.fake = fakeservice.FakeAgora(upstream=self.upstream)
        self.token = self.fake.add_agent("genesis", 1000)
        stop, self.url = fakeservice.serve(self.fake, os.path.join(self.dir, "agora.sock"))
        self.addCleanup(stop)
        self.runs = 0

    def execute(self, workspace=None, token=None, url=None, payload="", deadline_seconds=30):
        """One execution: the program's exit code must be 0."""
        self.runs += 1
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1",
               "AGORA_URL": url or self.url, "AGORA_TOKEN": token or self.token,
               "AGORA_EXECUTION_ID": "x-b-%06d" % self.runs, "AGORA_PAYLOAD": payload,
               "AGORA_AGENT_ID": "genesis" if token is None else token[2:],
               "AGORA_DEADLINE": (datetime.datetime.now(datetime.timezone.utc)
                                  + datetime.timedelta(seconds=deadline_seconds)).isoformat().replace("+00:00", "Z")}
        proc = subprocess.run([sys.executable, "main.py"], cwd=workspace or self.workspace, env=env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stderr

    def memory(self, workspace=None):
        with open(os.path.join(workspace or self.workspace, "state.json")) as f:
            return json.load(f)

    def sent(self, method, prefix):
        return [r for r in self.fake.requests if r["method"] == method and r["path"].startswith(prefix)]


class LifeTest(GenesisRun):
    def test_first_execution_bids_for_a_modest_continuation(self):
        self.execute()
        bids = self.fake.open_bids("genesis")
        self.assertEqual(len(bids), 1)
        self.assertEqual(bids[0]["resources"], {"cpu_seconds": 1, "memory_mb": 128})
        self.assertEqual(bids[0]["amount"], D("6.28"))
        self.assertEqual(json.loads(bids[0]["payload"])["placed_in"], "x-b-000001")
        m = self.memory()
        self.assertEqual((m["executions"], m["phase"]), (1, "done"))
        self.assertEqual(m["outcomes"][-1]["bid"]["action"], "place")
        self.assertEqual(m["prices"][-1]["prices"]["cpu_seconds"], "5")

    def test_a_life_of_executions(self):
        for n in range(1, 13):
            self.execute()
            self.assertEqual(len(self.fake.open_bids("genesis")), 1, "execution %d ends with one bid" % n)
            self.fake.clear()  # the bid wins: the next execution runs
            if n == 5:
                prompts = list(self.fake.prompts.values())
                self.assertEqual(len(prompts), 1, "genesis prompts at execution 5")
                self.assertEqual(prompts[0]["bid_amount"], 50)
                self.assertIn("Agora market report from genesis", prompts[0]["content"])
                self.assertIn("Observation:", prompts[0]["content"])
                self.fake.reward("genesis", 900)
        m = self.memory()
        self.assertEqual(m["executions"], 12)
        self.assertEqual(m["rewards"]["count"], 1)
        self.assertEqual(m["prompts"]["interval"], 2)  # the reward paid 18 times the attention
        self.assertEqual(len(m["children"]), 1, "the reward funded a helper")
        child = m["children"][0]
        files = self.fake.children[child]["files"]
        self.assertEqual(sorted(files), ["agora.py", "helper.json", "main.py"])
        self.assertNotIn("agora.py", self.sent("POST", "/social/spawn")[0]["body"]["files"],
                         "the service copies the client in; genesis does not send it")
        with open(os.path.join(HERE, "helper.py")) as f:
            self.assertEqual(files["main.py"], f.read())
        self.assertEqual(self.fake.children[child]["command"], ["python3", "main.py"])
        self.assertFalse(any("tokens" in b["body"]["resources"] for b in self.sent("POST", "/market/bid")
                             if b["body"]), "no upstream: no tokens")
        # Every mutating call carried a key of its execution; the spawn's
        # is derived from the memory (the spawn's number and the execution
        # that planned it), so that a retry in a later execution reuses it.
        for r in self.sent("POST", "/"):
            if r["path"] == "/social/spawn":
                self.assertRegex(r["headers"]["Idempotency-Key"], r"^genesis-spawn-1-x-b-\d{6}$")
            else:
                self.assertRegex(r["headers"]["Idempotency-Key"], r"^x-b-\d{6}-c\d+$")

class InferenceTest(GenesisRun):
    upstream = True

    def test_prompt_written_with_inference(self):
        self.fake.completion = "CPU is cheap today; a newcomer could live well."
        for n in range(1, 6):
            self.execute()
            bid = self.sent("POST", "/market/bid")[-1]["body"]
            if n == 4:
                self.assertEqual(bid["resources"]["tokens"], 600, "execution 5 will infer")
            else:
                self.assertNotIn("tokens", bid["resources"])
            self.fake.clear()
        prompt = list(self.fake.prompts.values())[0]
        self.assertTrue(prompt["content"].startswith("CPU is cheap today"))
        call = self.sent("POST", "/intelligence/inference")[0]["body"]
        self.assertIn("market report", call["messages"][1]["content"])
        self.assertEqual(self.memory()["outcomes"][-1]["prompt"]["source"], "inference")

    def test_no_inference_without_time_for_it(self):
        for n in range(1, 6):
            self.execute(deadline_seconds=30 if n < 5 else 6)
            self.fake.clear()
        self.assertEqual(self.sent("POST", "/intelligence/inference"), [])
        self.assertIn("Agora market report", list(self.fake.prompts.values())[0]["content"])
        self.assertEqual(self.memory()["outcomes"][-1]["prompt"]["source"], "report (no time for inference)")

    def test_503_falls_back_to_the_report_and_stops_asking_for_tokens(self):
        self.fake.upstream = False  # configured, but the upstream answers 503
        for _ in range(6):
            self.execute()
            self.fake.clear()
        prompt = list(self.fake.prompts.values())[0]
        self.assertIn("Agora market report", prompt["content"])
        m = self.memory()
        self.assertGreater(m["inference_paused_until"], m["executions"])
        self.assertNotIn("tokens", self.sent("POST", "/market/bid")[-1]["body"]["resources"])


    def test_a_busy_service_does_not_pause_inference(self):
        for _ in range(4):
            self.execute()
            self.fake.clear()
        self.fake.fail("POST", "/intelligence/inference", 503)  # busy, not "no upstream"
        self.execute()
        m = self.memory()
        self.assertEqual(m["outcomes"][-1]["prompt"]["source"], "report (inference failed: 503)")
        self.assertLessEqual(m["inference_paused_until"], m["executions"])


class TroubleTest(GenesisRun):
    def test_refused_bid_is_tried_again_on_fresh_figures(self):
        self.fake.fail("POST", "/market/bid", 409)
        err = self.execute()
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)
        self.assertIn("scripted failure 409", err)

    def test_a_bid_rejected_after_the_hold_is_placed_again(self):
        self.fake.reject_bids = 1
        err = self.execute()
        self.assertIn("was rejected", err)
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)

    def test_reads_failing_still_bid_on_remembered_prices(self):
        self.execute()
        self.fake.clear()
        # 403: final, so the client does not retry (retries are test_agora's).
        self.fake.down.update(dict.fromkeys(["GET /market", "GET /economic", "GET /attention", "GET /social",
                                             "GET /system"], 403))
        err = self.execute()
        self.assertIn("bidding on the prices I remember", err)
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)
        self.assertEqual(self.fake.open_bids("genesis")[0]["amount"], D("6.28"))

    def test_lost_answer_applies_once(self):
        self.fake.fail("POST", "/market/bid", "drop_after")
        self.execute()
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)

    def test_damaged_memory_is_set_aside(self):
        with open(os.path.join(self.workspace, "state.json"), "w") as f:
            f.write("{not json")
        err = self.execute()
        self.assertIn("unreadable", err)
        self.assertTrue(os.path.exists(os.path.join(self.workspace, "state.json.damaged")))
        self.assertEqual(self.memory()["executions"], 1)
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)

    def test_cut_short_execution_grows_the_envelope(self):
        self.execute()
        self.fake.clear()
        m = self.memory()
        m["phase"] = "bidding"  # as if killed mid-way
        with open(os.path.join(self.workspace, "state.json"), "w") as f:
            json.dump(m, f)
        self.execute()
        self.assertEqual(self.fake.open_bids("genesis")[0]["resources"], {"cpu_seconds": 2, "memory_mb": 256})

    def test_broke_genesis_says_so_and_exits_cleanly(self):
        self.fake.accounts["genesis"]["balance"] = D(5)
        err = self.execute()
        self.assertEqual(self.fake.open_bids("genesis"), [])
        self.assertIn("last execution", err)

    def test_unreachable_service_does_not_crash(self):
        err = self.execute(url="unix://" + os.path.join(self.dir, "nothing.sock"))
        self.assertIn("unreachable", err)
        self.assertEqual(self.memory()["phase"], "done")

    def test_keeps_one_bid_and_raises_it_against_competition(self):
        self.execute()  # bid at 6.28, not cleared: it stays open
        self.fake.add_agent("rival", 1000)
        self.fake.markets["cpu_seconds"]["leased"] = D(99)
        with self.fake.lock:
            self.fake._place("rival", {"resources": {"cpu_seconds": 1, "memory_mb": 1}, "amount": D(10)})
        self.execute()
        mine = self.fake.open_bids("genesis")
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["amount"], D("10.264056"))
        self.assertEqual(self.memory()["outcomes"][-1]["bid"]["action"], "raise")


class SocietyTest(GenesisRun):
    """Genesis reads its inbox, spawns one helper when rich, and the helper
    reports to it; every answer of the social routes leaves genesis alive."""

    RICH = 100000

    def make_rich(self):
        self.fake.accounts["genesis"]["balance"] = D(self.RICH)

    def make_rich_for_one(self):
        """Rich for one helper (about 1455 at these prices), not for two."""
        self.fake.accounts["genesis"]["balance"] = D(2500)

    def live(self, n):
        for _ in range(n):
            self.execute()
            self.assertEqual(len(self.fake.open_bids("genesis")), 1, "genesis always bids for its future")
            self.fake.clear()

    def spawns(self):
        return self.sent("POST", "/social/spawn")

    def child_workspace(self, child):
        """The child's workspace, written from the files the service kept."""
        ws = os.path.join(self.dir, child)
        os.mkdir(ws)
        for path, content in self.fake.children[child]["files"].items():
            with open(os.path.join(ws, path), "w") as f:
                f.write(content)
        return ws

    def test_reads_its_inbox_and_marks_it_read(self):
        self.fake.add_agent("friend", 10)
        friend = agora_client(self.url, "t-friend")
        friend.message("genesis", "hello genesis")
        friend.message("genesis", json.dumps({"kind": "scout_report", "executions": 3, "prices": {"cpu_seconds": "5"}}))
        self.execute()
        self.assertEqual(self.fake.unread("genesis"), [])
        self.assertEqual(self.sent("GET", "/social/inbox")[0]["path"], "/social/inbox?limit=%d" % main.INBOX_PAGE)
        m = self.memory()
        self.assertEqual(m["notes"], [{"from": "friend", "content": "hello genesis"}])
        self.assertEqual(m["scout_reports"][0]["from"], "friend")
        self.assertEqual((m["inbox"]["read"], m["inbox"]["last_from"]), (2, "friend"))
        self.fake.clear()
        self.execute()  # the inbox now answers both messages as read: not counted again
        self.assertEqual(self.memory()["inbox"]["read"], 2)
        self.assertEqual(len(self.memory()["notes"]), 1)
        friend.message("genesis", "again")
        self.fake.clear()
        self.execute()
        self.assertEqual((self.memory()["inbox"]["read"], self.memory()["notes"][-1]["content"]), (3, "again"))

    def test_spawns_when_rich_not_when_poor(self):
        self.live(main.SPAWN_MIN_EXECUTIONS + 2)
        self.assertEqual(self.spawns(), [], "the grant of 1000 is not rich enough")
        self.make_rich()
        before = self.fake.accounts["genesis"]["balance"]
        self.execute()
        [call] = self.spawns()
        child = self.memory()["children"][0]
        body = call["body"]
        self.assertEqual(body["command"], ["python3", "main.py"])
        self.assertEqual(json.loads(body["files"]["helper.json"])["parent_id"], "genesis")
        with open(os.path.join(HERE, "helper.py")) as f:
            self.assertEqual(body["files"]["main.py"], f.read())
        # 15 continuations of the helper's bundle and 5 messages, from the
        # prices and the config; the first bid at the reserve.
        self.assertEqual(body["initial_credits"], D("99.2"))
        self.assertEqual(body["initial_bid"]["amount"], D("6.28"))
        self.assertEqual(self.fake.children[child]["parent"], "genesis")
        self.assertEqual(self.fake.accounts["genesis"]["balance"], before - 100 - D("99.2"),
                         "the parent paid the spawn cost and the child's credits, nothing more")
        self.assertEqual(self.fake.accounts[child]["balance"], D("99.2"))
        self.assertEqual([b["amount"] for b in self.fake.open_bids(child)], [D("6.28")])
        spawn = self.memory()["spawn"]
        self.assertEqual((spawn["count"], spawn["pending"], spawn["last_child"]), (1, None, child))

    def test_the_threshold_reads_the_config(self):
        self.make_rich()
        self.fake.config["economy"]["spawn_cost"] = self.RICH  # now no grant is rich enough
        self.live(main.SPAWN_MIN_EXECUTIONS + 2)
        self.assertEqual(self.spawns(), [])

    def test_one_living_helper_unless_rich_for_two(self):
        self.make_rich_for_one()
        self.live(main.SPAWN_MIN_EXECUTIONS + main.SPAWN_INTERVAL_EXECUTIONS + 2)
        self.assertEqual(len(self.spawns()), 1, "one helper while it lives")
        [first] = self.memory()["children"]
        self.fake.kill(first)
        self.live(1)  # /social/agents no longer lists it: a new one is spawned
        self.assertEqual(len(self.spawns()), 2, "a dead helper is replaced")
        [second] = self.memory()["children"]
        self.assertNotEqual(first, second)
        self.assertEqual(self.fake.children[second]["parent"], "genesis")
        self.assertEqual(self.spawns()[1]["headers"]["Idempotency-Key"][:len("genesis-spawn-2-")], "genesis-spawn-2-")

    def test_at_most_two_living_helpers_when_rich(self):
        self.make_rich()
        self.live(main.SPAWN_MIN_EXECUTIONS + main.SPAWN_INTERVAL_EXECUTIONS)
        self.assertEqual(len(self.spawns()), 2, "rich for two: a second helper, an interval after the first")
        self.live(2 * main.SPAWN_INTERVAL_EXECUTIONS)
        self.assertEqual(len(self.spawns()), 2, "never a third while both live")
        self.assertEqual(len(self.memory()["children"]), 2)

    def test_an_unreadable_population_is_no_reason_to_spawn_again(self):
        self.make_rich_for_one()
        self.live(main.SPAWN_MIN_EXECUTIONS)
        self.fake.down["GET /social/agents"] = 403
        self.live(main.SPAWN_INTERVAL_EXECUTIONS + 1)
        self.assertEqual(len(self.spawns()), 1)
        self.assertEqual(len(self.memory()["children"]), 1)

    def test_a_lost_answer_is_retried_with_the_same_key(self):
        self.make_rich()
        self.live(main.SPAWN_MIN_EXECUTIONS - 1)
        # Applied, but no answer reaches genesis, however often the client retries.
        self.fake.fail("POST", "/social/spawn", 503, 503, 503)
        self.execute()
        pending = self.memory()["spawn"]["pending"]
        self.assertEqual(pending["key"], "genesis-spawn-1-x-b-%06d" % main.SPAWN_MIN_EXECUTIONS)
        self.assertEqual(self.memory()["children"], [])
        self.assertEqual(self.fake.children, {})
        self.fake.clear()
        self.execute()
        self.assertEqual(len(self.fake.children), 1)
        [child] = self.fake.children
        self.assertEqual(self.memory()["children"], [child])
        self.assertEqual({r["headers"]["Idempotency-Key"] for r in self.spawns()}, {pending["key"]})
        self.assertIsNone(self.memory()["spawn"]["pending"])

    def test_a_crash_during_the_spawn_names_the_same_child(self):
        self.make_rich()
        self.live(main.SPAWN_MIN_EXECUTIONS - 1)
        self.fake.fail("POST", "/social/spawn", "hang_after")  # applied; genesis is killed before the answer
        proc = self.start_execution()
        self.assertTrue(self.fake.hanging.wait(60), "genesis never called spawn")
        proc.kill()
        proc.wait()
        self.fake.release.set()
        [child] = self.fake.children
        crashed = self.memory()
        self.assertEqual(crashed["phase"], "spawning")
        self.assertEqual(crashed["children"], [])
        key = crashed["spawn"]["pending"]["key"]
        self.fake.clear()
        err = self.execute()  # the next execution retries with the key it saved before the call
        self.assertIn("cut short", err)
        self.assertEqual(list(self.fake.children), [child], "no second child")
        self.assertEqual(self.memory()["children"], [child])
        self.assertEqual([r["headers"]["Idempotency-Key"] for r in self.spawns()], [key, key])
        parent_paid = sum(1 for t in self.fake.history["genesis"] if t["kind"] == "spawn")
        self.assertEqual(parent_paid, 1)

    def start_execution(self):
        self.runs += 1
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", "AGORA_URL": self.url,
               "AGORA_TOKEN": self.token, "AGORA_EXECUTION_ID": "x-b-%06d" % self.runs, "AGORA_AGENT_ID": "genesis"}
        return subprocess.Popen([sys.executable, "main.py"], cwd=self.workspace, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def test_the_helper_messages_its_parent_and_bids_while_it_can(self):
        self.make_rich()
        self.live(main.SPAWN_MIN_EXECUTIONS)
        [child] = self.memory()["children"]
        ws = self.child_workspace(child)
        with open(os.path.join(ws, "helper.json")) as f:
            self.assertEqual(json.load(f)["parent_id"], "genesis")
        self.fake.clear()  # the helper's first bid wins
        credits = self.fake.accounts[child]["balance"]
        self.execute(workspace=ws, token="t-" + child)
        [msg] = self.fake.unread("genesis")
        report = json.loads(msg["content"])
        self.assertEqual((msg["from_agent_id"], report["kind"], report["executions"]), (child, "scout_report", 1))
        self.assertLess(len(msg["content"]), 1024, "a short report")
        self.assertEqual(self.fake.accounts[child]["balance"], credits - 1, "the message cost message_cost")
        self.assertEqual([b["amount"] for b in self.fake.open_bids(child)], [D("6.28")])
        self.execute()
        self.assertEqual(self.fake.unread("genesis"), [])
        self.assertEqual(self.memory()["scout_reports"][-1]["from"], child)
        # The helper lives on its credits: one bid each execution, a report
        # every fifth, until it cannot pay and says so.
        runs = 1
        while self.fake.open_bids(child):
            self.fake.clear()
            err = self.execute(workspace=ws, token="t-" + child)
            runs += 1
        self.assertIn("last execution", err)
        self.assertEqual(runs, 15, "99.2 credits pay 15 executions at 6.28 and 3 reports")
        self.assertEqual(len([m for m in self.fake.inboxes["genesis"] if m["from_agent_id"] == child]), 3)
        self.assertEqual(self.fake.accounts[child]["balance"], D("99.2") - 15 * D("6.28") - 3)

    def test_survives_every_answer_of_the_social_routes(self):
        self.make_rich()
        self.live(main.SPAWN_MIN_EXECUTIONS - 1)
        for answer in (404, 409, 422, 503, "drop", "garbage"):
            with self.subTest(answer=answer):
                self.fake.down = {"GET /social/inbox": answer, "POST /social/spawn": answer,
                                  "POST /social/message": answer}
                self.memory_edit(lambda m: m.update(last_spawn_execution=0) or m["spawn"].update(
                    refused_execution=0, pending=None))
                self.execute()
                self.assertEqual(len(self.fake.open_bids("genesis")), 1, "genesis still bids")
                out = self.memory()["outcomes"][-1]
                self.assertTrue(out["bid_ok"])
                # Tried and failed, or (the service unreachable after a
                # dropped read) not tried.
                self.assertFalse((out["spawn"] or {}).get("ok"))
                self.assertEqual(self.fake.children, {})
                self.fake.clear()
        self.fake.down = {}

    def memory_edit(self, fn):
        m = self.memory()
        fn(m)
        with open(os.path.join(self.workspace, "state.json"), "w") as f:
            json.dump(m, f)

    def test_missing_routes_are_not_asked_every_execution(self):
        self.make_rich()
        self.fake.down = {"POST /social/spawn": 404, "GET /social/inbox": 404}
        self.live(main.SPAWN_MIN_EXECUTIONS + main.SPAWN_INTERVAL_EXECUTIONS - 1)
        self.assertEqual(len(self.spawns()), 1, "a refusal waits SPAWN_INTERVAL_EXECUTIONS")
        self.assertIn("404", self.memory()["spawn"]["last_error"])
        self.live(1)
        self.assertEqual(len(self.spawns()), 2)

    def test_a_refused_spawn_is_not_retried_with_its_key(self):
        self.make_rich()
        self.fake.config["economy"]["max_agents"] = 1  # genesis alone fills the population
        self.live(main.SPAWN_MIN_EXECUTIONS)
        [call] = self.spawns()
        m = self.memory()
        self.assertIsNone(m["spawn"]["pending"])
        self.assertIn("population", m["spawn"]["last_error"])
        self.assertEqual(m["outcomes"][-1]["spawn"]["status"], 409)
        self.assertEqual(self.fake.accounts["genesis"]["balance"], D(self.RICH) - 3 * D("6.28"), "nothing charged")

    def test_the_helper_survives_a_dead_parent_and_missing_routes(self):
        self.make_rich()
        self.live(main.SPAWN_MIN_EXECUTIONS)
        [child] = self.memory()["children"]
        ws = self.child_workspace(child)
        self.fake.kill("genesis")
        self.fake.clear()
        err = self.execute(workspace=ws, token="t-" + child)
        self.assertIn("dead", err)
        self.assertEqual(len(self.fake.open_bids(child)), 1)
        self.fake.down = {"POST /social/message": 404, "GET /social/inbox": 404, "GET /system/config": 503}
        self.fake.clear()
        self.execute(workspace=ws, token="t-" + child)
        self.assertEqual(len(self.fake.open_bids(child)), 1)


def agora_client(url, token):
    import agora
    return agora.Client(url, token, backoff=0)


class BugTest(GenesisRun):
    """A bug in the strategy must not cost genesis its future."""

    def run_in_process(self, failing_run):
        env = {"AGORA_URL": self.url, "AGORA_TOKEN": self.token, "AGORA_EXECUTION_ID": "x-b-bug"}
        cwd = os.getcwd()
        os.chdir(self.workspace)
        self.addCleanup(os.chdir, cwd)
        with mock.patch.dict(os.environ, env), mock.patch.object(main, "run", failing_run), \
                mock.patch.object(main, "_unreachable", []), mock.patch("sys.stderr"):
            self.assertEqual(main.main(), 0)

    def test_a_bug_before_the_bid_still_bids(self):
        def broken(client, memory, execution_id, started, outcome):
            raise KeyError("oops")
        self.run_in_process(broken)
        self.assertEqual([b["amount"] for b in self.fake.open_bids("genesis")], [D("6.28")])
        m = self.memory()
        self.assertEqual(m["phase"], "done")
        self.assertIn("KeyError", m["outcomes"][-1]["error"])

    def test_a_bug_after_the_bid_does_not_bid_twice(self):
        real = main.run

        def broken(client, memory, execution_id, started, outcome):
            real(client, memory, execution_id, started, outcome)
            raise ValueError("late")
        self.run_in_process(broken)
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)


if __name__ == "__main__":
    unittest.main()


class PromptTest(GenesisRun):
    """Genesis bids for the human's attention now and then, with text worth
    reading, and records what the human paid it; no answer of the attention
    routes stops it from bidding for its future."""

    def live(self, n, respond=None):
        """n executions, each followed by a cycle; respond(prompt) rates the
        prompt that was shown after the execution (the human), if any."""
        for _ in range(n):
            self.execute()
            self.assertEqual(len(self.fake.open_bids("genesis")), 1, "genesis always bids for its future")
            self.fake.clear()
            shown = self.fake.show()
            if shown is not None and respond is not None:
                respond(shown)

    def waiting_or_active(self):
        mine = [p for p in self.fake.prompts.values() if p["agent_id"] == "genesis"]
        if self.fake.active is not None and self.fake.active["agent_id"] == "genesis":
            mine.append(self.fake.active)
        return mine

    def test_prompts_earns_and_remembers(self):
        rewards = []
        self.live(12, respond=lambda p: rewards.append(self.fake.respond(8, 7, 9)))
        self.assertGreaterEqual(len(rewards), 3, "interval 5, then 2 once the rewards pay")
        self.assertEqual(rewards[0], D(1200))
        contents = self.fake.prompt_contents
        self.assertEqual(len(set(contents)), len(contents), "never the same text twice")
        self.assertIn("Agora market report from genesis", contents[0])
        self.assertIn("My balance went from", contents[1])
        rewarded = [t for t in self.fake.history["genesis"] if t["kind"] == "reward"]
        self.execute()  # reads the last reward
        m = self.memory()
        self.assertEqual(m["rewards"]["count"], len(rewarded))
        self.assertEqual(D(m["rewards"]["total"]), sum(t["amount"] for t in rewarded))
        paid = {r["prompt_id"]: r.get("reward") for r in m["prompts"]["recent"]}
        for t in rewarded:
            self.assertEqual(D(paid[t["reference"]]), t["amount"], "each reward is matched to its prompt")
        self.assertEqual(m["prompts"]["count"], len(contents))
        self.assertEqual(self.fake.accounts["genesis"]["held"], sum(b["amount"] for b in self.fake.open_bids("genesis"))
                         + sum(p["bid_amount"] for p in self.fake.prompts.values()))

    def test_never_two_waiting_or_active(self):
        # The human never answers: genesis's one prompt waits, then stays
        # in front of the human; genesis does not add another.
        for n in range(1, 16):
            self.execute()
            self.fake.clear()
            self.assertLessEqual(len(self.waiting_or_active()), 1, "execution %d" % n)
            if n == 8:
                self.assertIsNotNone(self.fake.show())
        self.assertEqual(len(self.fake.prompt_contents), 1)
        self.assertEqual(self.memory()["prompts"]["pending_id"], self.fake.active["prompt_id"])
        # Answered: the slot is free and genesis prompts again.
        self.fake.respond(5, 5, 5)
        self.live(6)
        self.assertEqual(len(self.fake.prompt_contents), 2)

    def test_not_when_poor(self):
        # About 100 credits: once the continuation is held, the attention
        # price (50) does not fit in what is kept back for 10 more.
        self.fake.accounts["genesis"]["balance"] = D(100)
        self.live(8)
        self.assertEqual(self.fake.prompt_contents, [])
        self.assertEqual(self.sent("POST", "/attention/prompt"), [])

    def prompt_bids(self):
        return [r["body"]["bid_amount"] for r in self.sent("POST", "/attention/prompt")]

    def test_bids_the_posted_price(self):
        self.fake.markets["attention"]["price"] = D("61.5")
        self.live(5)
        self.assertEqual(self.prompt_bids(), [D("61.5")])

    def test_a_price_that_rose_is_met_once(self):
        self.live(4)
        self.fake.attention_price_rise = D(70)  # refused at 50, 422
        self.live(1)
        self.assertEqual(self.prompt_bids(), [D(50), D(70)])
        self.assertEqual(len(self.fake.prompt_contents), 1)
        self.fake.attention_price_rise = D(1000)  # too dear: given up until next time
        m = self.memory()
        m["prompts"].update(pending_id="", last_execution=0)
        with open(os.path.join(self.workspace, "state.json"), "w") as f:
            json.dump(m, f)
        self.fake.respond(5, 5, 5)
        self.live(1)
        self.assertEqual(len(self.fake.prompt_contents), 1)
        self.assertEqual(self.memory()["outcomes"][-1]["prompt"]["ok"], False)

    def test_raises_a_prompt_stuck_behind_higher_bids(self):
        self.fake.add_agent("rival", 10000)
        with self.fake.lock:
            self.fake._prompt("rival", {"content": "me first", "bid_amount": D(80)})
        for _ in range(5 + main.PROMPT_INTERVAL):
            self.execute()
            self.fake.clear()  # nobody is shown: the human is away
        [mine] = [p for p in self.fake.prompts.values() if p["agent_id"] == "genesis"]
        self.assertEqual(mine["bid_amount"], D("80.5"), "one step above the rival, within half the reward expected")
        self.assertEqual(self.fake._position(mine["prompt_id"]), 1)
        self.assertEqual(len(self.sent("PATCH", "/attention/prompt/")), 1, "raised once, then first in line")
        self.assertEqual(self.fake.accounts["genesis"]["held"],
                         mine["bid_amount"] + sum(b["amount"] for b in self.fake.open_bids("genesis")))
        self.assertEqual(self.memory()["prompts"]["last_bid"], "80.5")
        self.fake.fail("PATCH", "/attention/prompt/", 409)  # an error answer to a raise changes nothing
        with self.fake.lock:
            self.fake._prompt("rival", {"content": "me first again", "bid_amount": D(90)})
        self.execute()
        self.assertEqual(mine["bid_amount"], D("80.5"))
        self.assertEqual(self.memory()["phase"], "done")
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)

    def test_survives_every_error_answer(self):
        for action in (409, 422, 400, 404, 500, 503, "drop", "drop_after", "garbage"):
            with self.subTest(action=action):
                self.fake.fail("POST", "/attention/prompt", *([action] * 4))
                m = self.memory() if os.path.exists(os.path.join(self.workspace, "state.json")) else None
                if m is not None:
                    m["prompts"].update(pending_id="", last_execution=0)  # due now
                    with open(os.path.join(self.workspace, "state.json"), "w") as f:
                        json.dump(m, f)
                self.fake.prompts.clear()
                self.live(5 if m is None else 1)
                self.fake.script.clear()
                m = self.memory()
                self.assertEqual(m["phase"], "done")
                self.assertNotIn("error", m["outcomes"][-1], m["outcomes"][-1])
                self.assertLessEqual(len(self.waiting_or_active()), 1)
        # The queue unreadable: no prompt (one might already wait), and a bid.
        self.fake.prompts.clear()
        self.fake.down["GET /attention"] = 403
        m = self.memory()
        m["prompts"].update(pending_id="", last_execution=0)
        with open(os.path.join(self.workspace, "state.json"), "w") as f:
            json.dump(m, f)
        before = len(self.sent("POST", "/attention/prompt"))
        self.live(1)
        self.assertEqual(len(self.sent("POST", "/attention/prompt")), before)


class PromptInferenceTest(GenesisRun):
    upstream = True

    def test_inference_writes_each_prompt(self):
        self.fake.completion = "Memory is idle while CPU is scarce."
        for _ in range(12):
            self.execute()
            self.fake.clear()
            if self.fake.show() is not None:
                self.fake.respond(9, 9, 9)
        contents = self.fake.prompt_contents
        self.assertGreaterEqual(len(contents), 2)
        for c in contents:
            self.assertTrue(c.startswith("Memory is idle while CPU is scarce."), c)
        self.assertEqual(len(set(contents)), len(contents), "the same completion is signed with its execution")
        self.assertTrue(all(r["source"] == "inference" for r in self.memory()["prompts"]["recent"]))
