"""Ledger state records as the state tree stores them (what a state proof proves).

Promises:

- :func:`account_key` is the node's state key of an account: ``0x01 ‖ id`` (u64 big-endian);
- :func:`decode_account` reads the stored value of that key — the bincode encoding of
  ``tokenbook_ledger::state::Account`` with its open-order and client-id indexes left empty (the
  node rebuilds them from the order pages) — field by field in the order of docs/wire-format.md,
  "State proofs", refusing trailing bytes and unknown tags;
- :func:`verify_account_answer` checks a ``GET /v1/accounts/{id}?prove=true`` answer: the proof
  verifies against the state root and is for the account's key, and — when it is of the answer's
  own height — the proven record agrees with the answer's JSON (id, owner, member, frozen, cash,
  positions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .codec import Reader
from .proofs import ProofError, decode_state_proof
from .tx import AccountLimits

ACCOUNT_TABLE = 0x01
ACCOUNT_KINDS = ("member", "admin", "trader")


def account_key(account_id: int) -> bytes:
    """The state key of an account: ``01`` then the id as 8 big-endian bytes."""
    return bytes([ACCOUNT_TABLE]) + account_id.to_bytes(8, "big")


@dataclass(frozen=True)
class Position:
    """A position in one market with the lots in the account's open orders there."""

    qty: int       # signed lots: long > 0
    cost: int      # signed cost in micro-USD (Σ fill notional, + for buys)
    open_buy: int  # lots in resting buy orders
    open_sell: int


@dataclass(frozen=True)
class Guaranty:
    """A member's guaranty-fund contribution (all zero for other accounts), micro-USD."""

    posted: int
    required: int
    due: int


@dataclass(frozen=True)
class Account:
    """One account record."""

    id: int
    kind: str                          # "member", "admin" or "trader"
    owner: bytes                       # owner public key
    member: int                        # clearing member (itself for members and admins)
    limits: AccountLimits
    self_trade_group: int
    frozen: bool
    cash: int                          # micro-USD
    positions: Dict[int, Position]     # by market id
    open_orders: List[int]             # empty as stored
    client_ids: Dict[int, int]         # empty as stored
    nonces: List[int]                  # the owner key's nonce window, ascending
    deadman: Optional[int]             # dead-man's switch deadline (ms)
    scoped_keys: Dict[bytes, List[int]]  # scoped key → its nonce window
    guaranty: Guaranty


def _position(r: Reader) -> Tuple[int, Position]:
    market = r.u32()
    return market, Position(r.i64(), r.i128(), r.i64(), r.i64())


def decode_account(data: bytes) -> Account:
    """An ``Account`` from its stored bytes (the value an account proof proves)."""
    r = Reader(data, "account")
    account = Account(
        id=r.u64(),
        kind=ACCOUNT_KINDS[r.enum(len(ACCOUNT_KINDS), "AccountKind")],
        owner=r.take(32),
        member=r.u64(),
        limits=AccountLimits(r.i64(), r.u32(), r.i64()),
        self_trade_group=r.u64(),
        frozen=r.boolean(),
        cash=r.i128(),
        positions=dict(r.vec(lambda: _position(r))),
        open_orders=r.vec(r.u64),
        client_ids=dict(r.vec(lambda: (r.u64(), r.u64()))),
        nonces=r.vec(r.u64),
        deadman=r.option(r.u64),
        scoped_keys=dict(r.vec(lambda: (r.take(32), r.vec(r.u64)))),
        guaranty=Guaranty(r.i128(), r.i128(), r.i128()),
    )
    r.finish()
    return account


def verify_account_answer(answer: dict, state_root=None) -> Account:
    """Checks a ``GET /v1/accounts/{id}?prove=true`` answer and returns the proven record.

    The proof must be for ``account_key(answer["id"])``, lead to ``state_root`` (default: the
    answer's ``proof.state_root``; pass one you trust), and — when the proof is of the answer's
    own height (no ``?height=`` asked) — the record must agree with the answer's ``id``,
    ``owner``, ``member``, ``frozen``, ``cash`` and ``positions``. Raises :class:`ProofError`
    otherwise.
    """
    attached = answer["proof"]
    proof = decode_state_proof(attached["bytes"])
    if proof.key != account_key(answer["id"]) or proof.height != attached["height"]:
        raise ProofError("the proof is not for this account's key at the answer's height")
    if proof.value is None:
        raise ProofError("the proof says the account does not exist")
    proof.verify(state_root or attached["state_root"])
    record = decode_account(proof.value)
    if proof.height != answer["height"]:
        return record  # the JSON is of the last height, the proof of an earlier one
    positions = {p["market"]: Position(int(p["position"]["qty"]), int(p["position"]["cost"]),
                                       int(p["position"]["open_buy"]),
                                       int(p["position"]["open_sell"]))
                 for p in answer["positions"]}
    claimed = (answer["id"], answer["owner"], answer["member"], answer["frozen"],
               int(answer["cash"]), positions)
    proven = (record.id, record.owner.hex(), record.member, record.frozen, record.cash,
              record.positions)
    if claimed != proven:
        raise ProofError(f"the answer {claimed} differs from the proven record {proven}")
    return record
