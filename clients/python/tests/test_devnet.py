"""The client against a real running devnet (skipped unless ``TOKENBOOK_URL`` is set).

Environment:

- ``TOKENBOOK_URL``: a validator's API, e.g. ``http://127.0.0.1:8080``;
- ``TOKENBOOK_MEMBER_KEY``: the key file of the member that registers and funds the test's two
  trader accounts (``<devnet dir>/members/member-N.key``);
- ``TOKENBOOK_GOVERNANCE_KEYS``: the other members' key files, separated by ``os.pathsep``: their
  approvals list a fresh market for the test, so its book holds the test's orders alone (the
  devnet's own traders quote the genesis markets).

What it shows, through the API only: a member registers and funds two traders (ids learnt from
the receipts' ``account_registered`` events and checked with ``GET /v1/keys``); governance lists a
market; an order rests, is replaced, cancelled, rests again and is crossed by the other account;
the fill appears on the account stream and on the book feed, whose rebuilt book equals
``GET …/book``; the book feed of a busy genesis market follows ``GET …/book`` with every fill and
no second snapshot; the block stream resumes after a lost connection without loss or repeats;
account and state proofs verify against the state root of the next block's header, and fail
when tampered; a batch is answered per tx; block txs read back as signed; refusals carry the
API's codes.
"""

import os
import time
import unittest

from tokenbook.consensus import (CertificateError, Validator, read_header, validator_set_hash,
                                 verify_certificate)
from tokenbook import ApiError, BookFeed, Client, EventStream, Key, ProofError, tx
from tokenbook.proofs import verify_state_answer
from tokenbook.state import account_key, decode_account, verify_account_answer
from tokenbook.stream import parse_levels

URL = os.environ.get("TOKENBOOK_URL")
MEMBER_KEY = os.environ.get("TOKENBOOK_MEMBER_KEY")
GOVERNANCE_KEYS = [p for p in os.environ.get("TOKENBOOK_GOVERNANCE_KEYS", "").split(os.pathsep)
                   if p]

DEPOSIT = 100_000_000_000  # $100,000 in micro-USD
LIMITS = tx.AccountLimits(max_order_qty=100, max_open_orders=50, max_position=1_000)
# The devnet's own flow signs with the same member keys (index prices); two signers of one
# account that pick the same millisecond collide (docs/wire-format.md, "Nonce rule"): re-sign.
NONCE_COLLISIONS = ("nonce_replayed", "mempool_nonce_pending")


def events(receipt, name):
    return [e for e in receipt["events"] if e["event"] == name]


@unittest.skipUnless(URL, "set TOKENBOOK_URL, TOKENBOOK_MEMBER_KEY and TOKENBOOK_GOVERNANCE_KEYS "
                          "to run against a devnet (clients/python/run-devnet-tests does)")
class Devnet(unittest.TestCase):
    client: Client

    @classmethod
    def setUpClass(cls):
        if not MEMBER_KEY:
            raise unittest.SkipTest("TOKENBOOK_MEMBER_KEY is not set")
        cls.client = Client(URL)
        cls.member = Key.load(MEMBER_KEY)
        cls.member_id = cls.client.key(cls.member.public_key)["account"]
        cls.symbol, cls.market_id = cls.list_market()
        cls.a, cls.a_id = cls.new_trader()
        cls.b, cls.b_id = cls.new_trader()
        # Orders stay within 15 ticks of this mark: the devnet's index walks ±1 tick every 2 s,
        # and orders beyond the price band (5% of ~1,000 ticks) are refused.
        cls.mark = int(cls.client.market(cls.symbol)["mark"])

    # --- helpers -------------------------------------------------------------------------------

    @classmethod
    def commit(cls, key, account, body, accepted=True):
        """Signs, submits with ``wait=commit``, returns the receipt (accepted, unless told)."""
        for attempt in range(3):
            signed = cls.client.sign(key, account, body)
            try:
                receipt = cls.client.submit(signed, wait=True)
            except ApiError as e:
                if e.code in NONCE_COLLISIONS and attempt < 2:
                    continue
                raise
            if receipt.get("code") in NONCE_COLLISIONS and attempt < 2:
                continue
            assert receipt["status"] == "committed" and receipt["hash"] == signed.hash, receipt
            assert receipt["accepted"] == accepted, receipt
            return receipt
        raise AssertionError("unreachable")

    @classmethod
    def list_market(cls):
        """Lists a copy of the first market under a fresh symbol: proposed by the member,
        approved by as many other members as the quorum needs (> 2/3 of members)."""
        first = cls.client.markets()[0]
        symbol = f"PY-{int(time.time() * 1000):X}"
        spec = tx.MarketSpec(
            symbol=symbol, index=first["index"], tick_size=int(first["tick_size"]),
            lot_size=first["lot_size"], multiplier=first["multiplier"], expiry=first["expiry"],
            settlement_window_ms=first["settlement_window_ms"],
            reference_price=int(first["mark"]),
            params=tx.MarketParams.from_json(first["params"]))
        expires = int(time.time() * 1000) + 600_000
        receipt = cls.commit(cls.member, cls.member_id, tx.Propose(tx.ListMarket(spec), expires))
        proposal = events(receipt, "proposal_opened")[0]["proposal"]
        members = len(cls.client.clearing()["members"])
        approvals = 1
        for path in GOVERNANCE_KEYS:
            if approvals * 3 > members * 2:
                break
            key = Key.load(path)
            receipt = cls.commit(key, cls.client.key(key.public_key)["account"],
                                 tx.Approve(proposal))
            approvals += 1
        listed = events(receipt, "market_listed")
        assert listed, f"{approvals} of {members} members approved; the market is not listed"
        return symbol, listed[0]["market"]

    @classmethod
    def new_trader(cls):
        key = Key.generate()
        receipt = cls.commit(cls.member, cls.member_id,
                             tx.RegisterAccount(key.public_key, LIMITS))
        (registered,) = events(receipt, "account_registered")
        assert registered["member"] == cls.member_id and registered["owner"] == key.public_key_hex
        account = registered["account"]
        assert cls.client.key(key.public_key) == {"key": key.public_key_hex,
                                                   "account": account, "kind": "owner"}
        receipt = cls.commit(cls.member, cls.member_id,
                             tx.Deposit(account, DEPOSIT, os.urandom(32)))
        assert events(receipt, "deposited") == [
            {"event": "deposited", "account": account, "amount": str(DEPOSIT)}], receipt
        return key, account

    def place(self, key, account, side, price, qty, **options):
        receipt = self.commit(key, account, tx.PlaceOrder(self.market_id, side, price, qty,
                                                          **options))
        return receipt, events(receipt, "order_accepted")[0]

    def root_of_next_header(self, height):
        """The state root after ``height`` as the certified header of ``height + 1`` states it."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return self.client.block(height + 1)["block"]["header"]["state_root"]
            except ApiError as e:
                if e.code != "block_unknown" or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # --- tests ---------------------------------------------------------------------------------

    def test_accounts_are_registered_and_funded(self):
        for key, account in ((self.a, self.a_id), (self.b, self.b_id)):
            answer = self.client.account(account)
            self.assertEqual(answer["owner"], key.public_key_hex)
            self.assertEqual(answer["member"], self.member_id)
            self.assertEqual(answer["frozen"], False)
            self.assertGreater(int(answer["cash"]), DEPOSIT * 99 // 100)  # less fees, if traded
            record = self.client.proven_account(account)
            self.assertEqual((record.kind, record.member, record.limits, record.self_trade_group),
                             ("trader", self.member_id, LIMITS, 0))

    def test_order_rests_is_replaced_and_cancelled(self):
        price = self.mark - 15
        _, accepted = self.place(self.a, self.a_id, "buy", price, 4, client_order_id=77)
        order = accepted["order"]
        self.assertEqual((int(accepted["resting"]), accepted["account"]), (4, self.a_id))
        receipt = self.commit(self.a, self.a_id, tx.ReplaceOrder(
            self.market_id, tx.OrderRef(client=77), new_price=price + 1, new_qty=3))
        (replaced,) = events(receipt, "order_replaced")
        self.assertEqual((replaced["order"], int(replaced["price"]), int(replaced["qty"])),
                         (order, price + 1, 3))
        open_orders = self.client.account(self.a_id)["open_orders"]
        self.assertIn({"id": order, "market": self.market_id, "side": "buy",
                       "price": str(price + 1), "price_usd": str(self.client.ticks_to_price(
                           self.symbol, price + 1)), "qty": "3", "client_order_id": 77,
                       "triggered": True}, open_orders)
        receipt = self.commit(self.a, self.a_id,
                              tx.CancelOrder(self.market_id, tx.OrderRef(id=order)))
        (cancelled,) = events(receipt, "order_cancelled")
        self.assertEqual((cancelled["order"], cancelled["reason"]), (order, "requested"))
        self.assertNotIn(order, [o["id"] for o in self.client.account(self.a_id)["open_orders"]])

    def test_a_cross_is_seen_on_both_streams_and_the_book_feed_matches(self):
        start = self.client.status()["height"]
        with EventStream(URL, account=self.b_id, from_height=start) as stream, \
                BookFeed(URL, self.symbol) as feed:
            self.assertEqual(feed.poll(10)["type"], "snapshot")
            price = self.mark - 3
            # An IOC that finds nothing to take leaves the book as it was: no update.
            receipt = self.commit(self.b, self.b_id, tx.PlaceOrder(
                self.market_id, "sell", self.mark + 15, 1, time_in_force="ioc"))
            self.assertEqual(events(receipt, "order_cancelled")[0]["reason"],
                             "immediate_or_cancel")
            _, maker = self.place(self.a, self.a_id, "buy", price, 5)
            receipt, taker = self.place(self.b, self.b_id, "sell", price, 2,
                                        time_in_force="ioc")
            (fill,) = events(receipt, "fill")
            self.assertEqual((fill["maker"], fill["taker"], fill["maker_order"],
                              int(fill["price"]), int(fill["qty"]), fill["taker_side"]),
                             (self.a_id, self.b_id, maker["order"], price, 2, "sell"))
            # The account stream: B's trade, at the receipt's height.
            seen = stream.until(lambda m: m["type"] == "trade", timeout=20)
            trade = seen[-1]
            self.assertEqual((trade["height"], trade["maker"], trade["taker"], trade["qty"]),
                             (receipt["height"], self.a_id, self.b_id, "2"))
            self.assertEqual(trade["price_usd"], str(self.client.ticks_to_price(self.symbol,
                                                                                price)))
            # The book feed: the update of that height carries the fill.
            deadline = time.monotonic() + 20
            while feed.book.height is None or feed.book.height < receipt["height"]:
                if time.monotonic() > deadline:
                    self.fail(f"the book feed did not reach the fill's height "
                              f"{receipt['height']}: its book is at seq {feed.book.seq}, height "
                              f"{feed.book.height}")
                message = feed.poll(1)
                if message and message["type"] == "update" and message["trades"]:
                    self.assertEqual(message["trades"][0]["taker_order"], taker["order"])
            while feed.poll(0.5) is not None:  # drain: the market is quiet now
                pass
            book = self.client.book(self.symbol, depth=1000)
            self.assertGreaterEqual(book["height"], feed.book.height)
            self.assertEqual(feed.book.levels("bids"), parse_levels(book["bids"]))
            self.assertEqual(feed.book.levels("asks"), parse_levels(book["asks"]))
            self.assertIn((price, 3, 1), feed.book.levels("bids"))
        positions = {
            account: self.client.proven_account(account).positions[self.market_id].qty
            for account in (self.a_id, self.b_id)}
        self.assertEqual(positions, {self.a_id: 2, self.b_id: -2})

    def test_the_book_feed_of_a_busy_market_follows_the_book(self):
        # The first genesis market, quoted and taken by the devnet's traders every 100 ms: a
        # client that reads promptly gets one snapshot, then every update with its fills.
        symbol = self.client.markets()[0]["symbol"]
        with BookFeed(URL, symbol) as feed:
            history = []  # (height, bids, asks) after each message applied
            fills = []

            def follow(until_height):
                deadline = time.monotonic() + 20
                while feed.book.height is None or feed.book.height <= until_height:
                    if time.monotonic() > deadline:
                        self.fail(f"the book feed stopped at seq {feed.book.seq}, height "
                                  f"{feed.book.height}")
                    message = feed.poll(1)
                    if message is not None:
                        history.append((feed.book.height, feed.book.levels("bids"),
                                        feed.book.levels("asks")))
                        fills.extend(message.get("trades", []))

            follow(0)
            first = feed.book.height
            for _ in range(5):
                book = self.client.book(symbol, depth=1000)
                follow(book["height"])  # every update up to the book's height has arrived
                at = [h for h in history if h[0] <= book["height"]][-1]
                self.assertEqual(at[1:], (parse_levels(book["bids"]), parse_levels(book["asks"])),
                                 f"the feed's book at height {at[0]} is not GET …/book at "
                                 f"height {book['height']}")
            last = feed.book.height
            self.assertEqual((feed.snapshots, feed.reconnects), (1, 0),
                             f"{len(history)} messages over heights {first}..{last}")
        traded = [t for t in self.client.trades(symbol) if first < t["height"] <= last]
        self.assertTrue(traded, "the devnet's traders did not trade")
        self.assertEqual(fills, traded)

    def test_the_account_stream_resumes_without_loss_or_repeats(self):
        start = self.client.status()["height"] - 30
        with EventStream(URL, from_height=start, txs=True) as straight:
            expected = [straight.next(5) for _ in range(40)]
        with EventStream(URL, from_height=start, txs=True) as resumed:
            got = [resumed.next(5) for _ in range(15)]
            resumed._socket._ws.close()  # the connection drops mid-stream
            got += [resumed.next(5) for _ in range(25)]
            self.assertEqual(resumed.reconnects, 1)
        self.assertEqual(got, expected)
        heights = [m["height"] for m in got if m["type"] == "block"]
        self.assertEqual(heights, list(range(start, start + len(heights))))

    def test_state_proofs_verify_against_the_certified_root(self):
        answer = self.client.account(self.a_id, prove=True)
        height = answer["proof"]["height"]
        root = self.root_of_next_header(height)
        self.assertEqual(root, answer["proof"]["state_root"])
        self.assertEqual(root, self.client.state_root(height))
        record = verify_account_answer(answer, state_root=root)
        self.assertEqual(record.id, self.a_id)

        state = self.client.state(account_key(self.b_id), height=height)
        proof = verify_state_answer(state, state_root=root)
        self.assertEqual(decode_account(proof.value).owner, self.b.public_key)
        absent = self.client.state(account_key(2**64 - 1), height=height)
        self.assertIsNone(absent["value"])
        self.assertIsNone(verify_state_answer(absent, state_root=root).value)

        tampered = dict(answer, cash=str(int(answer["cash"]) + 1))
        with self.assertRaises(ProofError):
            verify_account_answer(tampered, state_root=root)
        with self.assertRaises(ProofError):
            proof.proof.verify(bytes.fromhex(root), proof.key, proof.value + b"\x00")
        with self.assertRaises(ProofError):
            verify_state_answer(state, state_root="11" * 32)

    def test_certificates_prove_blocks_and_chain_them(self):
        height = self.client.status()["height"] - 1
        validators = [Validator.from_json(v) for v in self.client.status()["validators"]]
        block, certificate = self.client.block(height, raw=True), self.client.certificate(height)
        header = read_header(block)
        self.assertEqual(header.validator_set_hash, validator_set_hash(validators))
        cert = verify_certificate(certificate, height, block, validators, self.client.chain_id)
        self.assertEqual(cert.block_hash, header.hash)
        # The next header pins this block and its certificate.
        following = read_header(self.client.block(height + 1, raw=True))
        self.assertEqual(following.prev_block_hash, header.hash)
        # (its `prev_certificate_hash` names the certificate its proposer held: validators may
        # hold different ones for a height, each over two thirds, so it need not be this node's)
        forged = bytearray(certificate)
        forged[-1] ^= 1
        with self.assertRaises(CertificateError):
            verify_certificate(bytes(forged), height, block, validators, self.client.chain_id)
        with self.assertRaises(CertificateError):
            verify_certificate(certificate, height, block, validators[:1], self.client.chain_id)

    def test_a_batch_is_answered_per_tx(self):
        orders = [self.client.sign(self.a, self.a_id, tx.PlaceOrder(
            self.market_id, "buy", self.mark - 10 - i, 1, time_in_force="post_only"))
            for i in range(3)]
        results = self.client.submit_batch(orders + [orders[0]])
        self.assertEqual([r["hash"] for r in results], [o.hash for o in orders + [orders[0]]])
        self.assertEqual([r["status"] for r in results], ["pending"] * 3 + ["refused"])
        self.assertIn(results[3]["code"], ("mempool_duplicate", "mempool_nonce_pending"))
        self.assertIn(results[3]["http_status"], (400, 409))
        for order in orders:
            receipt = self.client.wait_for_tx(order.hash)
            self.assertEqual((receipt["status"], receipt["accepted"]), ("committed", True))
        receipt = self.commit(self.a, self.a_id, tx.CancelAll(self.market_id))
        self.assertGreaterEqual(len(events(receipt, "order_cancelled")), 3)

    def test_block_txs_read_back_as_signed(self):
        receipt = self.commit(self.a, self.a_id, tx.SetDeadman(0))
        block = self.client.block(receipt["height"])["block"]
        mine = [t for t in block["txs"] if tx.Tx.from_json(t).hash == receipt["hash"]]
        self.assertEqual(len(mine), 1)
        signed = tx.Tx.from_json(mine[0])
        self.assertTrue(signed.verify(self.client.chain_id))
        self.assertEqual(signed.payload.body, tx.SetDeadman(0))

    def test_refusals_carry_the_api_codes(self):
        good = self.client.sign(self.a, self.a_id, tx.SetDeadman(0))
        forged = tx.Tx(good.payload, bytes(64))
        with self.assertRaises(ApiError) as e:
            self.client.submit(forged)
        self.assertEqual(e.exception.status, 400)
        self.assertTrue(e.exception.code.startswith("sig_"), e.exception.code)
        with self.assertRaises(ApiError) as e:
            self.client.submit(b"\x01\x02")
        self.assertEqual((e.exception.status, e.exception.code), (400, "decode_truncated"))
        with self.assertRaises(ApiError) as e:
            self.client.tx_status("00" * 32)
        self.assertEqual((e.exception.status, e.exception.code), (404, "tx_unknown"))
        with self.assertRaises(ApiError) as e:
            self.client.book("NO-SUCH-MARKET")
        self.assertEqual((e.exception.status, e.exception.code), (404, "market_unknown"))
        wild = self.client.sign(self.b, self.b_id, tx.PlaceOrder(self.market_id, "buy",
                                                                 self.mark * 2, 1))
        with self.assertRaises(ApiError) as e:
            self.client.submit(wild)
        self.assertEqual((e.exception.status, e.exception.code), (400, "price_outside_band"))

    def test_prices_in_usd(self):
        market = self.client.market(self.symbol)
        self.assertEqual(self.client.price_to_ticks(self.symbol, market["mark_usd"]),
                         int(market["mark"]))
        self.assertEqual(str(self.client.ticks_to_price(self.symbol, market["mark"])),
                         market["mark_usd"])

    def test_index_and_clearing_events(self):
        market = self.client.market(self.symbol)
        self.assertRegex(market["index_price_usd"], r"^\d+\.\d{6}$")
        self.assertIsInstance(market["index_fresh"], bool)
        status = self.client.status()
        self.assertLess(abs(status["time"] - time.time() * 1000), 120_000, "block time near now")
        page = self.client.clearing_events()
        self.assertGreaterEqual(page["until_height"], page["from_height"] - 1)
        for item in page["events"]:
            self.assertIn(item["event"]["event"], {"liquidated", "deleveraged", "insurance_paid",
                                                   "insurance_funded", "default_covered",
                                                   "guaranty_used", "bad_debt"})
        later = self.client.clearing_events(since_ms=status["time"] + 3_600_000)
        self.assertEqual((later["events"], later["next_from_height"]), ([], None))
        both = self.client.clearing_events(since_ms=1, from_height=page["until_height"] + 1)
        self.assertEqual(both["from_height"], page["until_height"] + 1, "the later start")
        with self.assertRaises(ApiError) as refused:
            self.client.clearing_events(limit="many")
        self.assertEqual((refused.exception.status, refused.exception.code), (400, "bad_query"))


if __name__ == "__main__":
    unittest.main()
