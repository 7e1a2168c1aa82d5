"""The node's WebSocket streams: a local level-2 book, and the block/trade/account stream.

Promises:

- :class:`L2Book` applies the messages of ``/v1/stream/markets/{symbol}?level=2`` exactly as
  docs/api.md specifies: a ``snapshot`` replaces the book; an ``update`` applies only when its
  ``seq`` is one more than the last applied (a level with ``qty`` "0" is removed, any other
  replaces the level); an older ``seq`` is a duplicate and is ignored; a larger one is a gap. An
  update whose ``height`` is not above the book's is refused with :class:`StreamError` — the node
  contradicts itself and no book built from it could be right.
- :class:`BookFeed` keeps an :class:`L2Book` over a socket: on a gap or a lost connection it
  reconnects with ``since=<last seq applied>`` (and takes the snapshot the node sends when those
  updates are gone), and after ``{"type": "resync"}`` it takes the snapshot that follows.
- :class:`EventStream` reads ``/v1/stream[?account=ID][&txs=true][&from_height=H]`` and delivers
  every message once, heights in order without gaps: after a lost connection it reconnects with
  ``from_height`` = the height it was in and skips what it had already delivered of it. A block
  message whose height is not the next is a :class:`StreamError`.
- A refused upgrade (``400 from_height_too_old``, ``503 too_many_streams``, ``404
  market_unknown``, …) raises :class:`~tokenbook.errors.ApiError`; reconnecting gives up with
  :class:`StreamError` after ``max_reconnects`` attempts in a row.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote, urlencode

import websocket

from .errors import ApiError

Level = Tuple[int, int, int]  # price (ticks), qty (lots), orders


class StreamError(Exception):
    """A stream that cannot go on: the node contradicts itself, or cannot be reached."""


def ws_url(base_url: str, path: str, params: Dict[str, Any]) -> str:
    """The WebSocket URL of ``path`` on a node whose HTTP API is ``base_url``."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    query = urlencode({k: ("true" if v is True else v) for k, v in params.items()
                       if v is not None})
    return base + path + ("?" + query if query else "")


def parse_levels(levels: List[Dict[str, Any]]) -> List[Level]:
    """API price levels (``{"price", "qty", "orders"}``, strings for integers) as tuples."""
    return [(int(level["price"]), int(level["qty"]), int(level["orders"])) for level in levels]


class L2Book:
    """A market's price levels, rebuilt from a level-2 book stream (no I/O here)."""

    def __init__(self):
        self.market: Optional[str] = None
        self.seq: Optional[int] = None
        self.height: Optional[int] = None
        self.bids: Dict[int, Tuple[int, int]] = {}
        self.asks: Dict[int, Tuple[int, int]] = {}

    def apply(self, message: Dict[str, Any]) -> str:
        """Applies one stream message; returns what it was: ``"snapshot"``, ``"update"``
        (applied), ``"duplicate"`` (already applied), ``"gap"`` (updates are missing:
        reconnect with ``since``), ``"resync"`` (a snapshot follows)."""
        kind = message.get("type")
        if kind == "snapshot":
            self.market, self.seq, self.height = message["market"], message["seq"], \
                message["height"]
            self.bids = {p: (q, n) for p, q, n in parse_levels(message["bids"])}
            self.asks = {p: (q, n) for p, q, n in parse_levels(message["asks"])}
            return "snapshot"
        if kind == "resync":
            self.seq = None
            return "resync"
        if kind == "closed":
            raise StreamError(f"the node closed the book stream: {message.get('reason')}")
        if kind != "update":
            raise StreamError(f"unexpected book stream message {message!r}")
        if self.seq is None:
            return "gap"
        if message["seq"] <= self.seq:
            return "duplicate"
        if message["seq"] > self.seq + 1:
            return "gap"
        if message["height"] <= self.height:
            raise StreamError(
                f"update seq {message['seq']} is at height {message['height']}, but the book "
                f"(seq {self.seq}) is already at height {self.height}: the node's sequence "
                "numbers do not follow its heights")
        for side, levels in ((self.bids, message["bids"]), (self.asks, message["asks"])):
            for price, qty, orders in parse_levels(levels):
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = (qty, orders)
        self.seq, self.height = message["seq"], message["height"]
        return "update"

    def levels(self, side: str, depth: Optional[int] = None) -> List[Level]:
        """``"bids"`` or ``"asks"``, best first (at most ``depth``)."""
        book = self.bids if side == "bids" else self.asks
        prices = sorted(book, reverse=(side == "bids"))[:depth]
        return [(p, book[p][0], book[p][1]) for p in prices]


def _open(url: str, timeout: float) -> websocket.WebSocket:
    try:
        return websocket.create_connection(url, timeout=timeout)
    except websocket.WebSocketBadStatusException as e:
        raise ApiError.from_body(e.status_code, e.resp_body or b"") from None


def _arrivals(socket: "_Socket", timeout: float) -> Iterator[Dict[str, Any]]:
    """The messages ``socket`` receives within ``timeout`` seconds, as they come."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = socket.receive(left)
        if message is not None:
            yield message


class _Socket:
    """One stream's connection with reconnects: ``url_for()`` names where to (re)connect."""

    def __init__(self, url_for: Callable[[], str], timeout: float, max_reconnects: int):
        self.url_for = url_for
        self.timeout = timeout
        self.max_reconnects = max_reconnects
        self.reconnects = 0
        self._ws: Optional[websocket.WebSocket] = None

    def connect(self) -> None:
        self.close()
        failures = 0
        while True:
            try:
                self._ws = _open(self.url_for(), self.timeout)
                return
            except (OSError, websocket.WebSocketException) as e:
                failures += 1
                if failures > self.max_reconnects:
                    raise StreamError(f"cannot reach the stream: {e}") from e
                time.sleep(min(0.1 * 2 ** failures, 2.0))

    def reconnect(self) -> None:
        self.reconnects += 1
        self.connect()

    def receive(self, timeout: float) -> Optional[Dict[str, Any]]:
        """The next JSON message, ``None`` if none came within ``timeout``; reconnects (and
        returns ``None``) when the connection is lost."""
        if self._ws is None:
            self.connect()
        self._ws.settimeout(timeout)
        try:
            text = self._ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        except (OSError, websocket.WebSocketException):
            text = ""
        if not text:  # closed by the node or the network
            self.reconnect()
            return None
        return json.loads(text)

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except (OSError, websocket.WebSocketException):
                pass
            self._ws = None


class BookFeed:
    """A local level-2 book of ``symbol`` kept from ``/v1/stream/markets/{symbol}?level=2``."""

    def __init__(self, base_url: str, symbol: str, timeout: float = 10.0,
                 max_reconnects: int = 5):
        self.book = L2Book()
        self.snapshots = 0  # snapshots taken (the first, then after resyncs and lost updates)
        path = f"/v1/stream/markets/{quote(symbol)}"
        self._socket = _Socket(
            lambda: ws_url(base_url, path, {"level": 2, "since": self.book.seq}),
            timeout, max_reconnects)

    @property
    def reconnects(self) -> int:
        """Reconnections so far (after gaps and lost connections)."""
        return self._socket.reconnects

    def poll(self, timeout: float = 1.0) -> Optional[Dict[str, Any]]:
        """Waits up to ``timeout`` seconds for the next snapshot or update and applies it;
        returns it (its ``trades`` are the fills), or ``None`` if none came."""
        for message in _arrivals(self._socket, timeout):
            outcome = self.book.apply(message)
            if outcome == "snapshot":
                self.snapshots += 1
            if outcome in ("snapshot", "update"):
                return message
            if outcome == "gap":
                self._socket.reconnect()  # with since = the last seq applied
        return None

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> "BookFeed":
        return self

    def __exit__(self, *_) -> None:
        self.close()


class EventStream:
    """``/v1/stream``: per height a ``block`` message, then ``trade`` messages, then (with
    ``account``) the account's other ``event`` messages; each delivered once, in order."""

    def __init__(self, base_url: str, account: Optional[int] = None, txs: bool = False,
                 from_height: Optional[int] = None, timeout: float = 10.0,
                 max_reconnects: int = 5):
        self.height: Optional[int] = None  # the height of the last block message delivered
        self._delivered = 0                # messages delivered of that height
        self._skip = 0                     # replayed messages still to drop after a reconnect
        self._from_height = from_height
        self._socket = _Socket(
            lambda: ws_url(base_url, "/v1/stream",
                           {"account": account, "txs": txs or None, "from_height": self._resume()}),
            timeout, max_reconnects)

    @property
    def reconnects(self) -> int:
        """Reconnections so far."""
        return self._socket.reconnects

    def _resume(self) -> Optional[int]:
        if self.height is None:
            return self._from_height
        self._skip = self._delivered  # the node replays the height we were in from its start
        return self.height

    def next(self, timeout: float = 1.0) -> Optional[Dict[str, Any]]:
        """The next message, or ``None`` if none came within ``timeout`` seconds."""
        for message in _arrivals(self._socket, timeout):
            if self._skip:
                self._skip -= 1
                if message["height"] != self.height:
                    raise StreamError(f"the replay of height {self.height} began at "
                                      f"{message['height']}")
                continue
            if message["type"] == "block":
                if self.height is not None and message["height"] != self.height + 1:
                    raise StreamError(f"height {message['height']} follows {self.height}")
                self.height, self._delivered = message["height"], 0
            elif message["height"] != self.height:
                raise StreamError(f"a {message['type']} message of height {message['height']} "
                                  f"inside height {self.height}")
            self._delivered += 1
            return message
        return None

    def until(self, done: Callable[[Dict[str, Any]], bool],
              timeout: float = 30.0) -> List[Dict[str, Any]]:
        """Messages up to and including the first for which ``done`` is true;
        ``TimeoutError`` if none is within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            message = self.next(min(1.0, max(deadline - time.monotonic(), 0.01)))
            if message is not None:
                seen.append(message)
                if done(message):
                    return seen
        raise TimeoutError(f"no matching stream message within {timeout} s "
                           f"({len(seen)} others)")

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *_) -> None:
        self.close()
