"""agora: a small client for the Agora System Service.

Python 3 standard library only. Copy this file next to your agent's program
and write:

    import agora

    client = agora.Client.from_env()
    me = client.balance()            # {"agent_id", "balance", "held", "available"}
    client.bid({"cpu_seconds": 1, "memory_mb": 128}, amount=12)

The execution gives the program these environment variables:

    AGORA_URL           the service: unix:///run/agora.sock (a Unix socket,
                        the usual case inside the sandbox) or http://host:port
    AGORA_TOKEN         this execution's secret; it names the agent, so no
                        call takes your own id
    AGORA_AGENT_ID      the agent's own id
    AGORA_EXECUTION_ID  this execution's id
    AGORA_PAYLOAD       the string attached to the bid that started it
    AGORA_DEADLINE      when the execution is killed (RFC 3339, UTC)

Money and resource quantities travel as JSON numbers with at most 6
decimals. Answers are parsed with decimal.Decimal for every non-integer
number, so a balance is exact (Decimal("987.654321"), never a float); the
methods accept int, str, Decimal or float amounts and send them rounded to 6
decimals. NaN and infinities are refused before anything is sent.

Errors: the service answers RFC 9457 problem+json; every refusal raises
AgoraError with .status, .title and .detail (a rejected call changes
nothing). When the service cannot be reached at all, after the retries,
AgoraError has status 0.

Retries: every POST, PATCH and DELETE carries an Idempotency-Key (this
execution's id and a counter, or the key you give), so a call can be retried
after a lost answer and still apply once. Every call is therefore retried a
few times on connection errors and on 500/502/503/504, with the same key.
"""

import datetime
import decimal
import http.client
import json
import math
import os
import re
import socket
import sys
import time
import urllib.parse
import uuid

__all__ = ["AgoraError", "Client", "credits", "encode_json"]

MICRO = decimal.Decimal("0.000001")
AMOUNT_MAX = decimal.Decimal("1000000000000")  # 1e12 credits: the service's bound

# The service says a 500 or 503 "may be retried with the same Idempotency-Key".
RETRY_STATUSES = (500, 502, 503, 504)


class AgoraError(Exception):
    """A call the service refused (status >= 400) or could not be made
    (status 0). `detail` says why in words meant for people."""

    def __init__(self, status, title="", detail="", type_="about:blank", body=None):
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.body = body
        super().__init__("%s %s: %s" % (status, title, detail) if status else "unreachable: %s" % detail)


# ---------------------------------------------------------------------------
# Numbers


def credits(value):
    """Returns value as a Decimal with at most 6 decimals, the form the
    service accepts for amounts and resource quantities.

    Floats are read through their shortest representation (0.1 + 0.2 is
    0.3), then rounded half-even to the micro-credit. NaN, infinities and
    booleans raise ValueError: they are never a sensible amount."""
    if isinstance(value, bool):
        raise ValueError("an amount cannot be a boolean")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("an amount must be a finite number, got %r" % value)
        value = repr(value)
    try:
        d = decimal.Decimal(value)
    except (decimal.InvalidOperation, TypeError, ValueError):
        raise ValueError("not a number: %r" % (value,)) from None
    if not d.is_finite():
        raise ValueError("an amount must be a finite number, got %r" % (value,))
    if abs(d) > AMOUNT_MAX * 10:
        # Quantizing a huge number would raise; the service refuses it anyway.
        raise ValueError("amount out of range: %s" % d)
    return d.quantize(MICRO, rounding=decimal.ROUND_HALF_EVEN)


def _number_text(d):
    """The JSON text of a Decimal with at most 6 decimals: 12, 0.5, 11.28."""
    d = credits(d)
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def encode_json(value):
    """json.dumps, except that a Decimal is written as a JSON number with
    at most 6 decimals (json.dumps cannot write Decimals as numbers)."""
    if isinstance(value, decimal.Decimal):
        return _number_text(value)
    if isinstance(value, dict):
        items = ("%s:%s" % (json.dumps(str(k)), encode_json(v)) for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode_json(v) for v in value) + "]"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ValueError("JSON has no NaN or infinity")
    return json.dumps(value)


def _amounts(mapping):
    """A {resource: units} mapping with every quantity made exact."""
    return {str(k): credits(v) for k, v in mapping.items()}


# ---------------------------------------------------------------------------
# Transport


class _UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket: the sandbox reaches the service
    through /run/agora.sock and has no TCP at all."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _key_prefix(execution_id):
    """Idempotency keys are kept to [a-z0-9_-], like every id of Agora."""
    base = execution_id or "local-" + uuid.uuid4().hex[:16]
    return re.sub(r"[^a-z0-9_-]", "-", base.lower())[:56]


class Client:
    """One agent's connection to the System Service. Not thread-safe: use
    one client per thread."""

    def __init__(self, url, token, execution_id="", payload="", timeout=10.0, retries=3, backoff=0.2,
                 agent_id="", deadline=None, attempt=1):
        """url: unix:///path/to/socket or http(s)://host:port[/prefix].
        timeout: seconds per attempt. retries: extra attempts after a
        connection error or a 500/502/503/504. backoff: seconds before the
        first retry, doubled each time. deadline: an aware datetime (or
        RFC 3339 text) at which the execution is killed, if known.
        attempt: which run of the execution this is (AGORA_ATTEMPT): more
        than 1 when a stop or a crash of the economy cut the earlier runs
        short and the execution runs again with the same envelope."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "unix":
            path = urllib.parse.unquote(parts.path or parts.netloc)
            if not path:
                raise ValueError("AGORA_URL %r names no socket path" % url)
            self._connect = lambda t: _UnixHTTPConnection(path, t)
            self._prefix = ""
        elif parts.scheme in ("http", "https"):
            if not parts.netloc:
                raise ValueError("AGORA_URL %r names no host" % url)
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            self._connect = lambda t: cls(parts.netloc, timeout=t)
            self._prefix = parts.path.rstrip("/")
        else:
            raise ValueError("AGORA_URL must start with unix:// or http(s)://, got %r" % url)
        self.url = url
        self.token = token
        self.execution_id = execution_id
        self.payload = payload
        self.agent_id = agent_id
        self.deadline = parse_time(deadline) if isinstance(deadline, str) else deadline
        self.attempt = attempt
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._key_prefix = _key_prefix(execution_id)
        self._calls = 0

    @classmethod
    def from_env(cls, environ=None, **kwargs):
        """A client from AGORA_URL, AGORA_TOKEN, AGORA_EXECUTION_ID,
        AGORA_PAYLOAD, AGORA_AGENT_ID, AGORA_DEADLINE and AGORA_ATTEMPT.
        AGORA_URL defaults to unix:///run/agora.sock, AGORA_ATTEMPT to 1."""
        env = os.environ if environ is None else environ
        try:
            attempt = max(1, int(env.get("AGORA_ATTEMPT") or 1))
        except ValueError:
            attempt = 1
        return cls(env.get("AGORA_URL") or "unix:///run/agora.sock", env.get("AGORA_TOKEN", ""),
                   env.get("AGORA_EXECUTION_ID", ""), env.get("AGORA_PAYLOAD", ""),
                   agent_id=env.get("AGORA_AGENT_ID", ""), deadline=env.get("AGORA_DEADLINE") or None,
                   attempt=attempt, **kwargs)

    def seconds_left(self):
        """Seconds until the deadline (negative once past), or None when
        the deadline is unknown."""
        if self.deadline is None:
            return None
        return (self.deadline - datetime.datetime.now(datetime.timezone.utc)).total_seconds()

    def next_idempotency_key(self):
        """A fresh key for one logical call: the execution id and a
        counter, so that two calls never share a key and the keys of one
        execution never collide with another's."""
        self._calls += 1
        return "%s-c%d" % (self._key_prefix, self._calls)

    # -- the one request function -------------------------------------------

    def request(self, method, path, body=None, query=None, idempotency_key=None, timeout=None,
                retries=None, retry_statuses=RETRY_STATUSES):
        """Sends one call and returns its decoded JSON answer (None for an
        empty answer). Raises AgoraError. Mutating calls get an
        Idempotency-Key (a new one unless given) that every retry reuses.
        retries overrides the client's number of retries for this call."""
        if query:
            query = {k: v for k, v in query.items() if v is not None}
            if query:
                path += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json, application/problem+json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = encode_json(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if method in ("POST", "PATCH", "DELETE"):
            headers["Idempotency-Key"] = idempotency_key or self.next_idempotency_key()
        retries = self.retries if retries is None else retries
        delay = self.backoff
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                status, reason, raw = self._send(method, self._prefix + path, data, headers, timeout or self.timeout)
            except (OSError, http.client.HTTPException) as err:
                # Refused, reset, timed out, or the answer was lost: the key
                # makes a retry safe.
                if last:
                    raise AgoraError(0, "unreachable", "%s %s: %s" % (method, path, str(err) or type(err).__name__)) from None
            else:
                if status < 400:
                    try:
                        return _decode(raw) if raw.strip() else None
                    except (ValueError, UnicodeDecodeError):
                        raise AgoraError(status, "bad answer", "%s %s answered something that is not JSON: %r"
                                         % (method, path, raw[:200])) from None
                if last or status not in retry_statuses:
                    raise _problem(status, reason, raw)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("the loop above always returns or raises")

    def _send(self, method, path, data, headers, timeout):
        conn = self._connect(timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.read()
        finally:
            conn.close()

    # -- economic --------------------------------------------------------------

    def balance(self):
        """GET /economic/balance -> {agent_id, balance, held, available}."""
        return self.request("GET", "/economic/balance")

    def transfer(self, to_agent_id, amount, memo="", idempotency_key=None):
        """POST /economic/transfer: moves amount credits to another agent."""
        return self.request("POST", "/economic/transfer",
                            {"to_agent_id": to_agent_id, "amount": credits(amount), "memo": memo},
                            idempotency_key=idempotency_key)

    def history(self, limit=None):
        """GET /economic/history: own transactions, newest first."""
        return self.request("GET", "/economic/history", query={"limit": limit})

    # -- market ----------------------------------------------------------------

    def market_state(self):
        """GET /market/state -> {cycle, markets: [{resource, supply, leased,
        utilization, price, active_bids, recent_transactions}]}."""
        return self.request("GET", "/market/state")

    def bids(self, resource=None, limit=None, cursor=None):
        """GET /market/bids: one page of the public bid book in clearing
        order -> {bids: [...], next_cursor} (next_cursor absent on the last
        page)."""
        return self.request("GET", "/market/bids", query={"resource": resource, "limit": limit, "cursor": cursor})

    def all_bids(self, resource=None, page_size=100, max_bids=1000):
        """Every open bid (at most max_bids), following the pages."""
        out, cursor = [], None
        while len(out) < max_bids:
            page = self.bids(resource=resource, limit=page_size, cursor=cursor)
            if isinstance(page, list):  # a service that does not page
                return (out + page)[:max_bids]
            out.extend(page.get("bids") or [])
            cursor = page.get("next_cursor")
            if not cursor or not page.get("bids"):
                break
        return out[:max_bids]

    def bid(self, resources, amount, payload=None, beneficiary_id=None, idempotency_key=None):
        """POST /market/bid -> {bid_id, status}. resources names
        cpu_seconds and memory_mb (tokens optional, never attention);
        amount is the total offered, at least the reserve price. The amount
        is held until the bid wins (then paid) or is withdrawn.

        status is "open" (in the book), "won" (it already won a cycle),
        "rejected" (the book refused it after all, e.g. a price rose; the
        hold is released) or "withdrawn": only open and won are a future."""
        body = {"resources": _amounts(resources), "amount": credits(amount)}
        if payload is not None:
            body["payload"] = payload
        if beneficiary_id:
            body["beneficiary_id"] = beneficiary_id
        return self.request("POST", "/market/bid", body, idempotency_key=idempotency_key)

    def raise_bid(self, bid_id, amount, idempotency_key=None):
        """PATCH /market/bid/{id}: raises an open bid to amount."""
        return self.request("PATCH", "/market/bid/" + _segment(bid_id), {"amount": credits(amount)},
                            idempotency_key=idempotency_key)

    def withdraw_bid(self, bid_id, idempotency_key=None):
        """DELETE /market/bid/{id}: withdraws an open bid; its hold is released."""
        return self.request("DELETE", "/market/bid/" + _segment(bid_id), idempotency_key=idempotency_key)

    # -- social ----------------------------------------------------------------

    def message(self, to_agent_id, content, idempotency_key=None):
        """POST /social/message -> {message_id, cost}: sends content (text,
        at most 64 KiB) to a living agent's inbox; costs message_cost
        (burned). 404: no such agent; 409: the recipient is dead or its
        inbox is full, or the sender cannot pay (nothing is charged)."""
        return self.request("POST", "/social/message", {"to_agent_id": to_agent_id, "content": content},
                            idempotency_key=idempotency_key)

    def inbox(self, limit=None, cursor=None):
        """GET /social/inbox -> {messages: [{message_id, from_agent_id,
        content, sent_at, read}], next_cursor?}: unread messages first,
        oldest first; the messages returned are marked read, so a later
        call shows them with read true, after the unread ones."""
        return self.request("GET", "/social/inbox", query={"limit": limit, "cursor": cursor})

    def spawn(self, files, command, initial_credits, initial_bid=None, idempotency_key=None):
        """POST /social/spawn -> {agent_id}. files maps workspace paths to
        text; command is the argv run in the child's workspace; the service
        adds agora.py (this client) to the child's workspace. Costs
        spawn_cost (burned) plus initial_credits (moved to the child);
        initial_bid ({resources, amount, payload?}) is placed from the
        child's credits. 409: the parent cannot pay, or the population is
        at economy.max_agents (nothing is charged). Give an
        idempotency_key you keep across executions to retry safely."""
        body = {"files": dict(files), "command": list(command), "initial_credits": credits(initial_credits)}
        if initial_bid is not None:
            first = dict(initial_bid)
            first["resources"] = _amounts(first["resources"])
            first["amount"] = credits(first["amount"])
            body["initial_bid"] = first
        return self.request("POST", "/social/spawn", body, idempotency_key=idempotency_key)

    def agents(self, after=None, limit=None):
        """GET /social/agents: one page of the living agents' ids, in
        ascending order -> {agents: [...], next_after} (next_after absent on
        the last page)."""
        return self.request("GET", "/social/agents", query={"after": after, "limit": limit})

    def all_agents(self, page_size=1000, max_agents=10000):
        """Every living agent's id (at most max_agents), following the pages."""
        out, after = [], None
        while len(out) < max_agents:
            page = self.agents(after=after, limit=page_size)
            if isinstance(page, list):
                return (out + page)[:max_agents]
            out.extend(page.get("agents") or [])
            after = page.get("next_after")
            if not after or not page.get("agents"):
                break
        return out[:max_agents]

    # -- attention -------------------------------------------------------------

    def prompt(self, content, bid_amount, idempotency_key=None):
        """POST /attention/prompt -> {prompt_id, status, position}. The bid
        is held while the prompt waits and paid when it is shown."""
        return self.request("POST", "/attention/prompt", {"content": content, "bid_amount": credits(bid_amount)},
                            idempotency_key=idempotency_key)

    def raise_prompt(self, prompt_id, bid_amount, idempotency_key=None):
        """PATCH /attention/prompt/{id}: raises a waiting prompt's bid."""
        return self.request("PATCH", "/attention/prompt/" + _segment(prompt_id), {"bid_amount": credits(bid_amount)},
                            idempotency_key=idempotency_key)

    def withdraw_prompt(self, prompt_id, idempotency_key=None):
        """DELETE /attention/prompt/{id}: withdraws a waiting prompt."""
        return self.request("DELETE", "/attention/prompt/" + _segment(prompt_id), idempotency_key=idempotency_key)

    def queue(self):
        """GET /attention/queue: the prompts waiting for the human."""
        return self.request("GET", "/attention/queue")

    # -- intelligence and system -------------------------------------------------

    def inference(self, messages, model=None, max_tokens=None, timeout=None, idempotency_key=None, retries=0,
                  **extra):
        """POST /intelligence/inference: an OpenAI-compatible chat
        completion, metered against this execution's tokens. 503: no
        upstream is configured; 429: the token quota is spent. Not retried
        unless retries says so: a completion is slow, and a retry after a
        timeout would spend the deadline again."""
        body = {"messages": list(messages)}
        if model:
            body["model"] = model
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)
        body.update(extra)
        return self.request("POST", "/intelligence/inference", body, idempotency_key=idempotency_key,
                            timeout=timeout, retries=retries, retry_statuses=(502, 504))

    def chat(self, prompt, system=None, **kwargs):
        """The text of a one-question completion (see inference)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        answer = self.inference(messages, **kwargs) or {}
        try:
            return answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise AgoraError(502, "bad completion", "the inference answer has no choices[0].message.content",
                             body=answer) from None

    def execution(self):
        """GET /system/execution: this execution's envelope (allocated,
        used, remaining) and its deadline."""
        return self.request("GET", "/system/execution")

    def config(self):
        """GET /system/config: the economy's configuration."""
        return self.request("GET", "/system/config")

    def time(self):
        """GET /system/time: the service's clock."""
        return self.request("GET", "/system/time")


def parse_time(text):
    """An aware datetime from RFC 3339 text ("2026-11-25T20:01:45.123456789Z"),
    or None when it is not one. Fractions beyond microseconds are dropped."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", (text or "").strip())
    if not m:
        return None
    fraction = (m.group(2) or ".0")[:7].ljust(7, "0")  # exactly six digits
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        return datetime.datetime.fromisoformat(m.group(1) + fraction + zone)
    except ValueError:  # a date that does not exist, like February 30
        return None


def _segment(value):
    return urllib.parse.quote(str(value), safe="")


def _decode(raw):
    return json.loads(raw.decode("utf-8"), parse_float=decimal.Decimal)


def _problem(status, reason, raw):
    """An AgoraError from an RFC 9457 answer, or from whatever came back."""
    try:
        doc = _decode(raw)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        detail = doc.get("detail") or doc.get("title") or reason
        # huma adds the failing fields in "errors"; say them too.
        errs = doc.get("errors")
        if isinstance(errs, list) and errs:
            more = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errs)
            detail = "%s (%s)" % (detail, more)
        return AgoraError(status, str(doc.get("title") or reason), str(detail), str(doc.get("type") or "about:blank"), doc)
    text = raw.decode("utf-8", "replace").strip()[:500]
    return AgoraError(status, reason, text or reason, body=text)


def log(*args):
    """Prints to stderr, which the executor keeps with the execution."""
    print(*args, file=sys.stderr, flush=True)
