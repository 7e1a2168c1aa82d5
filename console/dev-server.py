#!/usr/bin/env python3
"""dev-server.py — serve the console from the source tree against a running node (development only).

What it promises:

- `/` answers console/index.html and `/console/<file>` the top-level web files of console/ (as
  the node serves them from its binary: no subdirectories), read afresh on every request so
  edits show on reload;
- `/v1/...` and `/metrics` are proxied to `--node` (HTTP, any method), WebSocket upgrades
  (`/v1/stream...`) are tunnelled to it byte for byte, so the page runs same-origin as it will
  inside the node;
- `--member URL` (repeatable) lists other member nodes: they are reachable through this server
  at `/_node/<i>/...` (so the browser needs no CORS from them) and `GET /v1/console` answers
  `{"nodes": [those URLs]}` instead of the node's own list (without `--member`, the node's
  `/v1/console` answers, and the page polls the URLs it lists directly, with CORS);
- `--synthetic-book SYMBOL:RATE` answers `/v1/stream/markets/SYMBOL` itself with a synthetic
  level-2 feed of RATE updates per second that follows the node's rules (snapshot, seq + 1
  updates, `since=` resume from the last 512, `resync` + snapshot for a client too slow), for
  measuring the ladder at 5,000 updates/s; `--synthetic-gap-every N` drops one update in N on
  each connection so the page's gap recovery runs;
- stdlib only; binds 127.0.0.1.

Usage: python3 console/dev-server.py --node http://127.0.0.1:8080 [--port 8700]
       [--member http://127.0.0.1:8081 ...] [--synthetic-book H100-HR-DEC26:5000]
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import http.client
import json
import mimetypes
import random
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"}


class Synthetic:
    """A book that changes RATE times a second, numbered like the node's feed."""

    KEEP = 512

    def __init__(self, symbol: str, rate: int):
        self.symbol, self.rate = symbol, rate
        self.lock = threading.Condition()
        self.seq, self.height = 0, 1
        self.bids = {1000 - i: random.randint(1, 50) for i in range(1, 301)}
        self.asks = {1000 + i: random.randint(1, 50) for i in range(0, 300)}
        self.recent: collections.deque = collections.deque(maxlen=self.KEEP)
        threading.Thread(target=self.run, daemon=True).start()

    @staticmethod
    def level(price: int, qty: int) -> dict:
        return {"price": str(price), "price_usd": None, "qty": str(qty), "orders": 1 if qty else 0}

    def snapshot(self) -> str:
        bids = sorted(self.bids.items(), reverse=True)[:1000]
        asks = sorted(self.asks.items())[:1000]
        return json.dumps({"type": "snapshot", "market": self.symbol, "level": 2, "height": self.height,
                           "seq": self.seq, "bids": [self.level(p, q) for p, q in bids],
                           "asks": [self.level(p, q) for p, q in asks]})

    def step(self) -> None:
        side, book = random.choice((("bids", self.bids), ("asks", self.asks)))
        price = (1000 - random.randint(1, 320)) if side == "bids" else (1000 + random.randint(0, 319))
        qty = 0 if random.random() < 0.3 else random.randint(1, 60)
        if qty:
            book[price] = qty
        else:
            book.pop(price, None)
        self.seq += 1
        self.height += 1
        trades = []
        if random.random() < 0.05:
            trades = [{"height": self.height, "market": 1, "price": str(price), "price_usd": None,
                       "qty": "1", "taker_side": random.choice(("buy", "sell")), "maker": 5,
                       "taker": 6, "maker_order": self.seq, "taker_order": self.seq + 1}]
        update = {"type": "update", "market": self.symbol, "level": 2, "height": self.height,
                  "seq": self.seq, "trades": trades, "bids": [], "asks": []}
        update[side] = [self.level(price, qty)]
        self.recent.append((self.seq, json.dumps(update)))

    def run(self) -> None:
        start, done = time.monotonic(), 0
        while True:
            due = int((time.monotonic() - start) * self.rate)
            with self.lock:
                while done < due:
                    self.step()
                    done += 1
                self.lock.notify_all()
            time.sleep(0.002)

    def since(self, last: int):
        """Updates after `last`, or None when some are gone."""
        if last >= self.seq:
            return []
        if not self.recent or last + 1 < self.recent[0][0]:
            return None
        return [text for seq, text in self.recent if seq > last]


def ws_frame(text: str) -> bytes:
    data = text.encode()
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 127, n)
    return head + data


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tokenbook-console-dev"

    def log_message(self, fmt, *args):  # quiet: one line per error only
        if args and str(args[1] if len(args) > 1 else "").startswith(("4", "5")):
            super().log_message(fmt, *args)

    # ---- routing
    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def route(self):
        path = urllib.parse.urlsplit(self.path).path
        cfg = self.server.cfg
        if path in ("/", "/index.html"):
            return self.file(ROOT / "index.html")
        if path.startswith("/console/"):
            name = path[len("/console/"):]
            target = (ROOT / name).resolve()
            # Like the node: only the top level of console/ is served.
            if "/" not in name and target.parent == ROOT and target.is_file() and target.suffix in (".js", ".css", ".html", ".svg", ".png"):
                return self.file(target)
            return self.send_json(404, {"code": "route_unknown", "message": path})
        if path == "/v1/console" and cfg.member:
            host = self.headers.get("Host", f"127.0.0.1:{self.server.server_port}")
            return self.send_json(200, {"nodes": [f"http://{host}/_node/{i}" for i in range(len(cfg.member))]})
        if path.startswith("/_node/"):
            _, _, index, *rest = path.split("/", 3)
            try:
                upstream = cfg.member[int(index)]
            except (ValueError, IndexError):
                return self.send_json(404, {"code": "route_unknown", "message": path})
            query = urllib.parse.urlsplit(self.path).query
            return self.proxy(upstream, "/" + (rest[0] if rest else "") + (f"?{query}" if query else ""))
        synthetic = cfg.synthetic
        if synthetic and path == f"/v1/stream/markets/{synthetic.symbol}":
            return self.serve_synthetic(synthetic)
        if path.startswith("/v1/") or path == "/metrics":
            return self.proxy(cfg.node, self.path)
        return self.send_json(404, {"code": "route_unknown", "message": path})

    # ---- answers
    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(data)

    def file(self, path: Path):
        data = path.read_bytes()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix in (".js", ".mjs"):
            kind = "text/javascript"
        self.send_response(200)
        self.send_header("Content-Type", f"{kind}; charset=utf-8" if kind.startswith("text") else kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def proxy(self, upstream: str, path: str):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.tunnel(upstream, path)
        url = urllib.parse.urlsplit(upstream)
        body = None
        if self.command == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=15)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
            conn.request(self.command, path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        except OSError as e:
            return self.send_json(502, {"code": "unreachable", "message": f"{upstream}: {e}"})
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    def tunnel(self, upstream: str, path: str):
        """Pass a WebSocket upgrade to the node and pipe bytes both ways until either side closes."""
        url = urllib.parse.urlsplit(upstream)
        try:
            remote = socket.create_connection((url.hostname, url.port or 80), timeout=10)
        except OSError as e:
            return self.send_json(502, {"code": "unreachable", "message": f"{upstream}: {e}"})
        remote.settimeout(None)
        head = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}"]
        head += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() != "host"]
        remote.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        client = self.connection
        client.settimeout(None)

        def pipe(src, dst):
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        other = threading.Thread(target=pipe, args=(remote, client), daemon=True)
        other.start()
        pipe(client, remote)
        other.join()
        remote.close()
        self.close_connection = True

    def serve_synthetic(self, book: Synthetic):
        key = self.headers.get("Sec-WebSocket-Key")
        if not key:
            return self.send_json(400, {"code": "bad_request", "message": "not a WebSocket upgrade"})
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        gap_every = self.server.cfg.synthetic_gap_every
        sock = self.connection
        sent = 0
        try:
            with book.lock:
                since = int(query["since"][0]) if "since" in query else None
                backlog = book.since(since) if since is not None else None
                if backlog is None:
                    first, last = [book.snapshot()], book.seq
                else:
                    first, last = backlog, book.seq
            sock.sendall(b"".join(ws_frame(t) for t in first))
            while True:
                with book.lock:
                    book.lock.wait(0.05)
                    pending = book.since(last)
                    if pending is None:
                        out, last = [json.dumps({"type": "resync", "reason": "fell behind the kept updates"}), book.snapshot()], book.seq
                    else:
                        out, last = pending, book.seq
                frames = []
                for text in out:
                    sent += 1
                    if gap_every and sent % gap_every == 0 and '"update"' in text[:20]:
                        continue  # lose this one: the page must see the gap and resume
                    frames.append(ws_frame(text))
                if frames:
                    sock.sendall(b"".join(frames))
        except OSError:
            return


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--node", required=True, help="the node whose API the page reads, e.g. http://127.0.0.1:8080")
    p.add_argument("--member", action="append", default=[], help="another member node's API URL (repeatable)")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--synthetic-book", help="SYMBOL:RATE — serve that market's book feed synthetically")
    p.add_argument("--synthetic-gap-every", type=int, default=0, help="drop one synthetic update in N")
    cfg = p.parse_args()
    cfg.node = cfg.node.rstrip("/")
    cfg.member = [m.rstrip("/") for m in cfg.member]
    cfg.synthetic = None
    if cfg.synthetic_book:
        symbol, rate = cfg.synthetic_book.split(":")
        cfg.synthetic = Synthetic(symbol, int(rate))
    server = ThreadingHTTPServer(("127.0.0.1", cfg.port), Handler)
    server.daemon_threads = True
    server.cfg = cfg
    print(f"console: http://127.0.0.1:{cfg.port}/  (API {cfg.node}; members {cfg.member or 'none'})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
