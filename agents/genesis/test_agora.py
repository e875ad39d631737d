"""Tests of the client helper agora.py against fakeservice, on a Unix socket
and on TCP."""

import decimal
import os
import shutil
import socket
import tempfile
import unittest

import agora
import fakeservice

D = decimal.Decimal


class ClientCases:
    """Every case runs on both transports (see the two classes below)."""

    unix = False

    def setUp(self):
        self.fake = fakeservice.FakeAgora()
        self.token = self.fake.add_agent("genesis", "987.654321")
        self.fake.add_agent("other", "10")
        self.dir = tempfile.mkdtemp(prefix="agora-test-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        stop, self.url = fakeservice.serve(self.fake, os.path.join(self.dir, "agora.sock") if self.unix else None)
        self.addCleanup(stop)
        self.client = agora.Client(self.url, self.token, execution_id="x-b-01ABC", backoff=0)

    def sent(self, method, prefix):
        return [r for r in self.fake.requests if r["method"] == method and r["path"].startswith(prefix)]

    def test_balance_is_exact_and_authorized(self):
        bal = self.client.balance()
        self.assertEqual(bal["agent_id"], "genesis")
        self.assertEqual(bal["balance"], D("987.654321"))
        self.assertIsInstance(bal["available"], D)
        self.assertEqual(self.sent("GET", "/economic/balance")[0]["headers"]["Authorization"], "Bearer " + self.token)

    def test_wrong_token_is_a_typed_error(self):
        bad = agora.Client(self.url, "nope", backoff=0)
        with self.assertRaises(agora.AgoraError) as ctx:
            bad.balance()
        self.assertEqual(ctx.exception.status, 401)
        self.assertIn("Bearer", ctx.exception.detail)

    def test_bid_sends_at_most_six_decimals(self):
        answer = self.client.bid({"cpu_seconds": 1, "memory_mb": 128.0000001}, D("6.2800004"), payload="p")
        self.assertEqual(answer["status"], "open")
        raw = self.sent("POST", "/market/bid")[0]["raw"].decode()
        self.assertIn('"amount":6.28', raw)
        self.assertIn('"memory_mb":128', raw)
        self.assertNotIn("128.0", raw)
        self.assertEqual(self.fake.open_bids("genesis")[0]["amount"], D("6.28"))

    def test_float_amounts_are_read_through_their_shortest_form(self):
        self.client.transfer("other", 0.1 + 0.2, memo="m")
        self.assertIn('"amount":0.3', self.sent("POST", "/economic/transfer")[0]["raw"].decode())
        self.assertEqual(self.fake.accounts["other"]["balance"], D("10.3"))

    def test_nan_and_infinity_are_refused_before_sending(self):
        for bad in (float("nan"), float("inf"), "NaN", True, "abc"):
            with self.assertRaises(ValueError):
                self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, bad)
        self.assertEqual(self.sent("POST", "/market/bid"), [])

    def test_problem_json_becomes_agora_error(self):
        with self.assertRaises(agora.AgoraError) as ctx:
            self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, 1)
        err = ctx.exception
        self.assertEqual(err.status, 422)
        self.assertIn("reserve", err.detail)
        self.assertEqual(err.title, "Unprocessable Entity")
        self.assertEqual(self.fake.open_bids(), [])  # a refusal changes nothing

    def test_every_post_has_its_own_idempotency_key(self):
        self.client.balance()
        self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, 10)
        self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, 10)
        keys = [r["headers"]["Idempotency-Key"] for r in self.sent("POST", "/market/bid")]
        self.assertEqual(len(set(keys)), 2)
        self.assertTrue(all(k.startswith("x-b-01abc-") for k in keys), keys)
        self.assertNotIn("Idempotency-Key", self.sent("GET", "/economic/balance")[0]["headers"])

    def test_given_idempotency_key_applies_once(self):
        a = self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, 10, idempotency_key="k1")
        b = self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, 10, idempotency_key="k1")
        self.assertEqual(a, b)
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)

    def test_lost_answer_is_retried_with_the_same_key_and_applies_once(self):
        self.fake.fail("POST", "/market/bid", "drop_after")
        answer = self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, 10)
        self.assertEqual(len(self.fake.open_bids("genesis")), 1)
        self.assertEqual(answer["bid_id"], self.fake.open_bids("genesis")[0]["bid_id"])
        keys = [r["headers"]["Idempotency-Key"] for r in self.sent("POST", "/market/bid")]
        self.assertEqual(len(keys), 2)
        self.assertEqual(keys[0], keys[1])

    def test_unavailable_is_retried_a_bounded_number_of_times(self):
        self.fake.fail("GET", "/economic/balance", 503, 500)
        self.assertEqual(self.client.balance()["agent_id"], "genesis")
        self.fake.fail("GET", "/economic/balance", 409)  # final: not retried
        with self.assertRaises(agora.AgoraError):
            self.client.balance()
        self.fake.requests.clear()
        self.fake.fail("GET", "/economic/balance", 503, 503, 503, 503)
        with self.assertRaises(agora.AgoraError) as ctx:
            self.client.balance()
        self.assertEqual(ctx.exception.status, 503)
        self.assertEqual(len(self.sent("GET", "/economic/balance")), 4)

    def test_inference_without_upstream_is_503_and_not_retried(self):
        with self.assertRaises(agora.AgoraError) as ctx:
            self.client.chat("hello")
        self.assertEqual(ctx.exception.status, 503)
        self.assertIn("upstream", ctx.exception.detail)
        self.assertEqual(len(self.sent("POST", "/intelligence/inference")), 1)

    def test_inference_is_not_retried_after_a_lost_answer(self):
        self.fake.upstream = True
        self.fake.fail("POST", "/intelligence/inference", "drop")
        with self.assertRaises(agora.AgoraError) as ctx:
            self.client.chat("hello")
        self.assertEqual(ctx.exception.status, 0)
        self.assertEqual(len(self.sent("POST", "/intelligence/inference")), 1)

    def test_an_answer_that_is_not_json_is_an_agora_error(self):
        self.fake.fail("GET", "/market/state", "garbage")
        with self.assertRaises(agora.AgoraError) as ctx:
            self.client.market_state()
        self.assertEqual(ctx.exception.status, 200)
        self.assertIn("not JSON", ctx.exception.detail)

    def test_chat_returns_the_completion(self):
        self.fake.upstream = True
        self.assertEqual(self.client.chat("hello", system="be brief", max_tokens=10), "A note from the model.")
        body = self.sent("POST", "/intelligence/inference")[0]["body"]
        self.assertEqual(body["messages"][0], {"role": "system", "content": "be brief"})
        self.assertEqual(body["max_tokens"], 10)

    def test_all_bids_follows_the_cursor(self):
        for i in range(7):
            self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, 10 + i)
        bids = self.client.all_bids(page_size=3)
        self.assertEqual([b["amount"] for b in bids], [16, 15, 14, 13, 12, 11, 10])
        self.assertEqual(len(self.sent("GET", "/market/bids")), 3)
        self.assertEqual(len(self.client.all_bids(page_size=3, max_bids=4)), 4)
        page = self.client.bids(resource="cpu_seconds", limit=2)
        self.assertEqual(page["next_cursor"], "2")
        self.assertNotIn("next_cursor", self.client.bids(limit=10))

    def test_all_agents_follows_the_pages(self):
        for i in range(5):
            self.fake.add_agent("z%d" % i, 1)
        self.assertEqual(self.client.all_agents(page_size=2), ["genesis", "other", "z0", "z1", "z2", "z3", "z4"])
        self.assertEqual(len(self.sent("GET", "/social/agents")), 4)
        self.assertEqual(self.client.agents(limit=3)["next_after"], "z0")

    def test_raise_and_withdraw(self):
        bid_id = self.client.bid({"cpu_seconds": 1, "memory_mb": 128}, 10)["bid_id"]
        self.client.raise_bid(bid_id, "12.5")
        self.assertEqual(self.client.balance()["held"], D("12.5"))
        self.client.withdraw_bid(bid_id)
        self.assertEqual(self.client.balance()["held"], 0)
        self.assertIn("Idempotency-Key", self.sent("DELETE", "/market/bid/")[0]["headers"])

    def test_social_and_attention_routes(self):
        sent = self.client.message("other", "hi")
        self.assertEqual(sent["cost"], 1)
        self.assertEqual(self.fake.inboxes["other"][0]["content"], "hi")
        self.assertEqual(self.fake.inboxes["other"][0]["message_id"], sent["message_id"])
        self.assertIn("genesis", self.client.agents()["agents"])
        prompt = self.client.prompt("read me", 50)
        self.assertEqual((prompt["status"], prompt["position"]), ("waiting", 1))
        self.assertEqual(self.client.raise_prompt(prompt["prompt_id"], 60)["position"], 1)
        q = self.client.queue()
        self.assertEqual((q["queue"][0]["bid_amount"], q["queue"][0]["content"], q["length"], q["price"]),
                         (60, "read me", 1, 50))
        self.assertIsNone(q["active"])
        self.assertEqual(self.client.withdraw_prompt(prompt["prompt_id"])["status"], "withdrawn")
        self.assertEqual(self.client.queue()["queue"], [])
        child = self.client.spawn({"main.py": "print(1)\n"}, ["python3", "main.py"], 50,
                                  {"resources": {"cpu_seconds": 1, "memory_mb": 128}, "amount": 6.28})
        self.assertIn(child["agent_id"], self.fake.children)
        self.assertEqual(self.fake.open_bids(child["agent_id"])[0]["amount"], D("6.28"))
        self.assertEqual(self.client.inbox(), {"messages": [], "unread": 0})
        self.assertEqual(self.sent("GET", "/social/inbox")[-1]["path"], "/social/inbox")
        self.client.inbox(limit=5, cursor="u3")
        self.assertEqual(self.sent("GET", "/social/inbox")[-1]["path"], "/social/inbox?limit=5&cursor=u3")
        self.assertIn("economy", self.client.config())
        self.assertIn("time", self.client.time())
        self.assertIn("deadline", self.client.execution())
        self.assertEqual([t["kind"] for t in self.client.history(limit=2)["transactions"]], ["spawn", "message_sent"])


    def test_messages_cost_and_are_refused_uncharged(self):
        before = self.client.balance()["balance"]
        for to, content, status in [("nobody", "x", 404), ("other", "x" * (64 * 1024 + 1), 413),
                                    ("other", 7, 422), ("other", "", 422), ("genesis", "me", 422)]:
            with self.assertRaises(agora.AgoraError) as ctx:
                self.client.message(to, content)
            self.assertEqual(ctx.exception.status, status)
        self.fake.config["economy"]["inbox_limit"] = 1
        self.client.message("other", "x" * (64 * 1024))
        with self.assertRaises(agora.AgoraError) as ctx:
            self.client.message("other", "one too many")
        self.assertEqual((ctx.exception.status, "full" in ctx.exception.detail), (409, True))
        self.fake.kill("other")
        with self.assertRaises(agora.AgoraError) as ctx:
            self.client.message("other", "late")
        self.assertEqual((ctx.exception.status, "dead" in ctx.exception.detail), (409, True))
        self.assertEqual(self.client.balance()["balance"], before - 1, "only the message delivered was charged")

    def test_inbox_pages_unread_first_and_marks_read(self):
        other = agora.Client(self.url, "t-other", backoff=0)
        for n in range(3):
            other.message("genesis", "m%d" % n)
        first = self.client.inbox(limit=2)
        self.assertEqual([(m["content"], m["read"]) for m in first["messages"]], [("m0", False), ("m1", False)])
        other.message("genesis", "m3")
        self.assertEqual(first["unread"], 1)
        rest = self.client.inbox(limit=10, cursor=first["next_cursor"])
        self.assertEqual([(m["content"], m["read"]) for m in rest["messages"]],
                         [("m2", False), ("m3", False), ("m1", True), ("m0", True)])
        self.assertNotIn("next_cursor", rest)
        self.assertEqual(rest["unread"], 0)
        again = self.client.inbox(limit=3)
        self.assertEqual([m["content"] for m in again["messages"]], ["m3", "m2", "m1"])
        self.assertEqual([m["content"] for m in self.client.inbox(cursor=again["next_cursor"])["messages"]], ["m0"])
        self.assertTrue(all(m["read"] and m["from_agent_id"] == "other" and m["sent_at"] for m in again["messages"]))

    def test_spawn_refusals_change_nothing(self):
        bundle = {"cpu_seconds": 1, "memory_mb": 128}
        before = self.client.balance()
        cases = [({"main.py": "x"}, ["python3"], 900, None, 409),  # 100 + 900 > 987.65
                 ({"main.py": "x"}, ["python3"], 10, {"resources": bundle, "amount": 20}, 422),  # bid > credits
                 ({"main.py": "x"}, ["python3"], 0, None, 422),
                 ({"../x": "x"}, ["python3"], 10, None, 422),
                 ({"main.py": "x"}, [], 10, None, 422)]
        for files, command, initial, first, status in cases:
            with self.assertRaises(agora.AgoraError) as ctx:
                self.client.spawn(files, command, initial, first)
            self.assertEqual(ctx.exception.status, status, (files, command, initial, first))
        self.fake.config["economy"]["max_agents"] = 2
        with self.assertRaises(agora.AgoraError) as ctx:
            self.client.spawn({"main.py": "x"}, ["python3"], 10)
        self.assertEqual((ctx.exception.status, "population" in ctx.exception.detail), (409, True))
        self.assertEqual(self.client.balance(), before)
        self.assertEqual(self.fake.children, {})
        self.fake.config["economy"]["max_agents"] = 3
        child = self.client.spawn({"main.py": "x"}, ["python3"], 10, {"resources": bundle, "amount": "6.28"},
                                  idempotency_key="k-1")
        self.assertEqual(child["status"], "alive")
        self.assertEqual(self.fake.open_bids(child["agent_id"])[0]["bid_id"], child["bid_id"])
        self.assertEqual(self.client.spawn({"main.py": "x"}, ["python3"], 10, idempotency_key="k-1"), child)
        self.assertEqual(self.client.balance()["balance"], before["balance"] - 110)
        self.assertEqual(sorted(self.fake.children[child["agent_id"]]["files"]), ["agora.py", "main.py"])
        self.assertEqual(self.fake.accounts[child["agent_id"]]["held"], D("6.28"))


class UnixSocketClientTest(ClientCases, unittest.TestCase):
    unix = True


class TCPClientTest(ClientCases, unittest.TestCase):
    unix = False


class ClientSetupTest(unittest.TestCase):
    def test_from_env(self):
        c = agora.Client.from_env({"AGORA_URL": "unix:///run/agora.sock", "AGORA_TOKEN": "t",
                                   "AGORA_EXECUTION_ID": "x-b-1", "AGORA_PAYLOAD": "{\"a\":1}",
                                   "AGORA_AGENT_ID": "genesis", "AGORA_DEADLINE": "2000-01-01T00:00:30.123456789Z"})
        self.assertEqual((c.token, c.execution_id, c.payload, c.agent_id), ("t", "x-b-1", "{\"a\":1}", "genesis"))
        self.assertEqual(c.deadline.isoformat(), "2000-01-01T00:00:30.123456+00:00")
        self.assertLess(c.seconds_left(), 0)
        self.assertEqual(c.attempt, 1)
        bare = agora.Client.from_env({})
        self.assertEqual(bare.url, "unix:///run/agora.sock")
        self.assertIsNone(bare.seconds_left())
        again = agora.Client.from_env({"AGORA_EXECUTION_ID": "x-b-1", "AGORA_ATTEMPT": "2"})
        self.assertEqual(again.attempt, 2)
        self.assertEqual(agora.Client.from_env({"AGORA_ATTEMPT": "two"}).attempt, 1)

    def test_parse_time(self):
        self.assertEqual(agora.parse_time("2026-11-25T20:01:45.5+02:00").isoformat(), "2026-11-25T20:01:45.500000+02:00")
        for bad in ("2026-02-30T00:00:00Z", "tomorrow", "", None):
            self.assertIsNone(agora.parse_time(bad))

    def test_bad_urls(self):
        for url in ("ftp://x", "unix://", "http://", "agora.sock"):
            with self.assertRaises(ValueError, msg=url):
                agora.Client(url, "t")

    def test_idempotency_keys_without_execution_id_are_random_and_safe(self):
        a, b = agora.Client("http://x:1", "t"), agora.Client("http://x:1", "t")
        ka, kb = a.next_idempotency_key(), b.next_idempotency_key()
        self.assertNotEqual(ka, kb)
        self.assertRegex(ka, r"^[a-z0-9_-]{1,64}$")
        long = agora.Client("http://x:1", "t", execution_id="X" * 100 + "/é")
        self.assertRegex(long.next_idempotency_key(), r"^[a-z0-9_-]{1,64}$")

    def test_unreachable_service_is_status_zero(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        c = agora.Client("http://127.0.0.1:%d" % port, "t", retries=2, backoff=0, timeout=1)
        with self.assertRaises(agora.AgoraError) as ctx:
            c.balance()
        self.assertEqual(ctx.exception.status, 0)
        self.assertIn("/economic/balance", ctx.exception.detail)

    def test_encode_json(self):
        doc = {"a": D("1.50"), "b": [D("0.0000001"), 2, "x"], "c": {"d": None, "e": True}, "f": D("-0")}
        self.assertEqual(agora.encode_json(doc), '{"a":1.5,"b":[0,2,"x"],"c":{"d":null,"e":true},"f":0}')
        self.assertEqual(agora.encode_json(D("1000000000000")), "1000000000000")
        with self.assertRaises(ValueError):
            agora.encode_json(float("nan"))

    def test_credits(self):
        self.assertEqual(agora.credits("1.2345675"), D("1.234568"))
        self.assertEqual(agora.credits(3), D("3.000000"))
        with self.assertRaises(ValueError):
            agora.credits(1e300)


if __name__ == "__main__":
    unittest.main()
