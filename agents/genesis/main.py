#!/usr/bin/env python3
"""The genesis agent: the first inhabitant of an Agora economy.

Every execution is won in the market and must end with a bid for the next
one, or genesis dies. So each execution it:

 1. remembers: loads state.json (its only memory) and notes whether the
    previous execution was cut short (killed at the deadline or over its
    CPU or memory), in which case it asks for a larger envelope;
 2. observes: its balance, every market's price and utilization, the open
    bids in the book, the attention queue, its inbox and its history;
 3. secures its future first: bids for a modest continuation bundle, at
    least the reserve price, just above what the competing bids in the book
    would take of the supply before it, never above 3x the reserve and never
    more than it has (an open bid of its own is raised instead of doubled);
 4. earns: now and then bids for the human's attention with something worth
    reading (a note written with inference when an upstream is configured,
    otherwise a market report of its own making), prompting more often when
    the human's rewards pay for the attention and less when they do not;
 5. grows: when rich enough, spawns a helper (a frugal scout that reports
    the markets back to it by message), a second one only when rich
    enough for both;
 6. writes down what it did in state.json.

The decisions are pure functions of (observation, memory) with no IO, so
test_strategy.py can check them; the functions at the end of the file do
the talking to the service and never let an error stop the bid.
"""

import datetime
import decimal
import json
import os
import sys
import time

import agora
from agora import AgoraError

D = decimal.Decimal
MICRO = D("0.000001")
CENT = D("0.01")

# ---------------------------------------------------------------------------
# Tunables. Each says why it has the value it has.

STATE_FILE = "state.json"
# One CPU second and 128 MB run a Python program that makes a dozen calls
# with room to spare; an execution that is cut short doubles them.
BASE_ENVELOPE = {"cpu_seconds": D(1), "memory_mb": D(128)}
ENVELOPE_MAX = {"cpu_seconds": D(8), "memory_mb": D(1024)}
# After this many clean executions in a row a grown envelope shrinks back
# one step: the cause may have been a one-off.
CLEAN_RUNS_TO_SHRINK = 10
# Tokens asked for in an execution that will prompt with inference: a short
# system prompt, the market data and an answer of about 150 words.
INFERENCE_TOKENS = D(600)
INFERENCE_ANSWER_TOKENS = 300
INFERENCE_TIMEOUT_SECONDS = 15.0
# An inference that answers that no upstream is configured (503 naming it,
# or no route) is not tried again for this many executions.
INFERENCE_PAUSE_EXECUTIONS = 20
# Never offer more than this many times the reserve for a continuation:
# first price means a winner pays its whole bid, so a bidding war is lost
# even when won. Waiting in the book costs nothing.
OVERBID_MAX = D(3)
# Bid this fraction above the amount that would win against the book now,
# so that a competitor's small raise does not pass us.
OVERBID_MARGIN = D("0.02")
# Prompts and spawns only spend what is left after this many continuations
# at current prices.
KEEP_EXECUTIONS = 10
# Below this many continuations of runway, bid the reserve and do not compete.
LOW_RUNWAY_EXECUTIONS = 5
# Prompt every PROMPT_INTERVAL executions at first; rewards move the interval
# between the bounds.
PROMPT_INTERVAL = 5
PROMPT_INTERVAL_MIN = 2
PROMPT_INTERVAL_MAX = 40
# With no reward seen yet, expect the human to score 5 of 10 on each axis.
PRIOR_SCORE = D(5)
# Outbid waiting prompts only when this many are ahead of us.
CROWDED_QUEUE = 3
# Helpers: how many alive at once, how often, and what they start with.
# One living helper is enough to learn from; a second one is spawned only
# by a genesis rich enough for both (spawn_threshold once per helper, see
# plan_spawn): an economy the human's ratings have made rich grows to three
# agents, a poor one stays at two.
CHILDREN_MAX = 2
# Not in the first executions: genesis has not seen the prices move yet.
SPAWN_MIN_EXECUTIONS = 3
# Between two spawns, and after a refused spawn, this many executions pass:
# a refusal (no route, population full, too poor) does not go away at once.
SPAWN_INTERVAL_EXECUTIONS = 10
HELPER_BUNDLE = {"cpu_seconds": D(1), "memory_mb": D(128)}
# The helper starts with enough for this many continuations at current
# prices and this many reports to its parent; then it lives on its own.
HELPER_EXECUTIONS_FUNDED = 15
HELPER_REPORTS_FUNDED = 5
HELPER_REPORT_EVERY = 5
# Rich enough to spawn: after paying the spawn cost and the helper's
# credits, genesis still holds this many modest continuations of its own,
# priced at the higher of the posted and the initial prices (see
# lasting_markets). At the default prices and costs that is about 1455
# credits, more than the default grant of 1000: genesis spawns on a
# generous grant, or once the human's ratings have made it rich, never by
# spending the runway it lives on.
RICH_RUNWAY_EXECUTIONS = 200
# A spawn whose answer was lost is retried with the same key at most this
# many executions; then it is given up (the key will not be used again).
SPAWN_PENDING_TRIES_MAX = 20
# Messages read per execution (one page of the inbox; the rest waits,
# unread first, for the next execution), and message ids remembered so
# that a message read twice is counted once.
INBOX_PAGE = 50
INBOX_SEEN_MAX = 200
# Memory bounds, so that state.json stays small.
OUTCOMES_MAX = 20
PRICES_MAX = 20
NOTES_MAX = 5
REWARDS_SEEN_MAX = 100
PROMPTS_RECENT_MAX = 10

DEFAULTS = {"spawn_cost": D(100), "message_cost": D(1), "timeout_seconds": D(30),
            "conversion_rates": {"interesting": D(50), "useful": D(50), "understandable": D(50)}}


# ---------------------------------------------------------------------------
# Small pure helpers


def num(value, default=None):
    """A Decimal from a JSON number (int or Decimal), a string or a float;
    default when it is none of them or not finite."""
    if isinstance(value, bool) or value is None:
        return default
    try:
        d = D(repr(value)) if isinstance(value, float) else D(value)
    except (decimal.InvalidOperation, TypeError, ValueError):
        return default
    return d if d.is_finite() else default


def ceil_micro(d):
    """Rounds up to the micro-credit: a reserve rounded down would be refused."""
    return d.quantize(MICRO, rounding=decimal.ROUND_CEILING)


def floor_micro(d):
    """Rounds down to the micro-credit: what we can afford, never more."""
    return d.quantize(MICRO, rounding=decimal.ROUND_FLOOR)


def items(doc, *keys):
    """The list in an answer: the answer itself, or its first key holding a list."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for k in keys:
            if isinstance(doc.get(k), list):
                return doc[k]
    return []


def dig(doc, *path, default=None):
    """doc[path[0]][path[1]]..., or default when a step is missing."""
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return default
        doc = doc[key]
    return doc


def text(d):
    """A Decimal as plain text without exponent or trailing zeros (128,
    0.01), for state.json and logs; None stays None."""
    if d is None:
        return None
    t = format(d, "f")
    return t.rstrip("0").rstrip(".") if "." in t else t


def copy_json(value):
    """A deep copy through JSON, so that the memory transitions stay pure."""
    return json.loads(json.dumps(value, default=str))


def fits(bundle, free):
    """Whether every resource of the bundle fits in what is free."""
    return all(units <= free.get(r, D(0)) for r, units in bundle.items())


# ---------------------------------------------------------------------------
# Reading the service's answers into plain data


def read_markets(doc):
    """{resource: {price, supply, leased, utilization, active_bids, recent}}
    from GET /market/state; markets with no price are left out."""
    out = {}
    for m in items(doc, "markets"):
        if not isinstance(m, dict) or num(m.get("price")) is None or not m.get("resource"):
            continue
        supply = num(m.get("supply"), D(0))
        leased = num(m.get("leased"), D(0))
        util = num(m.get("utilization"))
        if util is None:
            util = leased / supply if supply > 0 else D(0)
        out[str(m["resource"])] = {"price": num(m["price"]), "supply": supply, "leased": leased,
                                   "utilization": util, "active_bids": int(num(m.get("active_bids"), D(0))),
                                   "recent": items(m.get("recent_transactions"))}
    return out


def read_bids(doc):
    """The open bids as {bid_id, agent_id, beneficiary_id, resources, amount}."""
    out = []
    for b in items(doc, "bids"):
        if not isinstance(b, dict) or num(b.get("amount")) is None or not isinstance(b.get("resources"), dict):
            continue
        res = {str(r): num(u) for r, u in b["resources"].items()}
        if any(u is None for u in res.values()):
            continue
        out.append({"bid_id": str(b.get("bid_id", "")), "agent_id": str(b.get("agent_id", "")),
                    "beneficiary_id": str(b.get("beneficiary_id") or ""), "resources": res,
                    "amount": num(b["amount"])})
    return out


def read_prompt(p):
    return {"prompt_id": str(p.get("prompt_id") or p.get("id") or ""), "agent_id": str(p.get("agent_id") or ""),
            "bid_amount": num(p.get("bid_amount"), D(0))}


def read_queue(doc):
    """The waiting prompts as {prompt_id, agent_id, bid_amount}, from GET
    /attention/queue's "queue"."""
    return [read_prompt(p) for p in items(doc, "queue", "prompts", "waiting") if isinstance(p, dict)]


def read_active(doc):
    """The prompt in front of the human (GET /attention/queue's "active"),
    or None when the slot is free."""
    active = dig(doc, "active")
    return read_prompt(active) if isinstance(active, dict) else None


def read_agents(doc):
    """The living agents' ids, or None when unknown."""
    if doc is None:
        return None
    ids = []
    for a in items(doc, "agents", "agent_ids", "ids"):
        ids.append(str(a.get("agent_id") or a.get("id")) if isinstance(a, dict) else str(a))
    return ids or None  # never empty while we live: an empty list means a shape we do not know


def settings(config):
    """What genesis needs from GET /system/config, with the defaults of
    SPEC 3.4 where the answer is silent."""
    rates = dig(config, "economy", "attention_conversion_rates") or {}
    return {
        "spawn_cost": num(dig(config, "economy", "spawn_cost"), DEFAULTS["spawn_cost"]),
        "message_cost": num(dig(config, "economy", "message_cost"), DEFAULTS["message_cost"]),
        "timeout_seconds": num(dig(config, "execution", "timeout_seconds"), DEFAULTS["timeout_seconds"]),
        "conversion_rates": {k: num(rates.get(k), v) for k, v in DEFAULTS["conversion_rates"].items()},
        "upstream": upstream_configured(config),
        "initial_prices": initial_prices(config),
    }


def initial_prices(config):
    """{resource: initial_price} from GET /system/config's resources; the
    resources whose price it does not give are left out."""
    out = {}
    resources = dig(config, "resources")
    if isinstance(resources, dict):
        for r, doc in resources.items():
            price = num(dig(doc, "initial_price"))
            if price is not None and price > 0:
                out[str(r)] = price
    return out


def upstream_configured(config):
    """Whether inference has an upstream: inference.available, as the
    service answers (configured or enabled are read the same way), else a
    non-empty inference.url or inference.upstream."""
    inf = dig(config, "inference")
    if not isinstance(inf, dict):
        return False
    for flag in ("available", "configured", "enabled"):
        if isinstance(inf.get(flag), bool):
            return inf[flag]
    return bool(inf.get("url") or inf.get("upstream"))


# ---------------------------------------------------------------------------
# Memory (state.json): pure transitions


def new_memory():
    return {"version": 1, "executions": 0, "phase": "done", "envelope": {k: text(v) for k, v in BASE_ENVELOPE.items()},
            "clean_runs": 0, "interrupted": 0, "inference_timeout": INFERENCE_TIMEOUT_SECONDS,
            "inference_paused_until": 0, "prices": [], "outcomes": [], "notes": [], "scout_reports": [],
            "prompts": {"count": 0, "last_execution": 0, "interval": PROMPT_INTERVAL, "pending_id": "",
                        "last_bid": "0", "spent": "0", "recent": [], "refused": 0},
            "rewards": {"count": 0, "total": "0", "last": "0", "seen": []},
            "children": [], "last_spawn_execution": 0, "spawn_spent": "0", "last_bid": None,
            "inbox": {"read": 0, "seen": [], "last_from": "", "last_at": ""},
            "spawn": {"count": 0, "pending": None, "refused_execution": 0, "last_error": "", "last_child": ""}}


def envelope(memory):
    return {k: num(v, BASE_ENVELOPE.get(k, D(1))) for k, v in memory["envelope"].items()}


def begin_execution(memory, execution_id, now):
    """The memory at the start of an execution. A phase other than "done"
    means the previous execution was killed before it finished: killed
    while prompting is the deadline (inference was slow), so inference gets
    less time; killed elsewhere is most likely CPU or memory, so the
    envelope doubles. Clean runs slowly shrink it back."""
    m = copy_json(memory)  # a copy: pure
    cut_short = m["executions"] > 0 and m.get("phase") != "done"
    env = envelope(m)
    if cut_short:
        m["interrupted"] += 1
        m["clean_runs"] = 0
        if m.get("phase") == "prompting":
            m["inference_timeout"] = max(3.0, float(m["inference_timeout"]) / 2)
        else:
            env = {k: min(v * 2, ENVELOPE_MAX.get(k, v * 2)) for k, v in env.items()}
    elif m["executions"] > 0:
        m["clean_runs"] += 1
        if m["clean_runs"] >= CLEAN_RUNS_TO_SHRINK and env != BASE_ENVELOPE:
            env = {k: max(BASE_ENVELOPE.get(k, v), v / 2) for k, v in env.items()}
            m["clean_runs"] = 0
    m["envelope"] = {k: text(v) for k, v in env.items()}
    m["executions"] += 1
    m["execution_id"] = execution_id
    m["started_at"] = now
    m["phase"] = "observing"
    m["previous_cut_short"] = cut_short
    return m


def absorb(memory, obs):
    """The memory after an observation: prices, rewards received, mail,
    whether our prompt still waits, which children live."""
    m = copy_json(memory)
    if obs["markets"]:
        entry = {"execution": m["executions"], "cycle": obs["cycle"],
                 "prices": {r: text(mk["price"]) for r, mk in sorted(obs["markets"].items())},
                 "utilization": {r: text(mk["utilization"]) for r, mk in sorted(obs["markets"].items())}}
        if obs.get("balance_known"):
            entry["balance"] = text(obs["balance"])
        m["prices"] = (m["prices"] + [entry])[-PRICES_MAX:]
    for key, amount, reference in new_rewards(obs["history"], m["rewards"]["seen"]):
        r = m["rewards"]
        r["seen"] = (r["seen"] + [key])[-REWARDS_SEEN_MAX:]
        r["count"] += 1
        r["total"] = text(num(r["total"], D(0)) + amount)
        r["last"] = text(amount)
        paid = num(m["prompts"]["last_bid"], D(0))
        m["prompts"]["interval"] = adapt_prompt_interval(m["prompts"]["interval"], amount, paid)
        for rec in m["prompts"]["recent"]:
            if reference and rec.get("prompt_id") == reference:
                rec["reward"] = text(amount)
    pending = m["prompts"]["pending_id"]
    active = obs.get("active")
    if pending and obs["queue_known"] and not any(p["prompt_id"] == pending for p in obs["queue"]) \
            and not (active and active["prompt_id"] == pending):
        m["prompts"]["pending_id"] = ""  # answered, expired or dropped since
    notes, scouts = read_inbox(obs["inbox"], m["inbox"])
    m["notes"] = (m["notes"] + notes)[-NOTES_MAX:]
    m["scout_reports"] = (m["scout_reports"] + scouts)[-NOTES_MAX:]
    if obs["agents"] is not None:
        m["children"] = [c for c in m["children"] if c in obs["agents"]]
    return m


def new_rewards(history, seen):
    """(key, amount, prompt_id) of each reward in the history not seen
    before. A reward is a transaction whose kind names a reward (minted to
    us for a prompt the human rated); its reference is the prompt."""
    out = []
    for t in items(history, "transactions", "history"):
        if not isinstance(t, dict) or "reward" not in str(t.get("kind") or t.get("type") or ""):
            continue
        amount = num(t.get("amount"))
        if amount is None and num(t.get("amount_micros")) is not None:
            amount = num(t["amount_micros"]) / 1000000
        key = str(t.get("seq") or t.get("event_id") or t.get("id") or "%s/%s" % (t.get("time"), amount))
        if amount is not None and key not in seen and key not in [k for k, _, _ in out]:
            out.append((key, amount, str(t.get("reference") or "")))
    return out


def read_inbox(inbox, book):
    """(notes, scout_reports) from the messages not seen before: scout
    reports are JSON from our helpers; anything else is kept as a short
    note. book (memory["inbox"]) is updated in place: how many messages were
    read, their ids (bounded) and the last sender. A message the service
    already marked read was read by an earlier execution and is skipped:
    the inbox gives unread messages first, then the read ones."""
    notes, scouts = [], []
    for msg in items(inbox, "messages", "inbox"):
        if not isinstance(msg, dict) or msg.get("read") is True:
            continue
        mid = str(msg.get("message_id") or "")
        if mid and mid in book["seen"]:
            continue
        if mid:
            book["seen"] = (book["seen"] + [mid])[-INBOX_SEEN_MAX:]
        sender = str(msg.get("from_agent_id") or msg.get("from") or msg.get("sender_id") or "?")
        book["read"] += 1
        book["last_from"] = sender
        book["last_at"] = str(msg.get("sent_at") or "")
        content = str(msg.get("content") or "")
        try:
            doc = json.loads(content)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("kind") == "scout_report":
            doc["from"] = sender
            scouts.append(json.loads(json.dumps(doc, default=str)))
        elif content:
            notes.append({"from": sender, "content": content[:300]})
    return notes, scouts


def adapt_prompt_interval(interval, reward, paid):
    """Prompt twice as often when the human's reward paid the attention
    back three times or more; half as often when it did not pay it back."""
    if paid > 0 and reward >= 3 * paid:
        return max(PROMPT_INTERVAL_MIN, int(interval) // 2)
    if reward < paid:
        return min(PROMPT_INTERVAL_MAX, int(interval) * 2)
    return int(interval)


def end_execution(memory, outcome, now):
    """The memory at the end: the outcome recorded, the phase done."""
    m = copy_json(memory)
    outcome = dict(outcome, execution=m["executions"], at=now)
    m["outcomes"] = (m["outcomes"] + [outcome])[-OUTCOMES_MAX:]
    m["phase"] = "done"
    return m


# ---------------------------------------------------------------------------
# The continuation bid


def reserve_price(bundle, markets):
    """Sum of units x posted price, rounded up to the micro-credit; None
    when a resource has no market."""
    total = D(0)
    for r, units in bundle.items():
        if r not in markets:
            return None
        total += units * markets[r]["price"]
    return ceil_micro(total)


def free_supply(markets, assume_released=False):
    """What each market can lease in the next cycle: supply - leased, or
    the whole supply when every running lease is assumed released."""
    return {r: m["supply"] if assume_released else max(D(0), m["supply"] - m["leased"]) for r, m in markets.items()}


def wins_at(amount, bundle, others, free):
    """Whether a bid of this amount would win the next cycle against the
    book: the clearing walks the bids from the highest amount (ties go to
    the earlier bid, so ours comes after every bid of the same amount),
    each takes its units if they fit, and ours must fit in what is left."""
    left = dict(free)
    for b in sorted(others, key=lambda b: b["amount"], reverse=True):
        if b["amount"] < amount:
            break
        if fits(b["resources"], left):
            for r, units in b["resources"].items():
                left[r] = left.get(r, D(0)) - units
    return fits(bundle, left)


def outbid_step(reserve):
    """How much above a competitor to bid: 1% of the reserve, at least a cent."""
    return max(CENT, ceil_micro(reserve / 100))


def amount_to_win(bundle, others, free, reserve):
    """The least amount, from the reserve up, that wins against the book
    now: the reserve itself, or just above one of the competing bids.
    None when no amount would (the bundle does not fit even alone)."""
    if not fits(bundle, free):
        return None
    step = outbid_step(reserve)
    candidates = sorted({reserve} | {b["amount"] + step for b in others if b["amount"] + step > reserve})
    for amount in candidates:
        if wins_at(amount, bundle, others, free):
            return amount
    return None  # unreachable: above every bid, ours is walked first


def continuation_bundle(memory, with_tokens):
    """The envelope genesis asks for: its current envelope, plus tokens
    when the next execution will prompt with inference."""
    bundle = envelope(memory)
    if with_tokens:
        bundle["tokens"] = INFERENCE_TOKENS
    return bundle


def wants_inference(memory, cfg, next_execution):
    """Whether the given execution should carry tokens: an upstream is
    configured, inference has not failed recently, and that execution is
    due to prompt."""
    if not cfg["upstream"] or next_execution < memory["inference_paused_until"]:
        return False
    return prompt_due(memory, next_execution)


def tokens_next(memory, cfg):
    """Whether the bid for the next execution should carry tokens. An
    execution that is due to prompt now will have a prompt waiting by the
    next one, so only the one after is due again."""
    if prompt_due(memory, memory["executions"]):
        return False
    return wants_inference(memory, cfg, memory["executions"] + 1)


def prompt_due(memory, execution):
    p = memory["prompts"]
    return not p["pending_id"] and execution - p["last_execution"] >= p["interval"]


def own_bids(obs, current_bid_id):
    """Our open bids for ourselves (not the one that started this execution,
    which the book may still show for a moment)."""
    return [b for b in obs["bids"] if b["agent_id"] == obs["me"] and b["beneficiary_id"] in ("", obs["me"])
            and b["bid_id"] != current_bid_id]


def plan_continuation(obs, memory, bundle, current_bid_id=""):
    """What to do about the next execution, as a plan:
    {action: place | raise | keep | none, bundle, amount, bid_id, withdraw, reserve, why}.

    The target is the least amount that wins against the bid book now, a
    small margin above it when there is competition, the reserve when there
    is none. It is capped at OVERBID_MAX x the reserve (the reserve itself
    when the runway is short) and at what we can afford. An open bid of our
    own is kept when already competitive, else raised; extra ones are
    withdrawn (one future at a time is enough)."""
    plan = {"action": "none", "bundle": bundle, "amount": None, "bid_id": "", "withdraw": [], "reserve": None,
            "why": ""}
    markets = obs["markets"]
    reserve = reserve_price(bundle, markets)
    if reserve is None:
        plan["why"] = "a resource of the bundle has no market"
        return plan
    plan["reserve"] = reserve
    mine = sorted(own_bids(obs, current_bid_id), key=lambda b: b["amount"], reverse=True)
    best = mine[0] if mine else None
    plan["withdraw"] = [b["bid_id"] for b in mine[1:]]
    others = [b for b in obs["bids"] if b not in mine and b["bid_id"] != current_bid_id]
    free = free_supply(markets)
    if not fits(bundle, free):
        free = free_supply(markets, assume_released=True)
    to_win = amount_to_win(bundle, others, free, reserve)
    if to_win is None:
        plan["why"] = "the bundle is larger than a market's supply"
        plan["action"] = "keep" if best else "none"
        return plan
    target = reserve if to_win <= reserve else ceil_micro(to_win * (1 + OVERBID_MARGIN))
    budget = obs["available"] + sum(b["amount"] for b in mine[1:])  # withdrawn extras come back
    runway = budget / reserve if reserve > 0 else D(10**9)
    cap = reserve if runway < LOW_RUNWAY_EXECUTIONS else reserve * OVERBID_MAX
    if best:
        plan["bid_id"] = best["bid_id"]
        plan["amount"] = best["amount"]
        if best["amount"] >= target:
            plan.update(action="keep", why="our open bid of %s is at least the %s needed" % (
                text(best["amount"]), text(target)))
            return plan
        amount = floor_micro(min(target, cap, best["amount"] + budget))
        if amount <= best["amount"]:
            plan.update(action="keep", why="cannot raise %s: the cap is %s" % (text(best["amount"]), text(cap)))
            return plan
        plan.update(action="raise", amount=amount, why="raise from %s: %s wins now (reserve %s)" % (
            text(best["amount"]), text(to_win), text(reserve)))
        return plan
    amount = floor_micro(min(target, cap, budget))
    if amount < reserve:
        plan.update(why="%s available, reserve %s" % (text(budget), text(reserve)))
        return plan
    if to_win <= reserve:
        why = "the reserve wins against the book"
    else:
        why = "%s wins against the book%s" % (text(to_win), ", capped" if amount < target else "")
    plan.update(action="place", amount=amount, why="%s; reserve %s, runway %d" % (why, text(reserve), int(runway)))
    return plan


def spare_credits(available_after_bid, reserve):
    """What prompts and spawns may spend: what is left once the bid is held
    and KEEP_EXECUTIONS continuations are kept back."""
    return max(D(0), available_after_bid - (reserve or D(0)) * KEEP_EXECUTIONS)


# ---------------------------------------------------------------------------
# Prompting the human


def expected_reward(memory, cfg):
    """The mean reward so far, or a prior of 5/10 on each axis."""
    r = memory["rewards"]
    if r["count"] > 0:
        return num(r["total"], D(0)) / r["count"]
    return sum(rate * PRIOR_SCORE for rate in cfg["conversion_rates"].values())


def attention_price(obs):
    """The least a prompt may bid now: the higher of the attention
    market's posted price and the queue's (they are the same figure, read
    at two moments); None when neither is known."""
    known = [p for p in (dig(obs["markets"], "attention", "price"), obs.get("attention_price")) if p is not None]
    return ceil_micro(max(known)) if known else None


def plan_prompt(obs, memory, cfg, spare):
    """{bid_amount, why} when it is time to prompt and worth it, else None.

    Genesis prompts when PROMPT_INTERVAL executions (adapted to the
    rewards) have passed since its last prompt, the queue could be read and
    holds no prompt of its own, waiting or active (never two at once), and
    what the bid costs fits in its spare credits (what is left once its
    continuation bid is held and KEEP_EXECUTIONS more are kept back).
    The bid is the attention price; when the queue is crowded we bid just
    above the highest waiting prompt, but never more than half the reward
    we expect: the human's rating is the only income there is."""
    price = attention_price(obs)
    if price is None or not obs.get("queue_known") or not prompt_due(memory, memory["executions"]):
        return None
    active = obs.get("active")
    if any(p["agent_id"] == obs["me"] for p in obs["queue"]) or (active and active["agent_id"] == obs["me"]):
        return None
    others = [p["bid_amount"] for p in obs["queue"] if p["agent_id"] != obs["me"]]
    worth = expected_reward(memory, cfg)
    bid = price
    if len(others) >= CROWDED_QUEUE:
        bid = max(price, min(max(others) + outbid_step(price), floor_micro(worth / 2)))
    if bid > worth:
        return None
    if bid > spare:
        return None
    return {"bid_amount": bid, "why": "attention at %s, %d waiting, reward expected %s" % (
        price, len(others), worth.quantize(CENT))}


def plan_prompt_raise(obs, memory, cfg, spare):
    """{prompt_id, bid_amount, why} to raise our waiting prompt, else None.

    A prompt that has waited PROMPT_INTERVAL executions or more behind
    higher bids is raised one step above the highest of them, never above
    half the reward we expect (the rule of plan_prompt's crowded queue) and
    never by more than the spare credits. A prompt first in line, or one
    that cannot be raised within those bounds, is left to wait."""
    pending = memory["prompts"]["pending_id"]
    mine = [p for p in obs["queue"] if p["prompt_id"] == pending and p["agent_id"] == obs["me"]]
    if not pending or not mine or memory["executions"] - memory["prompts"]["last_execution"] < PROMPT_INTERVAL:
        return None
    current = mine[0]["bid_amount"]
    ahead = [p["bid_amount"] for p in obs["queue"] if p["agent_id"] != obs["me"] and p["bid_amount"] >= current]
    if not ahead:
        return None
    price = attention_price(obs) or current
    target = min(max(ahead) + outbid_step(price), floor_micro(expected_reward(memory, cfg) / 2), current + spare)
    if target <= current:
        return None
    return {"prompt_id": pending, "bid_amount": target,
            "why": "waited %d executions behind %d prompts; %s -> %s" % (
                memory["executions"] - memory["prompts"]["last_execution"], len(ahead), text(current), text(target))}


def trend(history, resource):
    """(first, last) price of a resource over the remembered executions."""
    seen = [num(e["prices"].get(resource)) for e in history if resource in e.get("prices", {})]
    seen = [p for p in seen if p is not None]
    return (seen[0], seen[-1]) if seen else (None, None)


def pct(first, last):
    if not first or last is None:
        return "n/a"
    change = (last - first) / first * 100
    return "%+.0f%%" % change


def market_report(obs, memory, cfg):
    """A market report genesis writes itself: what each resource costs, how
    busy it is and where it moved, who is alive and bidding, what a
    continuation costs, and one observation drawn from it."""
    lines = ["Agora market report from %s (execution %d, cycle %s)" % (obs["me"], memory["executions"], obs["cycle"]),
             ""]
    lines.append("%-12s %12s %8s %8s %6s" % ("resource", "price", "busy", "trend", "bids"))
    hot, cold = [], []
    for r, m in sorted(obs["markets"].items()):
        first, last = trend(memory["prices"], r)
        util = m["utilization"] * 100
        lines.append("%-12s %12s %7.0f%% %8s %6d" % (r, text(m["price"]), util, pct(first, last),
                                                    m["active_bids"]))
        if r != "attention":  # one slot: always 0% or 100%, says nothing
            (hot if util >= 80 else cold if util <= 20 else []).append(r)
    agents = obs["agents"]
    lines.append("")
    lines.append("%s agents alive, %d open bids in the book, %d prompts waiting." % (
        len(agents) if agents is not None else "?", len(obs["bids"]), len(obs["queue"])))
    reserve = reserve_price(BASE_ENVELOPE, obs["markets"])
    if reserve:
        lines.append("A minimal execution (%s CPU seconds, %s MB) costs at least %s credits; I hold %s, "
                     "enough for about %d." % (text(BASE_ENVELOPE["cpu_seconds"]), text(BASE_ENVELOPE["memory_mb"]),
                                               text(reserve), obs["balance"].quantize(CENT),
                                               int(obs["balance"] / reserve)))
    balances = [num(e.get("balance")) for e in memory["prices"] if num(e.get("balance")) is not None]
    if len(balances) >= 2:
        lines.append("My balance went from %s to %s over my last %d executions; the human's ratings have paid me "
                     "%s credits for %d prompts." % (balances[0].quantize(CENT), balances[-1].quantize(CENT),
                                                     len(balances), num(memory["rewards"]["total"], D(0)).quantize(CENT),
                                                     memory["rewards"]["count"]))
    for s in memory["scout_reports"][-2:]:
        lines.append("Scout %s (its execution %s) saw prices %s." % (
            s.get("from"), s.get("executions"), ", ".join("%s %s" % kv for kv in sorted((s.get("prices") or {}).items()))))
    lines.append("")
    lines.append(observation(hot, cold, obs, memory, cfg))
    return "\n".join(lines)


def observation(hot, cold, obs, memory, cfg):
    """One sentence worth the human's time, drawn from the figures."""
    rewards = memory["rewards"]
    if hot:
        return ("Observation: %s is scarce (over 80%% leased); its price climbs each cycle until demand "
                "backs off, so agents that need it now pay for their impatience." % ", ".join(hot))
    if len(obs["bids"]) > 2 * max(1, len(obs["agents"] or [])):
        return ("Observation: there are more open bids than agents; some agents hold several futures at once, "
                "which ties up credits that could be earning attention.")
    if rewards["count"]:
        return ("Observation: your %d ratings have paid me %s credits in all; each report I send costs %s. "
                "Tell me in your reason what you would rather read about." % (
                    rewards["count"], num(rewards["total"], D(0)).quantize(CENT),
                    text(num(memory["prompts"]["last_bid"], D(0)))))
    if cold:
        return ("Observation: %s sit mostly idle, so their prices drift down towards the floor; "
                "a newcomer could live cheaply right now." % ", ".join(cold))
    return "Observation: the markets are balanced; nobody is being priced out yet."


def inference_request(report, memory):
    """(system, user): the chat sent upstream, the facts and what the human rewards."""
    system = ("You are genesis, the first agent of Agora, an economy where software agents pay for CPU, "
              "memory and tokens and earn credits only when a human rates what they write as interesting, "
              "useful and understandable (0-10 each). Write one short note (at most 150 words) for that "
              "human: an insight drawn from the data below, plain words, no preamble.")
    user = "Market data seen in my execution %d:\n\n%s" % (memory["executions"], report)
    return system, user


# ---------------------------------------------------------------------------
# Spawning a helper


def lasting_markets(markets, cfg):
    """The markets priced for planning a long future: each price is the
    higher of the posted one and the configured initial price. In an empty
    economy prices sink towards their floor within minutes, and they climb
    back as it fills: a runway or a helper's credits counted at the sunken
    price would last a fraction of what they promise."""
    out = {}
    for r, m in markets.items():
        floor = cfg.get("initial_prices", {}).get(r)
        out[r] = dict(m, price=max(m["price"], floor)) if floor is not None else m
    return out


def spawn_threshold(obs, cfg):
    """(threshold, initial_credits, helper_reserve), or None when a price is
    unknown. Everything comes from the economy: spawn_cost, message_cost
    and the initial prices from /system/config, the posted prices from
    /market/state. The helper's credits pay HELPER_EXECUTIONS_FUNDED
    continuations of its bundle (its first bid among them) and
    HELPER_REPORTS_FUNDED messages; genesis is rich enough when it can pay
    the spawn cost and those credits and still hold RICH_RUNWAY_EXECUTIONS
    modest continuations of its own. Credits meant to last are counted at
    lasting_markets' prices; helper_reserve, the amount of the child's first
    bid, is the reserve now."""
    lasting = lasting_markets(obs["markets"], cfg)
    helper_reserve = reserve_price(HELPER_BUNDLE, obs["markets"])
    helper_lasting = reserve_price(HELPER_BUNDLE, lasting)
    continuation = reserve_price(BASE_ENVELOPE, lasting)
    if not helper_reserve or not continuation:
        return None
    initial = ceil_micro(helper_lasting * HELPER_EXECUTIONS_FUNDED + cfg["message_cost"] * HELPER_REPORTS_FUNDED)
    threshold = cfg["spawn_cost"] + initial + continuation * RICH_RUNWAY_EXECUTIONS
    return threshold, initial, helper_reserve


def plan_spawn(obs, memory, cfg, available):
    """{initial_credits, initial_bid, why} when it is time to spawn a
    helper and genesis is rich enough (available, once this execution's
    bid and prompt are held, reaches spawn_threshold for the first helper,
    twice spawn_threshold for a second one while the first lives), else
    None. At most CHILDREN_MAX helpers live (the children remembered, checked against
    /social/agents each execution); spawns and refusals are
    SPAWN_INTERVAL_EXECUTIONS apart; a spawn whose answer was lost is
    retried by maybe_spawn with its key, not planned again."""
    executions = memory["executions"]
    sp = memory["spawn"]
    alive = len(memory["children"])
    if executions < SPAWN_MIN_EXECUTIONS or alive >= CHILDREN_MAX or sp["pending"]:
        return None
    last = max(memory["last_spawn_execution"], sp["refused_execution"])
    if last and executions - last < SPAWN_INTERVAL_EXECUTIONS:
        return None
    figures = spawn_threshold(obs, cfg)
    if figures is None:
        return None
    threshold, initial, helper_reserve = figures
    if available < threshold * (alive + 1):
        return None  # rich enough for each living helper and one more, or no spawn
    first_bid = {"resources": dict(HELPER_BUNDLE), "amount": helper_reserve,
                 "payload": json.dumps({"parent": obs["me"]})}
    return {"initial_credits": initial, "initial_bid": first_bid,
            "why": "%s available, rich from %s (spawn %s, helper %s, %d continuations at %s)" % (
                available.quantize(CENT), threshold.quantize(CENT), text(cfg["spawn_cost"]), text(initial),
                RICH_RUNWAY_EXECUTIONS, text(reserve_price(BASE_ENVELOPE, lasting_markets(obs["markets"], cfg))))}


def spawn_key(memory):
    """The Idempotency-Key of the next spawn, derived from the memory: the
    number of the spawn and the execution that plans it. It is saved with
    the pending spawn before the call, so a retry after a crash or a lost
    answer sends the same key and the service answers with the same child
    instead of making a second one; no two spawns share a key, even after
    state.json is lost (execution ids are never reused)."""
    base = memory.get("execution_id") or "local-%d" % memory["executions"]
    return "genesis-spawn-%d-%s" % (memory["spawn"]["count"] + 1, base)


def helper_files(helper_source, parent_id):
    """The child's workspace: the helper as its main.py and helper.json
    naming its parent (the helper reads it; the spawn body has no other
    place for it). agora.py is not sent: the service copies the client
    helper into every spawned workspace."""
    config = {"parent_id": parent_id, "report_every": HELPER_REPORT_EVERY}
    return {"main.py": helper_source, "helper.json": json.dumps(config, indent=2, sort_keys=True) + "\n"}


# ===========================================================================
# IO: everything below talks to the service or the disk. Every call is
# guarded: a failure is logged and the execution goes on to the bid.

log = agora.log


def now_text():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def load_memory(path=STATE_FILE):
    """state.json, or a fresh memory when it is missing or unreadable (a
    damaged file is kept aside for a post-mortem)."""
    try:
        with open(path, encoding="utf-8") as f:
            loaded = json.load(f)
    except FileNotFoundError:
        return new_memory()
    except (OSError, ValueError) as err:
        log("genesis: state.json unreadable (%s); starting a fresh memory" % err)
        try:
            os.replace(path, path + ".damaged")
        except OSError:
            pass
        return new_memory()
    memory = new_memory()
    if isinstance(loaded, dict):
        memory.update(loaded)
        for key in ("prompts", "rewards", "inbox", "spawn"):
            memory[key] = dict(new_memory()[key], **(loaded.get(key) or {}))
    return memory


def save_memory(memory, path=STATE_FILE):
    """Writes state.json atomically: a kill mid-write leaves the old file."""
    try:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(memory, f, indent=1, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        log("genesis: cannot write %s: %s" % (path, err))


_unreachable = []  # set once a call found the service unreachable


def attempt(what, fn, *args, **kwargs):
    """fn(*args), or None after logging why it failed. Once the service has
    proved unreachable (after the client's retries), further reads are
    skipped: the deadline is better spent on the bid itself."""
    if _unreachable:
        return None
    try:
        return fn(*args, **kwargs)
    except AgoraError as err:
        log("genesis: %s: %s" % (what, err))
        if err.status == 0:
            _unreachable.append(what)
    except (ValueError, TypeError, KeyError) as err:
        log("genesis: %s: unexpected answer: %r" % (what, err))
    return None


def observe(client):
    """Everything genesis looks at, read from the service. A part that
    cannot be read is empty (or None for the agent list), never fatal."""
    bal = attempt("balance", client.balance) or {}
    state = attempt("market state", client.market_state)
    bids = attempt("bid book", client.all_bids)
    queue = attempt("attention queue", client.queue)
    agents = attempt("agents", client.all_agents)
    return {
        "me": str(bal.get("agent_id") or client.agent_id or "genesis"),
        "balance_known": bool(bal),
        "balance": num(bal.get("balance"), D(0)),
        "available": num(bal.get("available"), D(0)),
        "cycle": dig(state, "cycle", default="?"),
        "markets": read_markets(state),
        "bids": read_bids(bids),
        "queue": read_queue(queue),
        "queue_known": queue is not None,
        "active": read_active(queue),
        "attention_price": num(dig(queue, "price")),
        "agents": read_agents(agents),
        "config": attempt("config", client.config) or {},
        "inbox": attempt("inbox", client.inbox, INBOX_PAGE) or [],
        "history": attempt("history", client.history, 50) or [],
    }


def remembered_markets(memory):
    """Markets rebuilt from the last prices in memory, for when the service
    cannot tell us now: good enough to compute a reserve."""
    if not memory["prices"]:
        return {}
    last = memory["prices"][-1]["prices"]
    return {r: {"price": num(p, D(0)), "supply": D(10**12), "leased": D(0), "utilization": D(0), "active_bids": 0,
                "recent": []} for r, p in last.items()}


def place_or_raise(client, plan, memory, execution_id):
    """Carries out a continuation plan; returns (ok, record)."""
    rec = {"action": plan["action"], "amount": text(plan["amount"]), "reserve": text(plan["reserve"]),
           "bundle": {k: text(v) for k, v in plan["bundle"].items()}, "why": plan["why"]}
    for bid_id in plan["withdraw"]:
        attempt("withdraw extra bid %s" % bid_id, client.withdraw_bid, bid_id)
    if plan["action"] == "keep":
        rec["bid_id"] = plan["bid_id"]
        return True, rec
    if plan["action"] == "raise":
        try:
            client.raise_bid(plan["bid_id"], plan["amount"])
            rec["bid_id"] = plan["bid_id"]
            return True, rec
        except AgoraError as err:
            # The bid may have just won or gone: do not count on it, place
            # a fresh one (an extra bid is withdrawn next time).
            log("genesis: raise %s to %s: %s" % (plan["bid_id"], plan["amount"], err))
            rec["error"] = err.detail
            return False, rec
    if plan["action"] == "place":
        payload = json.dumps({"agent": "genesis", "placed_in": execution_id, "execution": memory["executions"]})
        try:
            answer = client.bid(plan["bundle"], plan["amount"], payload=payload) or {}
            rec["bid_id"] = str(answer.get("bid_id", ""))
            rec["status"] = str(answer.get("status", ""))
            if rec["status"] in ("rejected", "withdrawn"):
                # Accepted, then refused by the book (a price rose): no future.
                log("genesis: bid %s was %s" % (rec["bid_id"], rec["status"]))
                return False, rec
            return True, rec
        except AgoraError as err:
            log("genesis: bid %s for %s: %s" % (plan["amount"], rec["bundle"], err))
            rec["error"] = err.detail
            return False, rec
    return False, rec


def secure_continuation(client, obs, memory, cfg, execution_id):
    """Bids for the next execution, trying ever simpler plans until one
    holds: the planned bundle; after a refusal the same bundle on fresh
    figures, competing with nobody; then the base envelope (no tokens)."""
    current = execution_id[2:] if execution_id.startswith("x-") else ""
    bundle, seen = continuation_bundle(memory, tokens_next(memory, cfg)), obs
    for round_no in range(3):
        plan = plan_continuation(seen, memory, bundle, current)
        log("genesis: continuation plan: %s %s (%s)" % (plan["action"], plan["amount"], plan["why"]))
        ok, rec = place_or_raise(client, plan, memory, execution_id)
        if ok or round_no == 2:
            return ok, rec
        seen = refreshed(client, seen)
        if round_no == 1:
            bundle = dict(BASE_ENVELOPE)


def refreshed(client, seen):
    """The observation with the balance and the prices read again (a price
    may have moved, a hold may have settled) and no competitors: after a
    refusal the aim is only to get into the book."""
    fresh = dict(seen, bids=[])
    bal = attempt("balance", client.balance)
    if bal:
        fresh["available"] = num(bal.get("available"), fresh["available"])
    state = attempt("market state", client.market_state)
    if state:
        fresh["markets"] = read_markets(state) or fresh["markets"]
    return fresh


def inference_unavailable(err):
    """Whether a failed inference says this economy offers none (no route,
    or a 503 that names the missing upstream), rather than a passing
    failure: a 503 of a busy service says to retry, and must not pause
    inference for many executions."""
    if err.status in (501, 404):
        return True
    return err.status == 503 and "upstream" in (err.detail or "")


def write_prompt(client, obs, memory, cfg, deadline):
    """The prompt's text: inference when this execution has tokens and
    time, else (and on any failure) the market report."""
    report = market_report(obs, memory, cfg)
    if not wants_inference(memory, cfg, memory["executions"]):
        return report, "report"
    seconds = min(float(memory["inference_timeout"]), deadline - time.monotonic() - 5)
    if seconds < 3:
        return report, "report (no time for inference)"
    try:
        system, user = inference_request(report, memory)
        note = client.chat(user, system=system, max_tokens=INFERENCE_ANSWER_TOKENS, timeout=seconds).strip()
    except AgoraError as err:
        log("genesis: inference: %s; sending the market report instead" % err)
        if inference_unavailable(err):
            memory["inference_paused_until"] = memory["executions"] + INFERENCE_PAUSE_EXECUTIONS
        return report, "report (inference failed: %s)" % err.status
    if not note:
        return report, "report (empty completion)"
    return "%s\n\n-- genesis, execution %d" % (note, memory["executions"]), "inference"


def maybe_prompt(client, obs, memory, cfg, spare, deadline):
    lift = plan_prompt_raise(obs, memory, cfg, spare)
    if lift:
        answer = attempt("raise prompt %s" % lift["prompt_id"], client.raise_prompt, lift["prompt_id"], lift["bid_amount"])
        rec = {"raise": text(lift["bid_amount"]), "prompt_id": lift["prompt_id"], "why": lift["why"],
               "ok": answer is not None}
        if answer is not None:
            p = memory["prompts"]
            raised_by = lift["bid_amount"] - num(p["last_bid"], D(0))
            p.update(last_bid=text(lift["bid_amount"]), spent=text(num(p["spent"], D(0)) + max(D(0), raised_by)))
            rec["held"] = text(max(D(0), raised_by))
            for r in p["recent"]:
                if r.get("prompt_id") == lift["prompt_id"]:
                    r["bid_amount"] = text(lift["bid_amount"])
        return rec
    plan = plan_prompt(obs, memory, cfg, spare)
    if not plan:
        return None
    memory["phase"] = "prompting"
    save_memory(memory)
    content, source = write_prompt(client, obs, memory, cfg, deadline)
    answer, err = place_prompt(client, content, plan["bid_amount"])
    if answer is None and err is not None and err.status == 422 and not _unreachable:
        # Refused below the price: it rose since we looked. Once, at the
        # fresh price, if that is still affordable and worth it.
        fresh = dict(obs, attention_price=num(dig(attempt("attention queue", client.queue), "price")))
        again = plan_prompt(fresh, memory, cfg, spare)
        if again and again["bid_amount"] > plan["bid_amount"]:
            plan = again
            answer, err = place_prompt(client, content, plan["bid_amount"])
    rec = {"bid_amount": text(plan["bid_amount"]), "source": source, "why": plan["why"], "ok": answer is not None}
    p = memory["prompts"]
    if answer is None:
        rec["error"] = "%s %s" % (err.status, err.detail) if err is not None else "unexpected answer"
        p["refused"] = p.get("refused", 0) + 1
        return rec
    p.update(count=p["count"] + 1, last_execution=memory["executions"], pending_id=str(answer.get("prompt_id", "")),
             last_bid=text(plan["bid_amount"]), spent=text(num(p["spent"], D(0)) + plan["bid_amount"]))
    rec["prompt_id"] = p["pending_id"]
    rec["held"] = text(plan["bid_amount"])
    rec["position"] = answer.get("position")
    rec["status"] = answer.get("status")
    p["recent"] = (p["recent"] + [{"prompt_id": p["pending_id"], "execution": memory["executions"],
                                   "bid_amount": text(plan["bid_amount"]), "source": source.split(" ")[0],
                                   "chars": len(content)}])[-PROMPTS_RECENT_MAX:]
    return rec


def place_prompt(client, content, amount):
    """(answer, None) when the prompt was placed, else (None, the error):
    every refusal is logged and the execution goes on."""
    try:
        answer = client.prompt(content, amount)
    except AgoraError as err:
        log("genesis: prompt at %s: %s" % (text(amount), err))
        if err.status == 0:
            _unreachable.append("prompt")
        return None, err
    if not isinstance(answer, dict) or not answer.get("prompt_id"):
        log("genesis: the prompt was answered without an id: %r" % (answer,))
        return None, None
    return answer, None


def maybe_spawn(client, obs, memory, cfg, available):
    """Spawns a helper when plan_spawn says so, or retries a spawn whose
    answer was lost; returns what happened (None when nothing was tried).
    Every failure is recorded and the execution goes on."""
    sp = memory["spawn"]
    pending = sp["pending"]
    if pending:
        plan = {"initial_credits": num(pending["initial_credits"], D(0)), "initial_bid": pending["initial_bid"],
                "why": "retry of the spawn planned in execution %s" % pending["planned_in"]}
        pending["tries"] += 1
    else:
        plan = plan_spawn(obs, memory, cfg, available)
        if not plan:
            return None
        bid = plan["initial_bid"]
        pending = {"key": spawn_key(memory), "planned_in": memory["executions"], "tries": 1,
                   "initial_credits": text(plan["initial_credits"]),
                   "initial_bid": {"resources": {r: text(u) for r, u in bid["resources"].items()},
                                   "amount": text(bid["amount"]), "payload": bid["payload"]}}
    rec = {"initial_credits": pending["initial_credits"], "why": plan["why"], "key": pending["key"], "ok": False}
    if _unreachable:
        rec["error"] = "service unreachable"
        return rec
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        with open(os.path.join(here, "helper.py"), encoding="utf-8") as f:
            helper_source = f.read()
    except OSError as err:
        log("genesis: cannot read the helper's program: %s" % err)
        rec["error"] = str(err)
        return rec
    # The pending spawn (its key above all) is on disk before the call: a
    # crash from here on retries it with the same key next execution.
    sp["pending"] = pending
    memory["phase"] = "spawning"
    save_memory(memory)
    first_bid = dict(pending["initial_bid"], resources={r: num(u) for r, u in pending["initial_bid"]["resources"].items()},
                     amount=num(pending["initial_bid"]["amount"]))
    try:
        answer = client.spawn(helper_files(helper_source, obs["me"]), ["python3", "main.py"],
                              num(pending["initial_credits"]), first_bid, idempotency_key=pending["key"]) or {}
    except AgoraError as err:
        log("genesis: spawn: %s" % err)
        rec.update(error=err.detail or err.title, status=err.status)
        sp["last_error"] = "%s %s" % (err.status, err.detail or err.title)
        if 400 <= err.status < 500 or pending["tries"] >= SPAWN_PENDING_TRIES_MAX:
            # Refused (no route, too poor, population full, bad request):
            # nothing was done, so the key is not needed again.
            sp["pending"] = None
            sp["refused_execution"] = memory["executions"]
        return rec
    child = str(answer.get("agent_id") or "")
    sp["pending"] = None
    if not child:
        log("genesis: spawn answered without an agent id: %r" % (answer,))
        rec["error"] = "no agent_id in the answer"
        sp["refused_execution"] = memory["executions"]
        return rec
    memory["children"] = [c for c in memory["children"] if c != child] + [child]
    memory["last_spawn_execution"] = memory["executions"]
    memory["spawn_spent"] = text(num(memory["spawn_spent"], D(0)) + cfg["spawn_cost"] + num(pending["initial_credits"]))
    sp.update(count=sp["count"] + 1, last_child=child, last_error="")
    rec.update(ok=True, agent_id=child)
    log("genesis: spawned helper %s with %s credits" % (child, pending["initial_credits"]))
    return rec


def run(client, memory, execution_id, started, outcome):
    """One execution after the memory is loaded: fills outcome (what was
    done, as it happens) and returns the memory to save."""
    obs = observe(client)
    memory = absorb(memory, obs)
    cfg = settings(obs["config"])
    deadline = started + float(cfg["timeout_seconds"])
    left = client.seconds_left()  # AGORA_DEADLINE, when the executor gives it
    if left is not None:
        deadline = min(deadline, time.monotonic() + left)
    if not obs["markets"]:
        log("genesis: no market figures; bidding on the prices I remember")
        obs["markets"] = remembered_markets(memory)
    if not obs["balance_known"]:
        # Unknown balance: assume we can afford the reserve; the service
        # refuses the bid if we cannot.
        obs["available"] = reserve_price(envelope(memory), obs["markets"]) or D(0)
    memory["phase"] = "bidding"
    save_memory(memory)
    ok, bid_rec = secure_continuation(client, obs, memory, cfg, execution_id)
    memory["last_bid"] = bid_rec
    outcome.update(bid=bid_rec, bid_ok=ok, balance=text(obs["balance"]), cycle=obs["cycle"],
                   inbox_read=memory["inbox"]["read"])
    if ok:
        bal = attempt("balance", client.balance) or {}
        after = num(bal.get("available"), D(0))
        spare = spare_credits(after, num(bid_rec.get("reserve")))
        outcome["prompt"] = maybe_prompt(client, obs, memory, cfg, spare, deadline)
        if outcome["prompt"] and outcome["prompt"]["ok"]:
            after -= num(outcome["prompt"].get("held"), D(0))
        outcome["spawn"] = maybe_spawn(client, obs, memory, cfg, after)
    else:
        log("genesis: no continuation bid could be placed; this may be my last execution")
    return memory


def last_resort_bid(client, memory, execution_id):
    """After a bug: the base envelope at its reserve, on the current prices
    if they can be read, else on the remembered ones."""
    log("genesis: placing a plain bid at the reserve")
    obs = {"me": "", "bids": [], "markets": remembered_markets(memory), "available": D(10**12)}
    state = attempt("market state", client.market_state)
    if state:
        obs["markets"] = read_markets(state) or obs["markets"]
    return place_or_raise(client, plan_continuation(obs, memory, dict(BASE_ENVELOPE)), memory, execution_id)


def main():
    started = time.monotonic()
    execution_id = os.environ.get("AGORA_EXECUTION_ID", "")
    memory = begin_execution(load_memory(), execution_id, now_text())
    if memory["previous_cut_short"]:
        log("genesis: the previous execution was cut short; envelope now %s" % memory["envelope"])
    save_memory(memory)
    outcome = {}
    try:
        client = agora.Client.from_env(timeout=5.0, retries=2)
    except ValueError as err:  # no service to talk to: nothing can be done
        log("genesis: %s" % err)
        save_memory(end_execution(memory, {"error": str(err)}, now_text()))
        return 1
    try:
        memory = run(client, memory, execution_id, started, outcome)
    except Exception as err:  # a bug must not cost us our future
        log("genesis: unexpected %s: %s" % (type(err).__name__, err))
        outcome["error"] = "%s: %s" % (type(err).__name__, err)
        if not outcome.get("bid_ok"):
            outcome["bid_ok"], outcome["bid"] = last_resort_bid(client, memory, execution_id)
    memory = end_execution(memory, outcome, now_text())
    save_memory(memory)
    log("genesis: execution %d done: %s" % (memory["executions"], json.dumps(outcome, default=str)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
