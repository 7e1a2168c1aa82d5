"""The wire encoding of every tx kind, checked against the node's own fixtures: the document's
test vectors byte for byte, and the frozen sample of every kind in
node/protocol/tests/fixtures/formats.txt (length and SHA-256 of each encoding)."""

import hashlib
import json
import unittest

from tokenbook import tx
from tokenbook.codec import DecodeError
from tokenbook.keys import Key

from .support import FORMATS, fenced_blocks

SAMPLE_CHAIN = "tokenbook-test"


def keypair(n: int) -> Key:
    return Key.from_seed(bytes([n]) * 32)


def market_params():
    return tx.MarketParams(maker_fee_bps=-1, taker_fee_bps=4, initial_margin_bps=1_000,
                           maintenance_margin_bps=500, price_band_bps=2_000,
                           position_limit=10_000, impact_lots=10)


def limits():
    return tx.AccountLimits(max_order_qty=1_000, max_open_orders=200, max_position=5_000)


def samples():
    """The bodies of node/protocol/tests/it/samples.rs, in its order, by its names."""
    order = tx.PlaceOrder(market=1, side="buy", price=1_250, qty=10, client_order_id=42)
    out = [(f"place_{name}", tx.PlaceOrder(**{**order.__dict__, "time_in_force": tif}))
           for name, tif in [("gtc", "gtc"), ("gtt", tx.Gtt(1_800_000_060_000)), ("ioc", "ioc"),
                             ("fok", "fok"), ("post_only", "post_only")]]
    out.append(("place_market_sell_reduce_only", tx.PlaceOrder(
        **{**order.__dict__, "side": "sell", "kind": "market", "price": 900,
           "time_in_force": "ioc", "reduce_only": True, "client_order_id": None,
           "self_trade": "expire_both"})))
    for name in ("stop", "take_profit"):
        out.append((f"place_{name}", tx.PlaceOrder(
            **{**order.__dict__, "trigger": tx.Trigger(name, 1_100),
               "self_trade": "expire_taker"})))
    k = keypair(7).public_key
    transfer = dict(account=11, amount=1_000_000_000,
                    reference=hashlib.sha256(b"wire-2026-11-24-001").digest())
    out += [
        ("cancel_by_id", tx.CancelOrder(1, tx.OrderRef(id=1 << 20))),
        ("cancel_by_client_id", tx.CancelOrder(1, tx.OrderRef(client=42))),
        ("cancel_all_market", tx.CancelAll(1)),
        ("cancel_all", tx.CancelAll(None)),
        ("replace", tx.ReplaceOrder(1, tx.OrderRef(id=7), new_price=1_251, new_qty=5)),
        ("set_deadman", tx.SetDeadman(10_000)),
        ("authorise_key", tx.AuthoriseKey(k, 1_900_000_000_000)),
        ("revoke_key", tx.RevokeKey(k)),
        ("register_account", tx.RegisterAccount(k, limits(), 5)),
        ("deposit", tx.Deposit(**transfer)),
        ("withdraw", tx.Withdraw(**transfer)),
        ("set_limits", tx.SetLimits(11, limits())),
        ("freeze", tx.SetFrozen(11, True)),
        ("publish_index", tx.PublishIndex(1, 12_500_000, 1_800_000_000_000)),
    ]
    g = keypair(9).public_key
    spec = tx.MarketSpec(symbol="AIT-FRONTIER-DEC26", index=1, tick_size=10_000, lot_size=1,
                         multiplier=100, expiry=1_798_675_200_000,
                         settlement_window_ms=3_600_000, reference_price=1_000,
                         params=market_params())
    risk = tx.RiskParams(oracle_freshness_ms=30_000, max_liquidations_per_block=64,
                         liquidation_fee_bps=50, calendar_spread_charge_bps=5_000,
                         settlement_epoch_ms=43_200_000, mark_band_bps=100,
                         cross_index_credit_bps=0, guaranty_floor=1_000_000_000_000,
                         guaranty_margin_bps=1_000, guaranty_assessment_cap_bps=10_000)
    actions = [
        ("list_market", tx.ListMarket(spec)),
        ("set_market_params", tx.SetMarketParams(1, market_params())),
        ("halt", tx.SetMarketStatus(1, "halt")),
        ("resume", tx.SetMarketStatus(1, "resume")),
        ("delist", tx.SetMarketStatus(1, "delist")),
        ("set_risk_params", tx.SetRiskParams(risk)),
        ("add_validator", tx.AddValidator(g, g, 10)),
        ("remove_validator", tx.RemoveValidator(g)),
        ("add_member", tx.AddMember(g, "Example Clearing LLC")),
        ("remove_member", tx.RemoveMember(3)),
        ("list_index", tx.ListIndex("h100-usd-per-hour")),
        ("fund_insurance", tx.FundInsurance(1_000_000)),
        ("transfer_accounts", tx.TransferAccounts(from_=3, to=2)),
    ]
    out += [(f"propose_{name}", tx.Propose(action, 1_800_086_400_000))
            for name, action in actions]
    out += [
        ("approve", tx.Approve(3)),
        ("post_guaranty", tx.PostGuaranty(250_000_000_000)),
        ("release_guaranty", tx.ReleaseGuaranty(250_000_000_000)),
    ]
    return out


def sample_txs():
    key = keypair(1)
    return [(name, tx.sign(key, 11, body, SAMPLE_CHAIN, nonce=1_800_000_000_000 + i))
            for i, (name, body) in enumerate(samples())]


class DocumentVectors(unittest.TestCase):
    """docs/wire-format.md's ```vector blocks, re-derived from their JSON payloads."""

    def test_every_vector(self):
        vectors = list(fenced_blocks("vector"))
        self.assertGreaterEqual(len(vectors), 4)
        for v in vectors:
            with self.subTest(v["name"]):
                payload = tx.Payload.from_json(json.loads(v["payload"]))
                signed = payload.sign(Key.from_seed(v["seed"]), v["chain_id"])
                self.assertEqual(payload.encode().hex(), v["payload_hex"])
                self.assertEqual(payload.preimage(v["chain_id"]).hex(), v["preimage_hex"])
                self.assertEqual(signed.signature.hex(), v["signature"])
                self.assertEqual(signed.hash, v["tx_hash"])
                self.assertEqual(signed.encode().hex(), v["tx_hex"])
                self.assertEqual(tx.decode_tx(bytes.fromhex(v["tx_hex"])), signed)
                self.assertTrue(signed.verify(v["chain_id"]))


class FrozenFormats(unittest.TestCase):
    """Every body kind, every order type and every governance action, against the node's
    frozen formats (the same samples as node/protocol/tests/it/samples.rs)."""

    def test_every_kind_matches_the_fixture(self):
        frozen = {}
        for line in FORMATS.read_text().splitlines():
            parts = line.split()  # kind name length sha256
            if parts[0] == "tx":
                frozen[parts[1]] = (int(parts[2]), parts[3])
        txs = sample_txs()
        self.assertEqual(sorted(frozen), sorted(name for name, _ in txs))
        for name, signed in txs:
            with self.subTest(name):
                data = signed.encode()
                self.assertEqual((len(data), hashlib.sha256(data).hexdigest()), frozen[name])

    def test_decode_gives_back_every_kind(self):
        for name, signed in sample_txs():
            with self.subTest(name):
                self.assertEqual(tx.decode_tx(signed.encode()), signed)
                self.assertTrue(signed.verify(SAMPLE_CHAIN))
                self.assertFalse(signed.verify("tokenbook-devnet"))

    def test_every_body_tag_in_order(self):
        tags = {type(body).NAME: body.TAG for _, body in samples()}
        self.assertEqual(tags, {
            "place_order": 0, "cancel_order": 1, "cancel_all": 2, "replace_order": 3,
            "set_deadman": 4, "authorise_key": 5, "revoke_key": 6, "register_account": 7,
            "deposit": 8, "withdraw": 9, "set_limits": 10, "set_frozen": 11,
            "publish_index": 12, "propose": 13, "approve": 14, "post_guaranty": 15,
            "release_guaranty": 16})


class Batches(unittest.TestCase):
    def test_batch_is_count_then_txs(self):
        txs = [signed for _, signed in sample_txs()[:3]]
        data = tx.encode_batch(txs)
        self.assertEqual(data[:8], (3).to_bytes(8, "little"))
        self.assertEqual(data[8:], b"".join(t.encode() for t in txs))

    def test_batch_sizes(self):
        one = sample_txs()[0][1]
        with self.assertRaises(ValueError):
            tx.encode_batch([])
        with self.assertRaises(ValueError):
            tx.encode_batch([one] * 257)
        self.assertEqual(len(tx.encode_batch([one] * 256)), 8 + 256 * len(one.encode()))


class Refusals(unittest.TestCase):
    """Values the node would refuse are refused when built."""

    def test_out_of_range_and_unknown_names(self):
        with self.assertRaises(ValueError):
            tx.SetDeadman(-1)
        with self.assertRaises(ValueError):
            tx.Approve(1 << 64)
        with self.assertRaises(ValueError):
            tx.PlaceOrder(market=1, side="long", price=1, qty=1)
        with self.assertRaises(ValueError):
            tx.PlaceOrder(market=1, side="buy", price=1, qty=1, time_in_force="gtd")
        with self.assertRaises(ValueError):
            tx.OrderRef(id=1, client=2)
        with self.assertRaises(ValueError):
            tx.RevokeKey(b"short")

    def test_shapes(self):
        with self.assertRaises(ValueError):
            tx.ListIndex("")
        with self.assertRaises(ValueError):
            tx.AddMember(bytes(32), "tab\tname")
        with self.assertRaises(ValueError):
            tx.MarketSpec("lower-case", 1, 1, 1, 1, 1, 1, 1, market_params())
        with self.assertRaises(ValueError):
            tx.sign(keypair(1), 1, tx.SetDeadman(0), "Not A Chain")

    def test_decoder_refusals(self):
        data = sample_txs()[0][1].encode()
        with self.assertRaises(DecodeError):
            tx.decode_tx(data + b"\x00")
        with self.assertRaises(DecodeError):
            tx.decode_tx(data[:-1])
        bad_tag = data[:48] + (99).to_bytes(4, "little") + data[52:]
        with self.assertRaises(DecodeError):
            tx.decode_tx(bad_tag)


class NonceSource(unittest.TestCase):
    def test_strictly_increasing_with_a_stuck_clock(self):
        nonces = tx.Nonces(clock=lambda: 1_800_000_000.0)
        got = [nonces.next() for _ in range(5)]
        self.assertEqual(got, list(range(1_800_000_000_000, 1_800_000_000_005)))

    def test_clock_going_back(self):
        times = iter([2.0, 1.0, 3.0])
        nonces = tx.Nonces(clock=lambda: next(times))
        self.assertEqual([nonces.next() for _ in range(3)], [2000, 2001, 3000])


if __name__ == "__main__":
    unittest.main()
