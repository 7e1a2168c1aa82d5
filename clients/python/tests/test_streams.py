"""The stream clients' logic, offline: the level-2 book's sequence rules, and reconnects (a gap,
a lost connection) against a scripted socket."""

import unittest
from urllib.parse import parse_qs, urlparse

from tokenbook.stream import BookFeed, EventStream, L2Book, StreamError, ws_url


def level(price, qty, orders=1):
    return {"price": str(price), "price_usd": None, "qty": str(qty), "orders": orders}


def snapshot(seq, height, bids=(), asks=()):
    return {"type": "snapshot", "market": "M", "level": 2, "seq": seq, "height": height,
            "bids": [level(*b) for b in bids], "asks": [level(*a) for a in asks]}


def update(seq, height, bids=(), asks=(), trades=()):
    return {"type": "update", "market": "M", "level": 2, "seq": seq, "height": height,
            "bids": [level(*b) for b in bids], "asks": [level(*a) for a in asks],
            "trades": list(trades)}


class ScriptedSocket:
    """Stands in for a stream's connection: each connection is a list of messages; when one
    runs out the connection drops (the client reconnects to the next)."""

    def __init__(self, url_for, connections):
        self.url_for = url_for
        self.connections = list(connections)
        self.urls = []
        self.reconnects = 0
        self.current = None

    def connect(self):
        self.urls.append(self.url_for())
        self.current = list(self.connections.pop(0)) if self.connections else []

    def reconnect(self):
        self.reconnects += 1
        self.connect()

    def receive(self, timeout):
        if self.current is None:
            self.connect()
        if not self.current:
            if not self.connections:
                return None  # nothing more: a quiet stream
            self.reconnect()
            return None
        return self.current.pop(0)

    def close(self):
        pass


def query(url):
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


class L2BookRules(unittest.TestCase):
    def test_snapshot_then_updates(self):
        book = L2Book()
        self.assertEqual(book.apply(snapshot(7, 100, bids=[(99, 5), (98, 2)], asks=[(101, 4)])),
                         "snapshot")
        self.assertEqual(book.apply(update(8, 103, bids=[(99, 0), (97, 1)], asks=[(101, 3, 2)])),
                         "update")
        self.assertEqual(book.levels("bids"), [(98, 2, 1), (97, 1, 1)])
        self.assertEqual(book.levels("asks"), [(101, 3, 2)])
        self.assertEqual((book.seq, book.height), (8, 103))
        self.assertEqual(book.levels("bids", depth=1), [(98, 2, 1)])

    def test_duplicates_gaps_and_resync(self):
        book = L2Book()
        self.assertEqual(book.apply(update(1, 5)), "gap")  # nothing to apply it to
        book.apply(snapshot(7, 100, bids=[(99, 5)]))
        self.assertEqual(book.apply(update(7, 100)), "duplicate")
        self.assertEqual(book.apply(update(9, 110, bids=[(99, 0)])), "gap")
        self.assertEqual(book.levels("bids"), [(99, 5, 1)])  # nothing applied
        self.assertEqual(book.apply({"type": "resync"}), "resync")
        self.assertEqual(book.apply(update(8, 105)), "gap")

    def test_an_update_older_than_the_book_is_refused(self):
        book = L2Book()
        book.apply(snapshot(14, 717))
        with self.assertRaisesRegex(StreamError, "height 70"):
            book.apply(update(15, 70))

    def test_closed_market(self):
        with self.assertRaises(StreamError):
            L2Book().apply({"type": "closed", "reason": "the market is gone"})


class BookFeedReconnects(unittest.TestCase):
    def feed(self, connections):
        feed = BookFeed("http://node:8080", "AIT-X")
        feed._socket = ScriptedSocket(feed._socket.url_for, connections)
        return feed

    def test_gap_reconnects_with_since(self):
        feed = self.feed([
            [snapshot(3, 10, bids=[(99, 5)]), update(4, 11, bids=[(98, 1)]),
             update(6, 13, bids=[(97, 1)])],
            [update(5, 12, bids=[(98, 0)]), update(6, 13, bids=[(97, 1)])],
        ])
        seen = [feed.poll(1)["seq"] for _ in range(4)]
        self.assertEqual(seen, [3, 4, 5, 6])
        urls = feed._socket.urls
        self.assertEqual(query(urls[0]), {"level": "2"})
        self.assertEqual(query(urls[1]), {"level": "2", "since": "4"})
        self.assertEqual(feed.book.levels("bids"), [(99, 5, 1), (97, 1, 1)])

    def test_lost_connection_resumes_or_takes_a_snapshot(self):
        feed = self.feed([
            [snapshot(3, 10, bids=[(99, 5)])],
            [snapshot(40, 90, bids=[(95, 2)])],  # the updates were gone: a new snapshot
            [update(41, 91, asks=[(100, 1)])],
        ])
        self.assertEqual(feed.poll(1)["seq"], 3)
        self.assertEqual(feed.poll(1)["seq"], 40)
        self.assertEqual(feed.poll(1)["seq"], 41)
        self.assertEqual([query(u).get("since") for u in feed._socket.urls], [None, "3", "40"])
        self.assertEqual(feed.book.levels("bids"), [(95, 2, 1)])
        self.assertEqual(feed.reconnects, 2)

    def test_resync_takes_the_following_snapshot(self):
        feed = self.feed([[snapshot(3, 10), {"type": "resync"}, snapshot(600, 900, asks=[(5, 1)])]])
        self.assertEqual(feed.poll(1)["seq"], 3)
        self.assertEqual(feed.poll(1)["seq"], 600)
        self.assertEqual(feed.book.levels("asks"), [(5, 1, 1)])


def block(height):
    return {"type": "block", "height": height, "state_root": "00", "txs": 1}


def trade(height, qty):
    return {"type": "trade", "height": height, "qty": str(qty)}


class EventStreamResume(unittest.TestCase):
    def stream(self, connections, **kwargs):
        stream = EventStream("https://node", account=7, **kwargs)
        stream._socket = ScriptedSocket(stream._socket.url_for, connections)
        return stream

    def drain(self, stream, n):
        return [stream.next(1) for _ in range(n)]

    def test_every_message_once_across_a_drop(self):
        stream = self.stream([
            [block(5), trade(5, 1), block(6), trade(6, 1)],
            [block(6), trade(6, 1), trade(6, 2), block(7)],
        ], from_height=5)
        got = self.drain(stream, 6)
        self.assertEqual([(m["type"], m["height"], m.get("qty")) for m in got], [
            ("block", 5, None), ("trade", 5, "1"), ("block", 6, None), ("trade", 6, "1"),
            ("trade", 6, "2"), ("block", 7, None)])
        self.assertEqual([query(u).get("from_height") for u in stream._socket.urls], ["5", "6"])
        self.assertEqual(query(stream._socket.urls[0])["account"], "7")
        self.assertTrue(stream._socket.urls[0].startswith("wss://node/v1/stream?"))

    def test_a_missing_height_is_an_error(self):
        stream = self.stream([[block(5), block(7)]])
        stream.next(1)
        with self.assertRaisesRegex(StreamError, "7 follows 5"):
            stream.next(1)

    def test_until(self):
        stream = self.stream([[block(5), trade(5, 3), block(6)]])
        seen = stream.until(lambda m: m["type"] == "trade", timeout=1)
        self.assertEqual(len(seen), 2)
        with self.assertRaises(TimeoutError):
            stream.until(lambda m: False, timeout=0.2)


class Urls(unittest.TestCase):
    def test_ws_url(self):
        self.assertEqual(ws_url("http://127.0.0.1:8080/", "/v1/stream", {"txs": True,
                                                                         "account": None}),
                         "ws://127.0.0.1:8080/v1/stream?txs=true")


if __name__ == "__main__":
    unittest.main()
