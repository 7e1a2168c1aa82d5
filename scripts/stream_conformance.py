#!/usr/bin/env python3
"""Checks a live node's WebSocket streams against docs/asyncapi.yaml, and what schemathesis
rarely or never reaches against docs/openapi.json: the streams' refusals (which come only once the
upgrade headers are right), the receipts of real txs (`GET /v1/tx/{hash}` for the hashes a
`txs=true` stream names), real blocks, and every account with its proof and owner key.

Usage: stream_conformance.py BASE_URL [SECONDS]   (e.g. http://127.0.0.1:8080 8)

Prints each violation (message, schema path, rule) and exits 1 if there was any. Needs
`websocket-client`, `pyyaml`, `jsonschema` and `referencing` (scripts/schemathesis installs them).
"""
import http.client
import json
import pathlib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema
import referencing
import websocket
import yaml

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
OPENAPI_URI = (DOCS / "openapi.json").as_uri()
ASYNCAPI_URI = (DOCS / "asyncapi.yaml").as_uri()

failures = []
PRINTED_PER_STREAM = 5
printed = {}


def fail(what, detail):
    """Records a violation; prints the first few of each stream (the count is printed at the end)."""
    failures.append(f"{what}: {detail}")
    key = what.split(" message ")[0]
    printed[key] = printed.get(key, 0) + 1
    if printed[key] <= PRINTED_PER_STREAM:
        print(f"FAIL {what}: {detail[:700]}", flush=True)
    elif printed[key] == PRINTED_PER_STREAM + 1:
        print(f"FAIL {key}: … (further failures of this stream counted, not printed)", flush=True)


def registry():
    openapi = json.loads((DOCS / "openapi.json").read_text())
    asyncapi = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    spec = referencing.jsonschema.DRAFT202012
    return referencing.Registry().with_resources([
        (OPENAPI_URI, spec.create_resource(openapi)),
        (ASYNCAPI_URI, spec.create_resource(asyncapi)),
    ])


REGISTRY = registry()


def check(what, value, uri, pointer):
    """Validates `value` against the schema at `uri#pointer`."""
    schema = {"$ref": f"{uri}#{pointer}"}
    validator = jsonschema.Draft202012Validator(schema, registry=REGISTRY)
    errors = list(validator.iter_errors(value))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        fail(what, f"{best.message} at {'/'.join(map(str, best.absolute_path)) or '(root)'} "
                   f"(schema {pointer}); value: {json.dumps(value)[:600]}")
        return False
    return True


def get_json(base, path):
    with urllib.request.urlopen(base + path, timeout=10) as answer:
        return json.load(answer)


def ws_url(base, path):
    return "ws" + base[len("http"):] + path


def collect(base, path, seconds, stop_after=None):
    """Every text message a stream sends within `seconds` (or until `stop_after` of them)."""
    sock = websocket.create_connection(ws_url(base, path), timeout=seconds)
    messages, deadline = [], time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and (stop_after is None or len(messages) < stop_after):
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                messages.append(json.loads(sock.recv()))
            except websocket.WebSocketTimeoutException:
                break
    finally:
        sock.close()
    return messages


STREAM_SCHEMAS = {"block": "BlockMessage", "trade": "TradeMessage", "event": "EventMessage"}


def check_stream(base, query, seconds, account=None):
    """`/v1/stream`: shapes, and the order rules (block first per height, no gaps)."""
    what = f"/v1/stream?{query}"
    messages = collect(base, f"/v1/stream?{query}", seconds)
    if not messages:
        fail(what, "no message at all")
        return []
    height, hashes, seen = None, [], {"block": 0, "trade": 0, "event": 0}
    for i, m in enumerate(messages):
        kind = m.get("type") if isinstance(m, dict) else None
        if kind not in STREAM_SCHEMAS:
            fail(what, f"message {i} has an unknown type: {json.dumps(m)[:300]}")
            continue
        seen[kind] += 1
        check(f"{what} message {i}", m, ASYNCAPI_URI, f"/components/schemas/{STREAM_SCHEMAS[kind]}")
        if kind == "block":
            if height is not None and m["height"] != height + 1:
                fail(what, f"block {m['height']} follows block {height}: heights must not gap")
            height = m["height"]
            hashes.extend(m.get("tx_hashes", []))
            if "txs=true" in query and len(m.get("tx_hashes", [])) != m["txs"]:
                fail(what, f"block {height}: txs {m['txs']} but {len(m.get('tx_hashes', []))} hashes")
        else:
            if height is None or m["height"] != height:
                fail(what, f"message {i} ({kind}) at height {m['height']} is not after its block")
            if account is not None and kind == "trade" and account not in (m["maker"], m["taker"]):
                fail(what, f"trade of accounts {m['maker']}/{m['taker']} on an account stream")
    if not printed.get(what):
        print(f"ok   {what}: {len(messages)} messages {seen}", flush=True)
    return hashes


BOOK_SCHEMAS = {("snapshot", 2): "SnapshotL2", ("snapshot", 3): "SnapshotL3",
                ("update", 2): "UpdateL2", ("update", 3): "UpdateL3",
                ("resync", None): "ResyncMessage", ("closed", None): "ClosedMessage"}


def check_book(base, symbol, level, seconds, since=None):
    """`/v1/stream/markets/{symbol}`: shapes, and the sequence rules."""
    query = f"level={level}" + (f"&since={since}" if since is not None else "")
    what = f"/v1/stream/markets/{symbol}?{query}"
    messages = collect(base, f"/v1/stream/markets/{urllib.parse.quote(symbol)}?{query}", seconds)
    if not messages:
        fail(what, "no message at all")
        return None
    last, last_height, previous = since, None, None
    for i, m in enumerate(messages):
        kind = m.get("type")
        key = (kind, m.get("level")) if kind in ("snapshot", "update") else (kind, None)
        if key not in BOOK_SCHEMAS:
            fail(what, f"message {i}: unknown type/level: {json.dumps(m)[:300]}")
            continue
        check(f"{what} message {i}", m, ASYNCAPI_URI, f"/components/schemas/{BOOK_SCHEMAS[key]}")
        if kind == "snapshot":
            if m.get("market") != symbol:
                fail(what, f"snapshot of {m.get('market')!r}")
            last, last_height = m["seq"], m["height"]
        elif kind == "update":
            if last is None:
                fail(what, "an update before any snapshot (and without since)")
            elif m["seq"] != last + 1:
                fail(what, f"message {i}: update seq {m['seq']} (height {m['height']}) after seq "
                           f"{last}: must be exactly one more")
            if last_height is not None and m["height"] <= last_height:
                fail(what, f"message {i}: update for height {m['height']} after height "
                           f"{last_height}: one update per commit, heights increasing")
            last, last_height = m["seq"], m["height"]
        elif kind == "resync":
            if i + 1 >= len(messages) or messages[i + 1].get("type") != "snapshot":
                fail(what, f"message {i}: resync not followed by a snapshot")
            if previous == "snapshot":
                # One commit adds at most one update per market: a client that just took a
                # snapshot cannot be 512 updates behind.
                fail(what, f"message {i}: resync right after a snapshot (seq {last}): a client at "
                           "the head cannot have fallen behind the 512 kept updates")
        previous = kind
    if since is None and messages[0].get("type") != "snapshot":
        fail(what, f"first message is {messages[0].get('type')!r}, not a snapshot")
    if not printed.get(what):
        print(f"ok   {what}: {len(messages)} messages, seq now {last}", flush=True)
    return messages


def upgrade_refusal(base, path, status, code):
    """A stream request with correct upgrade headers that the node must refuse as `status code`
    with the JSON error the OpenAPI document lists."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", path, headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    what = f"upgrade GET {path}"
    if answer.status != status:
        fail(what, f"answered {answer.status} {body[:200]!r}, expected {status} {code}")
        return
    if not (answer.getheader("content-type") or "").startswith("application/json"):
        fail(what, f"content-type {answer.getheader('content-type')!r}, expected application/json")
        return
    error = json.loads(body)
    operation = "stream" if path.startswith("/v1/stream?") else "streamBook"
    route = "/v1/stream" if operation == "stream" else "/v1/stream/markets/{symbol}"
    pointer = f"/paths/{route.replace('/', '~1')}/get/responses/{status}/content/application~1json/schema"
    check(what, error, OPENAPI_URI, pointer)
    if error.get("code") != code:
        fail(what, f"code {error.get('code')!r}, expected {code!r}")
    else:
        print(f"ok   {what}: {status} {code}", flush=True)


def main():
    base = sys.argv[1].rstrip("/")
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
    status = get_json(base, "/v1/status")
    head = status["height"]
    markets = get_json(base, "/v1/markets")
    members = {m["account"] for m in get_json(base, "/v1/clearing")["members"]}
    traders = []
    for market in markets:
        for trade in get_json(base, f"/v1/markets/{urllib.parse.quote(market['symbol'])}/trades")["trades"]:
            traders += [a for a in (trade["maker"], trade["taker"]) if a not in members]
    account = traders[-1] if traders else 2

    # Replayed from the store (from_height) and then live, with tx hashes and one account's events.
    hashes = check_stream(base, f"txs=true&account={account}&from_height={max(1, head - 20)}",
                          seconds, account)
    check_stream(base, "", min(seconds, 4.0))

    # Real receipts against the OpenAPI document's TxStatus (schemathesis only sees 404 there).
    for h in hashes[:40]:
        check(f"GET /v1/tx/{h}", get_json(base, f"/v1/tx/{h}"), OPENAPI_URI,
              "/components/schemas/TxStatus")
    print(f"ok   GET /v1/tx/{{hash}}: {min(len(hashes), 40)} receipts checked", flush=True)

    for market in markets:
        symbol = market["symbol"]
        for level in (2, 3):
            messages = check_book(base, symbol, level, seconds / 2)
            seqs = [m["seq"] for m in messages or [] if m.get("type") in ("snapshot", "update")]
            if seqs:
                # Resume a few updates back: every update after `since`, or a snapshot.
                check_book(base, symbol, level, 2.0, since=max(0, seqs[-1] - 3))

    # Reads whose interesting answers random inputs rarely hit: every block of the devnet's setup
    # (registrations, deposits, guaranty, indexes) and the latest ones, every account and its
    # owner key.
    for height in sorted(set(range(1, min(head, 40) + 1)) | set(range(max(1, head - 20), head + 1))):
        check(f"GET /v1/blocks/{height}", get_json(base, f"/v1/blocks/{height}"), OPENAPI_URI,
              "/components/schemas/BlockAnswer")
    accounts = 0
    for account_id in range(1, 50):
        try:
            account_json = get_json(base, f"/v1/accounts/{account_id}?prove=true")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                break
            raise
        accounts += 1
        check(f"GET /v1/accounts/{account_id}?prove=true", account_json, OPENAPI_URI,
              "/components/schemas/Account")
        owner = account_json["owner"]
        check(f"GET /v1/keys/{owner}", get_json(base, f"/v1/keys/{owner}"), OPENAPI_URI,
              "/components/schemas/KeyGrant")
    print(f"ok   reads: blocks 1–{min(head, 40)} and {max(1, head - 20)}–{head}, {accounts} "
          "accounts with proofs and keys checked", flush=True)

    # The refusals that need a real upgrade request to reach the handler.
    symbol = markets[0]["symbol"] if markets else "NONE"
    upgrade_refusal(base, "/v1/stream?from_height=0", 400, "from_height_too_old")
    upgrade_refusal(base, f"/v1/stream/markets/{symbol}?level=4", 400, "bad_query")
    upgrade_refusal(base, "/v1/stream/markets/NO-SUCH-MARKET", 404, "market_unknown")

    if failures:
        print(f"\n{len(failures)} stream conformance failures "
              f"({', '.join(f'{k}: {n}' for k, n in printed.items())})", flush=True)
        return 1
    print("stream conformance: all messages match docs/asyncapi.yaml", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except urllib.error.HTTPError as e:
        print(f"FAIL GET {e.url} answered {e.code}: {e.read()[:300]!r}", flush=True)
        sys.exit(1)
    except (OSError, urllib.error.URLError, websocket.WebSocketException) as e:
        print(f"FAIL the node stopped answering: {e}", flush=True)
        sys.exit(1)
