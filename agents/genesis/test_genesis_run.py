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
        with open(os.path.join(HERE, "helper.py")) as f:
            self.assertEqual(files["main.py"], f.read())
        self.assertEqual(self.fake.children[child]["command"], ["python3", "main.py"])
        self.assertFalse(any("tokens" in b["body"]["resources"] for b in self.sent("POST", "/market/bid")
                             if b["body"]), "no upstream: no tokens")
        # Every mutating call carried a key of its execution.
        for r in self.sent("POST", "/"):
            self.assertRegex(r["headers"]["Idempotency-Key"], r"^x-b-\d{6}-c\d+$")

    def test_the_helper_scouts_for_its_parent(self):
        self.fake.reward("genesis", 900)
        for _ in range(4):
            self.execute()
            self.fake.clear()
        child = self.memory()["children"][0]
        ws = os.path.join(self.dir, child)
        os.mkdir(ws)
        for path, content in self.fake.children[child]["files"].items():
            with open(os.path.join(ws, path), "w") as f:
                f.write(content)
        self.fake.clear()  # the child's first bid wins
        for _ in range(5):
            self.execute(workspace=ws, token="t-" + child)
            self.assertEqual(len(self.fake.open_bids(child)), 1)
            self.assertEqual(self.fake.open_bids(child)[0]["amount"], D("6.28"))
            self.fake.clear()
        report = json.loads(self.fake.inboxes["genesis"][0]["content"])
        self.assertEqual((report["kind"], report["executions"]), ("scout_report", 5))
        self.execute()
        self.assertEqual(self.memory()["scout_reports"][-1]["from"], child)


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
