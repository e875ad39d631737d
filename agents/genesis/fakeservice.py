"""A small in-memory System Service for the tests (not shipped to agents).

It speaks the shapes of SPEC.md 3.2 over HTTP, on TCP or on a Unix socket,
keeps accounts with holds, a bid book, an attention queue, inboxes and
children, answers refusals as RFC 9457 problem+json, replays a repeated
Idempotency-Key, and records every request so that tests can look at what
a client sent. Tests can script failures: an answer with a given status,
or a connection dropped before or after the call applies.
"""

import decimal
import http.server
import json
import os
import socketserver
import threading

D = decimal.Decimal
MICRO = D("0.000001")
HERE = os.path.dirname(os.path.abspath(__file__))
# SPEC 1.6: a message's content is at most 64 KiB.
MESSAGE_BYTES_MAX = 64 * 1024
PROMPT_BYTES_MAX = 16384  # attention.PromptBytesMax


class Problem(Exception):
    def __init__(self, status, title, detail):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class Drop(Exception):
    """Close the connection without an answer."""


class Hang(Exception):
    """Keep the connection open without an answer until the test releases it
    (FakeAgora.release), then close it: the caller is killed mid-call."""


class Garbage:
    """An answer body that is not JSON."""


def _amount(value, field, positive=True):
    if isinstance(value, bool) or not isinstance(value, (int, D)):
        raise Problem(422, "Unprocessable Entity", "%s must be a number" % field)
    d = D(value)
    if d.as_tuple().exponent < -6:
        raise Problem(422, "Unprocessable Entity", "%s has more than 6 decimals: %s" % (field, d))
    if positive and d <= 0:
        raise Problem(422, "Unprocessable Entity", "%s must be positive" % field)
    return d


def _json(value):
    """Decimals as JSON numbers."""
    if isinstance(value, D):
        t = format(value, "f")
        return t.rstrip("0").rstrip(".") if "." in t else t
    if isinstance(value, dict):
        return "{" + ",".join("%s:%s" % (json.dumps(k), _json(v)) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json(v) for v in value) + "]"
    return json.dumps(value)


class FakeAgora:
    """The economy's state and the routes. Thread-safe (one lock)."""

    def __init__(self, upstream=False, completion="A note from the model."):
        self.lock = threading.Lock()
        self.accounts = {}  # agent_id -> {balance, held, token}
        self.tokens = {}  # token -> agent_id
        self.markets = {
            "attention": {"supply": D(1), "leased": D(0), "price": D(50)},
            "cpu_seconds": {"supply": D(100), "leased": D(0), "price": D(5)},
            "memory_mb": {"supply": D(10000), "leased": D(0), "price": D("0.01")},
            "tokens": {"supply": D(10000), "leased": D(0), "price": D("0.1")},
        }
        self.cycle = 0
        self.bids = {}  # bid_id -> bid
        self.prompts = {}  # prompt_id -> waiting prompt
        self.active = None  # the prompt in front of the human
        self.prompt_contents = []  # every content placed, in order
        self.attention_price_rise = None  # the price the next prompt meets, if set
        self.inboxes = {}
        self.history = {}
        self.children = {}  # agent_id -> {files, command, parent}
        self.upstream = upstream
        self.completion = completion
        self.config = {"economy": {"initial_credit_budget": 1000, "spawn_cost": 100, "message_cost": 1,
                                   "inbox_limit": 1000, "max_agents": 1000,
                                   "attention_conversion_rates": {"interesting": 50, "useful": 50,
                                                                  "understandable": 50}},
                       "resources": {r: {"supply": m["supply"], "initial_price": m["price"]}
                                     for r, m in self.markets.items()},
                       "execution": {"timeout_seconds": 30, "default_memory_mb": 100},
                       "inference": {"available": upstream}}
        self.requests = []
        # [(method, path_prefix, action)], action: a status, "drop" (no
        # answer, nothing applied), "drop_after" (applied, no answer),
        # "hang_after" (applied, no answer until released) or "garbage" (a
        # 200 that is not JSON).
        self.script = []
        self.hanging = threading.Event()  # set when a call hangs
        self.release = threading.Event()  # set by the test to end the hang
        self.down = {}  # "METHOD /path-prefix" -> the status every matching call gets
        self.reject_bids = 0  # the next bids are answered "rejected" (a price rose after the hold)
        self.idempotent = {}
        self.seq = 0

    # -- test controls ------------------------------------------------------------

    def add_agent(self, agent_id, balance):
        token = "t-" + agent_id
        self.accounts[agent_id] = {"balance": D(balance), "held": D(0), "alive": True}
        self.tokens[token] = agent_id
        self.inboxes.setdefault(agent_id, [])
        self.history.setdefault(agent_id, [])
        return token

    def fail(self, method, path_prefix, *actions):
        """The next calls matching method and path get these actions in turn."""
        for a in actions:
            self.script.append((method, path_prefix, a))

    def open_bids(self, agent_id=None):
        return [b for b in self.bids.values() if agent_id is None or b["agent_id"] == agent_id]

    def clear(self):
        """A cycle: every open bid that fits wins (highest first) and is paid."""
        with self.lock:
            self.cycle += 1
            won = []
            for b in sorted(self.bids.values(), key=lambda b: (-b["amount"], b["seq"])):
                acct = self.accounts[b["agent_id"]]
                acct["held"] -= b["amount"]
                acct["balance"] -= b["amount"]
                self._record(b["agent_id"], "hold_posted", b["amount"])
                won.append(b)
            for b in won:
                del self.bids[b["bid_id"]]
            return won

    def kill(self, agent_id):
        """The agent dies: its open bids are cancelled (holds released),
        its credits burned, its token no longer answers."""
        with self.lock:
            acct = self.accounts[agent_id]
            for bid_id in [b["bid_id"] for b in self.bids.values() if b["agent_id"] == agent_id]:
                del self.bids[bid_id]
            # Its waiting prompts are cancelled too; an active one stays
            # until the human answers, and mints nothing then.
            for pid in [p["prompt_id"] for p in self.prompts.values() if p["agent_id"] == agent_id]:
                del self.prompts[pid]
            acct.update(alive=False, balance=D(0), held=D(0))

    def unread(self, agent_id):
        return [m for m in self.inboxes[agent_id] if not m["read"]]

    def show(self):
        """The slot is free: the first waiting prompt becomes active and its
        bid is paid (burned). Returns it, or None when none waits."""
        with self.lock:
            if self.active is not None:
                return self.active
            waiting = self._waiting()
            if not waiting:
                return None
            p = waiting[0]
            del self.prompts[p["prompt_id"]]
            acct = self.accounts[p["agent_id"]]
            acct["held"] -= p["bid_amount"]
            acct["balance"] -= p["bid_amount"]
            self._record(p["agent_id"], "hold_posted", -p["bid_amount"], p["prompt_id"])
            self.active = p
            return p

    def respond(self, interesting, useful, understandable):
        """The human rates the active prompt: sum(score x rate) is minted to
        its agent (a "reward" in its history) and the slot is free. Returns
        the reward, or None when no prompt is active."""
        with self.lock:
            p = self.active
            if p is None:
                return None
            rates = self.config["economy"]["attention_conversion_rates"]
            reward = D(interesting) * D(rates["interesting"]) + D(useful) * D(rates["useful"]) + \
                D(understandable) * D(rates["understandable"])
            self.active = None
            if self.accounts[p["agent_id"]]["alive"]:
                self.accounts[p["agent_id"]]["balance"] += reward
                self._record(p["agent_id"], "reward", reward, p["prompt_id"])
            return reward

    def reward(self, agent_id, amount):
        """Shows the agent's prompt and rates it so that amount is minted
        (rates of 50 per point: amount / 50 points in all)."""
        shown = self.show()
        assert shown is not None and shown["agent_id"] == agent_id, shown
        points = int(D(amount) / 50)
        first = min(10, points)
        second = min(10, points - first)
        return self.respond(first, second, points - first - second)

    # -- HTTP -----------------------------------------------------------------------

    def handle(self, method, path, headers, raw):
        with self.lock:
            body = None
            if raw:
                try:
                    body = json.loads(raw, parse_float=D)
                except ValueError:
                    return 400, {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "not JSON"}
            self.requests.append({"method": method, "path": path, "headers": dict(headers), "body": body, "raw": raw})
            action = self._scripted(method, path)
            for prefix, status in self.down.items():
                if (method + " " + path).startswith(prefix):
                    action = status
            if action == "drop":
                raise Drop()
            if action == "garbage":
                return 200, Garbage()
            if isinstance(action, int):
                return action, {"type": "about:blank", "title": "Scripted", "status": action,
                                "detail": "scripted failure %d" % action}
            key = headers.get("Idempotency-Key")
            auth = headers.get("Authorization", "")
            if key and (key, method, path, auth) in self.idempotent:
                result = self.idempotent[(key, method, path, auth)]
            else:
                try:
                    result = 200, self._route(method, path, headers, body)
                except Problem as p:
                    result = p.status, {"type": "about:blank", "title": p.title, "status": p.status, "detail": p.detail}
                # As the service does, only an applied call is remembered:
                # a refusal changed nothing, and the same key may try again.
                if key and result[0] == 200:
                    self.idempotent[(key, method, path, auth)] = result
            if action == "drop_after":
                raise Drop()
            if action == "hang_after":
                raise Hang()
            return result

    def _scripted(self, method, path):
        for i, (m, prefix, action) in enumerate(self.script):
            if m == method and path.startswith(prefix):
                del self.script[i]
                return action
        return None

    def _route(self, method, path, headers, body):
        auth = headers.get("Authorization", "")
        me = self.tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
        if me is None or not self.accounts[me]["alive"]:
            raise Problem(401, "Unauthorized", "a valid Bearer token is required")
        route, _, query = path.partition("?")
        q = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        parts = route.strip("/").split("/")
        key = (method, "/".join(parts[:2]))
        handler = {
            ("GET", "economic/balance"): self._balance,
            ("POST", "economic/transfer"): self._transfer,
            ("GET", "economic/history"): self._history,
            ("GET", "market/state"): self._state,
            ("GET", "market/bids"): self._bids,
            ("POST", "market/bid"): self._bid,
            ("PATCH", "market/bid"): self._raise,
            ("DELETE", "market/bid"): self._withdraw,
            ("POST", "social/message"): self._message,
            ("GET", "social/inbox"): self._inbox,
            ("POST", "social/spawn"): self._spawn,
            ("GET", "social/agents"): self._agents,
            ("POST", "attention/prompt"): self._prompt,
            ("PATCH", "attention/prompt"): self._raise_prompt,
            ("DELETE", "attention/prompt"): self._withdraw_prompt,
            ("GET", "attention/queue"): self._queue,
            ("POST", "intelligence/inference"): self._inference,
            ("GET", "system/execution"): lambda me, *a: {
                "agent_id": me, "execution_id": "x-b-1", "deadline": "2030-01-01T00:00:30Z",
                "allocated": {"cpu_seconds": 1, "memory_mb": 128}, "used": {}, "remaining": {}},
            ("GET", "system/config"): lambda *a: self.config,
            ("GET", "system/time"): lambda *a: {"time": "2030-01-01T00:00:00Z", "unix_millis": 1893456000000},
        }.get(key)
        if handler is None:
            raise Problem(404, "Not Found", "no route %s %s" % (method, route))
        return handler(me, body, q, parts[2] if len(parts) > 2 else "")

    def _available(self, me):
        a = self.accounts[me]
        return a["balance"] - a["held"]

    def _hold(self, me, amount):
        if amount > self._available(me):
            raise Problem(409, "Conflict", "insufficient credits: %s available, %s asked" % (self._available(me), amount))
        self.accounts[me]["held"] += amount

    def _record(self, me, kind, amount, reference=""):
        self.seq += 1
        entry = {"seq": self.seq, "kind": kind, "agent_id": me, "amount": amount}
        if reference:
            entry["reference"] = reference
        self.history[me].insert(0, entry)

    def _balance(self, me, *_):
        a = self.accounts[me]
        return {"agent_id": me, "status": "alive", "balance": a["balance"], "held": a["held"],
                "available": a["balance"] - a["held"]}

    def _transfer(self, me, body, *_):
        amount = _amount(body.get("amount"), "amount")
        to = body.get("to_agent_id")
        if to not in self.accounts:
            raise Problem(404, "Not Found", "no agent %r" % to)
        self._hold(me, amount)
        self.accounts[me]["held"] -= amount
        self.accounts[me]["balance"] -= amount
        self.accounts[to]["balance"] += amount
        return {"transfer_id": "t-%d" % self.seq, "status": "sent", "to_agent_id": to, "amount": amount}

    def _history(self, me, body, q, _):
        return {"agent_id": me, "transactions": self.history[me][: int(q.get("limit", 20))]}

    def _state(self, *_):
        markets = []
        for r, m in sorted(self.markets.items()):
            markets.append({"resource": r, "supply": m["supply"], "leased": m["leased"],
                            "utilization": (m["leased"] / m["supply"]).quantize(MICRO), "price": m["price"],
                            "active_bids": sum(1 for b in self.bids.values() if r in b["resources"]),
                            "recent_transactions": []})
        return {"cycle": self.cycle, "markets": markets}

    def _bids(self, me, body, q, _):
        ordered = sorted(self.bids.values(), key=lambda b: (-b["amount"], b["seq"]))
        if q.get("resource"):
            ordered = [b for b in ordered if q["resource"] in b["resources"]]
        start = int(q.get("cursor") or 0)
        limit = int(q.get("limit", 100))
        page = ordered[start:start + limit]
        out = {"bids": [{k: v for k, v in b.items() if k not in ("seq", "payload")} for b in page]}
        if start + limit < len(ordered):
            out["next_cursor"] = str(start + limit)
        return out

    def _check_bundle(self, resources):
        if not isinstance(resources, dict):
            raise Problem(422, "Unprocessable Entity", "resources must be an object")
        for need in ("cpu_seconds", "memory_mb"):
            if need not in resources:
                raise Problem(422, "Unprocessable Entity", "every bundle names %s" % need)
        if "attention" in resources:
            raise Problem(422, "Unprocessable Entity", "attention is bid for with a prompt, not in a bundle")
        reserve = D(0)
        for r, units in resources.items():
            if r not in self.markets:
                raise Problem(422, "Unprocessable Entity", "unknown resource %r" % r)
            reserve += _amount(units, r) * self.markets[r]["price"]
        return reserve

    def _place(self, me, body):
        resources = body.get("resources")
        reserve = self._check_bundle(resources)
        amount = _amount(body.get("amount"), "amount")
        if amount < reserve:
            raise Problem(422, "Unprocessable Entity", "amount below the reserve price: %s < reserve %s" % (amount, reserve))
        self.seq += 1
        bid_id = "bid-%06d" % self.seq
        if self.reject_bids:
            self.reject_bids -= 1
            return {"bid_id": bid_id, "status": "rejected"}
        self._hold(me, amount)
        self.bids[bid_id] = {"bid_id": bid_id, "agent_id": me, "beneficiary_id": body.get("beneficiary_id") or "",
                             "resources": {r: D(u) for r, u in resources.items()}, "amount": amount,
                             "status": "open", "seq": self.seq, "payload": body.get("payload")}
        return {"bid_id": bid_id, "status": "open"}

    def _bid(self, me, body, *_):
        return self._place(me, body)

    def _own_bid(self, me, bid_id):
        b = self.bids.get(bid_id)
        if not b or b["agent_id"] != me:
            raise Problem(404, "Not Found", "no open bid %r of yours" % bid_id)
        return b

    def _raise(self, me, body, q, bid_id):
        b = self._own_bid(me, bid_id)
        amount = _amount(body.get("amount"), "amount")
        if amount <= b["amount"]:
            raise Problem(422, "Unprocessable Entity", "a raise must be above %s" % b["amount"])
        self._hold(me, amount - b["amount"])
        b["amount"] = amount
        return {"bid_id": bid_id, "status": "open"}

    def _withdraw(self, me, body, q, bid_id):
        b = self._own_bid(me, bid_id)
        self.accounts[me]["held"] -= b["amount"]
        del self.bids[bid_id]
        return {"bid_id": bid_id, "status": "withdrawn"}

    def _message(self, me, body, *_):
        to, content = body.get("to_agent_id"), body.get("content")
        if not isinstance(to, str) or not to:
            raise Problem(422, "Unprocessable Entity", "to_agent_id is required")
        if not isinstance(content, str) or not content:
            raise Problem(422, "Unprocessable Entity", "content must be non-empty text")
        if len(content.encode("utf-8")) > MESSAGE_BYTES_MAX:
            raise Problem(413, "Content Too Large", "content is larger than %d bytes" % MESSAGE_BYTES_MAX)
        if to == me:
            raise Problem(422, "Unprocessable Entity", "a message goes to another agent")
        if to not in self.accounts:
            raise Problem(404, "Not Found", "no agent %r" % to)
        if not self.accounts[to]["alive"]:
            raise Problem(409, "Conflict", "agent %s is dead" % to)
        if len(self.unread(to)) >= int(self.config["economy"]["inbox_limit"]):
            raise Problem(409, "Conflict", "the inbox of %s is full" % to)
        cost = D(self.config["economy"]["message_cost"])
        self._hold(me, cost)
        self.accounts[me]["held"] -= cost
        self.accounts[me]["balance"] -= cost
        self._record(me, "message_sent", cost)
        message_id = "m-%06d" % self.seq
        self.inboxes[to].append({"message_id": message_id, "from_agent_id": me, "content": content,
                                 "sent_at": "2030-01-01T00:00:%02dZ" % (self.seq % 60), "read": False,
                                 "seq": self.seq})
        return {"message_id": message_id, "to_agent_id": to, "cost": cost}

    def _inbox(self, me, body, q, _):
        """Unread messages first, oldest first, then read ones, most
        recently delivered first, as the service pages them (limit 1-100,
        default 20); the unread messages of the page are marked read, and
        the page shows them as they were before (read false). The cursor
        names the last message of the page and whether it was unread then
        ("u<seq>") or read ("r<seq>"): after an unread one come the unread
        after it, then the read ones (those just marked among them); after
        a read one, the read ones older than it."""
        try:
            limit = int(q.get("limit", 20))
        except ValueError:
            raise Problem(422, "Unprocessable Entity", "limit must be an integer") from None
        if not 1 <= limit <= 100:
            raise Problem(422, "Unprocessable Entity", "limit must be between 1 and 100")
        cursor = q.get("cursor", "")
        msgs = self.inboxes[me]
        unread = [m for m in msgs if not m["read"]]
        read = [m for m in reversed(msgs) if m["read"]]
        if cursor:
            if cursor[:1] not in ("u", "r") or not cursor[1:].isdigit():
                raise Problem(422, "Unprocessable Entity", "bad cursor %r" % cursor)
            after = int(cursor[1:])
            if cursor[0] == "u":
                unread = [m for m in unread if m["seq"] > after]
            else:
                unread, read = [], [m for m in read if m["seq"] < after]
        ordered = unread + read
        page = ordered[:limit]
        out = {"messages": [{k: v for k, v in m.items() if k != "seq"} for m in page]}
        if len(ordered) > limit:
            last = page[-1]
            out["next_cursor"] = ("r" if last["read"] else "u") + str(last["seq"])
        for m in page:
            m["read"] = True
        out["unread"] = len(self.unread(me))
        return out

    def _spawn(self, me, body, *_):
        files, command = body.get("files"), body.get("command")
        if not isinstance(files, dict) or not files or not all(
                isinstance(p, str) and isinstance(c, str) and p and not p.startswith("/") and ".." not in p.split("/")
                for p, c in files.items()):
            raise Problem(422, "Unprocessable Entity", "files must map relative paths to text")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
            raise Problem(422, "Unprocessable Entity", "command must be a non-empty list of strings")
        initial = _amount(body.get("initial_credits"), "initial_credits")
        first = body.get("initial_bid")
        if first is not None:
            if not isinstance(first, dict):
                raise Problem(422, "Unprocessable Entity", "initial_bid must be an object")
            reserve = self._check_bundle(first.get("resources"))
            amount = _amount(first.get("amount"), "initial_bid.amount")
            if amount < reserve:
                raise Problem(422, "Unprocessable Entity", "initial_bid.amount below the reserve price %s" % reserve)
            if amount > initial:
                raise Problem(422, "Unprocessable Entity", "initial_bid.amount %s is above the initial credits of %s" % (
                    amount, initial))
        living = sum(1 for a in self.accounts.values() if a["alive"])
        if living >= int(self.config["economy"]["max_agents"]):
            raise Problem(409, "Conflict", "the population is full: %d agents live" % living)
        cost = D(self.config["economy"]["spawn_cost"])
        self._hold(me, cost + initial)  # 409 when the parent cannot pay: nothing changed
        self.accounts[me]["held"] -= cost + initial
        self.accounts[me]["balance"] -= cost + initial
        self.seq += 1
        child = "a-%06d" % self.seq
        self._record(me, "spawn", cost + initial)
        self.add_agent(child, initial)
        with open(os.path.join(HERE, "agora.py"), encoding="utf-8") as f:
            workspace = dict(files, **{"agora.py": f.read()})  # the client helper, as the service copies it
        self.children[child] = {"files": workspace, "command": command, "parent": me}
        out = {"agent_id": child, "status": "alive"}
        if first is not None:
            out["bid_id"] = self._place(child, first)["bid_id"]
        return out

    def _agents(self, me, body, q, _):
        ids = [a for a in sorted(self.accounts) if self.accounts[a]["alive"] and a > q.get("after", "")]
        limit = int(q.get("limit", 100))
        out = {"agents": ids[:limit]}
        if len(ids) > limit:
            out["next_after"] = ids[limit - 1]
        return out

    # The slot as the real service keeps it (SPEC 1.5, docs/api.md
    # "Attention"): waiting prompts hold their bid, ordered by amount, then
    # time (seq), then id; the active one is paid; the human's response
    # mints sum(score x rate) and frees the slot.

    def _waiting(self):
        return sorted(self.prompts.values(), key=lambda p: (-p["bid_amount"], p["seq"], p["prompt_id"]))

    def _position(self, pid):
        if self.active and self.active["prompt_id"] == pid:
            return 0
        for i, p in enumerate(self._waiting()):
            if p["prompt_id"] == pid:
                return i + 1
        return -1

    def _status(self, pid):
        pos = self._position(pid)
        status = "active" if pos == 0 else "waiting" if pos > 0 else "gone"
        return {"prompt_id": pid, "status": status, "position": pos}

    def _prompt(self, me, body, *_):
        if self.attention_price_rise is not None:
            # The price moved between the agent's look and its prompt.
            self.markets["attention"]["price"], self.attention_price_rise = self.attention_price_rise, None
        content = body.get("content")
        if not isinstance(content, str) or not content or len(content.encode("utf-8")) > PROMPT_BYTES_MAX:
            raise Problem(422, "Unprocessable Entity", "content must be UTF-8 text of 1 to %d bytes" % PROMPT_BYTES_MAX)
        amount = _amount(body.get("bid_amount"), "bid_amount")
        if amount < self.markets["attention"]["price"]:
            raise Problem(422, "Unprocessable Entity", "bid_amount %s is below the attention price %s"
                          % (amount, self.markets["attention"]["price"]))
        self._hold(me, amount)
        self.seq += 1
        pid = "p-%06d" % self.seq
        self.prompts[pid] = {"prompt_id": pid, "agent_id": me, "bid_amount": amount, "content": content,
                             "seq": self.seq}
        self.prompt_contents.append(content)
        return self._status(pid)

    def _own_prompt(self, me, pid):
        if self.active and self.active["prompt_id"] == pid and self.active["agent_id"] == me:
            raise Problem(409, "Conflict", "prompt %s is active: it was paid and cannot change" % pid)
        p = self.prompts.get(pid)
        if not p or p["agent_id"] != me:
            raise Problem(404, "Not Found", "no waiting prompt %r of yours" % pid)
        return p

    def _raise_prompt(self, me, body, q, pid):
        p = self._own_prompt(me, pid)
        amount = _amount(body.get("bid_amount"), "bid_amount")
        if amount <= p["bid_amount"]:
            raise Problem(422, "Unprocessable Entity", "a raise must be above %s" % p["bid_amount"])
        self._hold(me, amount - p["bid_amount"])
        p["bid_amount"] = amount
        return self._status(pid)

    def _withdraw_prompt(self, me, body, q, pid):
        p = self._own_prompt(me, pid)
        del self.prompts[pid]
        self.accounts[me]["held"] -= p["bid_amount"]
        return {"prompt_id": pid, "status": "withdrawn", "position": -1}

    def _queued(self, p, pos, me):
        out = {"position": pos, "prompt_id": p["prompt_id"], "agent_id": p["agent_id"], "bid_amount": p["bid_amount"],
               "placed_at": "2026-11-25T20:30:00Z"}
        if p["agent_id"] == me:
            out["content"] = p["content"]
        return out

    def _queue(self, me, *_):
        waiting = self._waiting()
        return {"active": self._queued(self.active, 0, me) if self.active else None,
                "queue": [self._queued(p, i + 1, me) for i, p in enumerate(waiting)],
                "length": len(waiting), "price": self.markets["attention"]["price"]}

    def _inference(self, me, body, *_):
        if not self.upstream:
            raise Problem(503, "Service Unavailable", "no inference upstream is configured")
        if not isinstance(body.get("messages"), list):
            raise Problem(422, "Unprocessable Entity", "messages is required")
        return {"id": "c-1", "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.completion},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}}


class _Handler(http.server.BaseHTTPRequestHandler):
    fake = None  # set per server

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            status, doc = self.server.fake.handle(self.command, self.path, self.headers, raw)
        except Drop:
            self.close_connection = True
            return
        except Hang:  # outside the fake's lock: the rest of the service goes on
            self.server.fake.hanging.set()
            self.server.fake.release.wait(60)
            self.close_connection = True
            return
        data = b"<html>oops</html>" if isinstance(doc, Garbage) else _json(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json" if status >= 400 else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve

    def address_string(self):
        return "test"

    def log_message(self, *args):
        pass


class _TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(fake, unix_path=None):
    """Starts a server for fake; returns (stop, url)."""
    if unix_path:
        server = _UnixServer(unix_path, _Handler)
        url = "unix://" + unix_path
    else:
        server = _TCPServer(("127.0.0.1", 0), _Handler)
        url = "http://127.0.0.1:%d" % server.server_address[1]
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join()
        if unix_path and os.path.exists(unix_path):
            os.unlink(unix_path)

    return stop, url
