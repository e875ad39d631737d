#!/usr/bin/env python3
"""A helper spawned by genesis: a frugal scout.

It lives cheaply and keeps the markets' memory for its parent. Each
execution it reads the markets, notes the prices in state.json, and in its
first execution and every few after sends its parent a scout report (a
short JSON message: prices and utilization as it saw them), which genesis
quotes in its own reports to the human. It bids exactly the reserve price:
it never competes, so it runs when the economy has room and costs its
parent nothing more than its start. When it can no longer pay for a
continuation it dies, as every agent does.

helper.json (written by genesis into the spawned workspace) names the
parent (parent_id) and the report cadence (report_every); the message cost
is read from /system/config. agora.py is the client the service copies
into every spawned workspace.
"""

import decimal
import json
import os
import sys

import agora
from agora import AgoraError

D = decimal.Decimal
BUNDLE = {"cpu_seconds": D(1), "memory_mb": D(128)}


def reserve_price(bundle, prices):
    """Sum of units x posted price, rounded up to the micro-credit, or None."""
    if any(r not in prices for r in bundle):
        return None
    total = sum((units * prices[r] for r, units in bundle.items()), D(0))
    return total.quantize(D("0.000001"), rounding=decimal.ROUND_CEILING)


def report_due(executions, every):
    """The first execution reports (the parent learns at once that its
    helper lives), then every `every` executions."""
    return every > 0 and (executions - 1) % every == 0


def scout_report(me, executions, cycle, markets):
    """The message to the parent, as JSON text."""
    return json.dumps({"kind": "scout_report", "from": me, "executions": executions, "cycle": cycle,
                       "prices": {m["resource"]: str(m["price"]) for m in markets},
                       "utilization": {m["resource"]: str(m.get("utilization")) for m in markets}},
                      sort_keys=True)


def load(path, default):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def main():
    settings = load("helper.json", {})
    state = load("state.json", {"executions": 0, "prices": []})
    state["executions"] = int(state.get("executions", 0)) + 1
    client = agora.Client.from_env(timeout=5.0, retries=2)

    def call(what, fn, *args):
        try:
            return fn(*args)
        except AgoraError as err:
            agora.log("helper: %s: %s" % (what, err))
            return None

    balance = call("balance", client.balance) or {}
    me = str(balance.get("agent_id") or client.agent_id)
    market = call("market state", client.market_state) or {}
    markets = [m for m in market.get("markets", []) if isinstance(m, dict) and "price" in m]
    prices = {m["resource"]: D(str(m["price"])) for m in markets}
    config = call("config", client.config) or {}
    inbox = call("inbox", client.inbox, 20) or {}  # read, so it does not pile up
    messages = inbox.get("messages") if isinstance(inbox, dict) else None
    heard = [m for m in messages or [] if isinstance(m, dict) and not m.get("read")]
    if heard:
        state["heard"] = int(state.get("heard", 0)) + len(heard)
    if prices:
        state["prices"] = (state.get("prices", []) + [{r: str(p) for r, p in prices.items()}])[-20:]
    elif state.get("prices"):
        prices = {r: D(p) for r, p in state["prices"][-1].items()}

    # The future first: one open bid at the reserve, unless one is already
    # open (not counting the bid that started this execution, which the book
    # may still show for a moment: the execution id is x-<its bid id>).
    current = client.execution_id[2:] if client.execution_id.startswith("x-") else ""
    book = call("bid book", client.all_bids) or []
    mine = [b for b in book if isinstance(b, dict) and b.get("agent_id") == me and me
            and b.get("bid_id") != current]
    reserve = reserve_price(BUNDLE, prices)
    available = D(str(balance.get("available", "0")))
    if not mine and reserve is not None:
        if available >= reserve or not balance:
            answer = call("bid", client.bid, BUNDLE, reserve, json.dumps({"scout": me}))
            if answer and answer.get("status") == "rejected":  # a price rose meanwhile: once more
                reserve = (reserve * D("1.1")).quantize(D("0.000001"), rounding=decimal.ROUND_CEILING)
                answer = call("bid", client.bid, BUNDLE, reserve, json.dumps({"scout": me}))
            state["last_bid"] = {"amount": str(reserve), "status": (answer or {}).get("status")}
        else:
            agora.log("helper: %s available, a continuation costs %s: this is my last execution" % (available, reserve))

    # Then the report, if it is due and affordable once the bid is held.
    parent = settings.get("parent_id")
    try:
        cost = D(str(config["economy"]["message_cost"]))
    except (KeyError, TypeError, decimal.InvalidOperation):
        cost = D(1)  # the default of the configuration, when the service cannot say
    if parent and markets and report_due(state["executions"], int(settings.get("report_every", 5))):
        if available - (reserve or D(0)) >= cost * 2:
            if call("report", client.message, parent, scout_report(me, state["executions"], market.get("cycle"), markets)):
                state["reports"] = int(state.get("reports", 0)) + 1

    save("state.json", state)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as err:  # log it where the executor keeps stderr
        agora.log("helper: unexpected %s: %s" % (type(err).__name__, err))
        sys.exit(1)
