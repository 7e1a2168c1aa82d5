"""Every transaction kind of docs/wire-format.md: build, encode, sign, hash, batch, decode.

Promises:

- :func:`sign` produces exactly the bytes ``tokenbook_protocol::TxPayload::sign`` produces for the
  same fields, key and chain id: the payload's canonical encoding, then the ed25519 signature of
  ``u64le(len(tag)) ‖ tag ‖ u64le(len(chain_id)) ‖ chain_id ‖ payload`` with
  ``tag = "tokenbook/tx/v1"`` (re-derived byte for byte from the document's test vectors and from
  the sample of every kind in ``node/protocol/tests/fixtures/formats.txt``);
- :attr:`Tx.hash` is SHA-256 of the whole encoding, lower-case hex: the name the API gives the tx;
- a value that does not fit its wire type (a negative ``u64``, a symbol outside ``A-Z 0-9 -``, an
  unknown side name) is refused with ``ValueError`` when the object is built, not by the node;
- :func:`decode_tx` reads a tx's canonical bytes back (refusing trailing bytes and unknown tags),
  and :meth:`Payload.from_json` reads the JSON form the API prints (blocks, the document's
  ``payload`` lines), so ``decode_tx(t.encode()) == t`` for every tx built here;
- :class:`Nonces` hands out millisecond nonces that strictly increase within the process
  (docs/wire-format.md, "Nonce rule").

Python values: ids, prices (ticks), quantities (lots), cash (micro-USD) and times (ms) are
``int``; keys and hashes ``bytes`` (32); enum values their JSON names (``"buy"``, ``"limit"``,
``"expire_maker"``, …); a time in force is ``"gtc"``, ``"ioc"``, ``"fok"``, ``"post_only"`` or
``Gtt(ms)``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Union

from . import codec
from .codec import DecodeError, Reader
from .keys import Key, verify

TX_DOMAIN = "tokenbook/tx/v1"
"""The signing domain tag of txs."""
DEVNET_CHAIN_ID = "tokenbook-devnet"
"""The devnet's chain id (a node's ``GET /v1/status`` says its own)."""
MAX_TX_BYTES = 1024
"""Largest encoded tx."""
MAX_BATCH_TXS = 256
"""Most txs in one ``POST /v1/txs`` batch."""
SIGNATURE_BYTES = 64


# --- wire types --------------------------------------------------------------------------------


class _Type:
    """One wire type: how a Python value encodes, decodes and reads from the API's JSON."""

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, r: Reader) -> Any:
        raise NotImplementedError

    def from_json(self, value: Any) -> Any:
        return value


class _Int(_Type):
    def __init__(self, size: int, signed: bool):
        self.size, self.signed = size, signed

    def encode(self, value):
        return codec.integer(value, self.size, self.signed)

    def decode(self, r):
        return r.integer(self.size, self.signed)

    def from_json(self, value):
        # Prices, quantities and cash are JSON strings; other integers are numbers.
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)


class _Bool(_Type):
    def encode(self, value):
        return codec.boolean(value)

    def decode(self, r):
        return r.boolean()


class _Bytes(_Type):
    def __init__(self, size: int):
        self.size = size

    def encode(self, value):
        return codec.fixed(value, self.size)

    def decode(self, r):
        return r.take(self.size)

    def from_json(self, value):
        return bytes.fromhex(value)


class _Str(_Type):
    def encode(self, value):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return codec.string(value)

    def decode(self, r):
        return r.string()


class _Option(_Type):
    def __init__(self, inner: _Type):
        self.inner = inner

    def encode(self, value):
        return codec.option(value, self.inner.encode)

    def decode(self, r):
        return r.option(lambda: self.inner.decode(r))

    def from_json(self, value):
        return None if value is None else self.inner.from_json(value)


class _Names(_Type):
    """An enum without fields: the Python value is its JSON name; the wire its index."""

    def __init__(self, *names: str):
        self.names = names

    def encode(self, value):
        if value not in self.names:
            raise ValueError(f"{value!r} is not one of {', '.join(self.names)}")
        return codec.u32(self.names.index(value))

    def decode(self, r):
        return self.names[r.enum(len(self.names), "/".join(self.names))]


class _Struct(_Type):
    def __init__(self, cls):
        self.cls = cls

    def encode(self, value):
        if not isinstance(value, self.cls):
            raise ValueError(f"expected a {self.cls.__name__}, got {value!r}")
        return value.encode()

    def decode(self, r):
        return self.cls.decode_from(r)

    def from_json(self, value):
        return self.cls.from_json(value)


U32 = _Int(4, False)
U64 = _Int(8, False)
I32 = _Int(4, True)
PRICE = _Int(8, True)   # Price, Qty: i64 (JSON strings)
CASH = _Int(16, True)   # Cash: i128 (a JSON string)
BOOL = _Bool()
KEY = _Bytes(32)              # PublicKey, Hash
STRING = _Str()


class Struct:
    """A struct of the wire format: its fields, in ``FIELDS`` order, nothing between them.

    ``FIELDS`` lists ``(attribute, wire type)``; the JSON key is the attribute without a trailing
    ``_`` (``from_`` is ``"from"``). Subclasses are frozen dataclasses; ``NAME`` (and ``TAG``,
    set by the enum that lists them) are class attributes, not fields.
    """

    FIELDS: ClassVar[Tuple[Tuple[str, _Type], ...]] = ()

    def __post_init__(self):
        self.encode()  # refuses a value that does not fit its wire type, now
        self.check_shape()

    def check_shape(self) -> None:
        """Rules beyond the types (string shapes)."""

    def encode(self) -> bytes:
        out = []
        for name, kind in self.FIELDS:
            try:
                out.append(kind.encode(getattr(self, name)))
            except ValueError as e:
                raise ValueError(f"{type(self).__name__}.{name}: {e}") from None
        return b"".join(out)

    @classmethod
    def decode_from(cls, r: Reader):
        return cls(**{name: kind.decode(r) for name, kind in cls.FIELDS})

    @classmethod
    def from_json(cls, obj: Dict[str, Any]):
        return cls(**{name: kind.from_json(obj[name.rstrip("_")]) for name, kind in cls.FIELDS})


class _Variants(_Type):
    """An enum with fields (``TxBody``, ``GovAction``): a ``u32`` index, then the variant."""

    def __init__(self, name: str, variants: List[type], json_style: str):
        self.name, self.variants, self.json_style = name, variants, json_style
        for tag, cls in enumerate(variants):
            cls.TAG = tag

    def encode(self, value):
        if type(value) not in self.variants:
            raise ValueError(f"expected a {self.name}, got {value!r}")
        return codec.u32(value.TAG) + value.encode()

    def decode(self, r):
        return self.variants[r.enum(len(self.variants), self.name)].decode_from(r)

    def by_name(self, name: str) -> type:
        for cls in self.variants:
            if cls.NAME == name:
                return cls
        raise ValueError(f"unknown {self.name} {name!r}")

    def from_json(self, value):
        if self.json_style == "adjacent":  # {"type": NAME, "body": {...}}
            cls, content = self.by_name(value["type"]), value["body"]
        else:  # externally tagged: {NAME: {...}}
            ((name, content),) = value.items()
            cls = self.by_name(name)
        if getattr(cls, "NEWTYPE", False):
            ((field, kind),) = cls.FIELDS
            return cls(**{field: kind.from_json(content)})
        return cls.from_json(content)


def _symbol_ok(symbol: str) -> bool:
    return 1 <= len(symbol) <= 32 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
                                          for c in symbol)


def _name_ok(name: str) -> bool:
    return 1 <= len(name) <= 64 and all(0x20 <= ord(c) <= 0x7E for c in name)


# --- order types -------------------------------------------------------------------------------

SIDE = _Names("buy", "sell")
ORDER_KIND = _Names("limit", "market")
SELF_TRADE = _Names("expire_maker", "expire_taker", "expire_both")
TRIGGER_KIND = _Names("stop", "take_profit")
MARKET_STATUS_CHANGE = _Names("halt", "resume", "delist")


@dataclass(frozen=True)
class Gtt:
    """Good until the first block whose time is at or past ``expires_at`` (ms)."""

    expires_at: int


class _TimeInForce(_Type):
    NAMES = ("gtc", "gtt", "ioc", "fok", "post_only")

    def encode(self, value):
        if isinstance(value, Gtt):
            return codec.u32(1) + codec.u64(value.expires_at)
        if value not in self.NAMES or value == "gtt":
            raise ValueError(f"time in force {value!r}: use gtc, ioc, fok, post_only or Gtt(ms)")
        return codec.u32(self.NAMES.index(value))

    def decode(self, r):
        tag = r.enum(len(self.NAMES), "TimeInForce")
        return Gtt(r.u64()) if tag == 1 else self.NAMES[tag]

    def from_json(self, value):
        return Gtt(int(value["gtt"])) if isinstance(value, dict) else value


TIME_IN_FORCE = _TimeInForce()


@dataclass(frozen=True)
class OrderRef:
    """One open order of the signing account: by ledger ``id`` or by ``client`` order id."""

    id: Optional[int] = None
    client: Optional[int] = None

    def __post_init__(self):
        if (self.id is None) == (self.client is None):
            raise ValueError("an OrderRef names exactly one of id or client")
        ORDER_REF.encode(self)


class _OrderRef(_Type):
    def encode(self, value):
        if not isinstance(value, OrderRef):
            raise ValueError(f"expected an OrderRef, got {value!r}")
        if value.id is not None:
            return codec.u32(0) + codec.u64(value.id)
        return codec.u32(1) + codec.u64(value.client)

    def decode(self, r):
        tag = r.enum(2, "OrderRef")
        return OrderRef(id=r.u64()) if tag == 0 else OrderRef(client=r.u64())

    def from_json(self, value):
        return OrderRef(id=value.get("id"), client=value.get("client"))


ORDER_REF = _OrderRef()


@dataclass(frozen=True)
class Trigger(Struct):
    """Stop or take-profit: the order enters the book when the mark crosses ``price``."""

    kind: str
    price: int
    FIELDS = (("kind", TRIGGER_KIND), ("price", PRICE))


@dataclass(frozen=True)
class AccountLimits(Struct):
    """Per-account limits a member sets."""

    max_order_qty: int
    max_open_orders: int
    max_position: int
    FIELDS = (("max_order_qty", PRICE), ("max_open_orders", U32), ("max_position", PRICE))


@dataclass(frozen=True)
class MarketParams(Struct):
    """A market's tunable parameters (``params`` in ``GET /v1/markets``)."""

    maker_fee_bps: int
    taker_fee_bps: int
    initial_margin_bps: int
    maintenance_margin_bps: int
    price_band_bps: int
    position_limit: int
    impact_lots: int
    FIELDS = (("maker_fee_bps", I32), ("taker_fee_bps", I32), ("initial_margin_bps", U32),
              ("maintenance_margin_bps", U32), ("price_band_bps", U32),
              ("position_limit", PRICE), ("impact_lots", PRICE))


@dataclass(frozen=True)
class MarketSpec(Struct):
    """A dated future to list."""

    symbol: str
    index: int
    tick_size: int
    lot_size: int
    multiplier: int
    expiry: int
    settlement_window_ms: int
    reference_price: int
    params: MarketParams
    FIELDS = (("symbol", STRING), ("index", U32), ("tick_size", CASH), ("lot_size", U64),
              ("multiplier", U64), ("expiry", U64), ("settlement_window_ms", U64),
              ("reference_price", PRICE), ("params", _Struct(MarketParams)))

    def check_shape(self):
        if not _symbol_ok(self.symbol):
            raise ValueError(f"market symbol {self.symbol!r} must be 1-32 of A-Z 0-9 -")


@dataclass(frozen=True)
class RiskParams(Struct):
    """The global risk parameters (``risk`` in ``GET /v1/clearing``)."""

    oracle_freshness_ms: int
    max_liquidations_per_block: int
    liquidation_fee_bps: int
    calendar_spread_charge_bps: int
    settlement_epoch_ms: int
    mark_band_bps: int
    cross_index_credit_bps: int
    guaranty_floor: int
    guaranty_margin_bps: int
    guaranty_assessment_cap_bps: int
    FIELDS = (("oracle_freshness_ms", U64), ("max_liquidations_per_block", U32),
              ("liquidation_fee_bps", U32), ("calendar_spread_charge_bps", U32),
              ("settlement_epoch_ms", U64), ("mark_band_bps", U32),
              ("cross_index_credit_bps", U32), ("guaranty_floor", CASH),
              ("guaranty_margin_bps", U32), ("guaranty_assessment_cap_bps", U32))


# --- governance actions (GovAction) ------------------------------------------------------------


@dataclass(frozen=True)
class ListMarket(Struct):
    """0: list a new dated future."""

    spec: MarketSpec
    NAME, NEWTYPE = "list_market", True
    FIELDS = (("spec", _Struct(MarketSpec)),)


@dataclass(frozen=True)
class SetMarketParams(Struct):
    """1: change a market's parameters."""

    market: int
    params: MarketParams
    NAME = "set_market_params"
    FIELDS = (("market", U32), ("params", _Struct(MarketParams)))


@dataclass(frozen=True)
class SetMarketStatus(Struct):
    """2: ``"halt"``, ``"resume"`` or ``"delist"`` a market."""

    market: int
    change: str
    NAME = "set_market_status"
    FIELDS = (("market", U32), ("change", MARKET_STATUS_CHANGE))


@dataclass(frozen=True)
class SetRiskParams(Struct):
    """3: replace the global risk parameters."""

    params: RiskParams
    NAME, NEWTYPE = "set_risk_params", True
    FIELDS = (("params", _Struct(RiskParams)),)


@dataclass(frozen=True)
class AddValidator(Struct):
    """4: add a validator (takes effect two heights after approval)."""

    consensus_key: bytes
    network_key: bytes
    power: int
    NAME = "add_validator"
    FIELDS = (("consensus_key", KEY), ("network_key", KEY), ("power", U64))


@dataclass(frozen=True)
class RemoveValidator(Struct):
    """5: remove a validator."""

    consensus_key: bytes
    NAME = "remove_validator"
    FIELDS = (("consensus_key", KEY),)


@dataclass(frozen=True)
class AddMember(Struct):
    """6: admit a member."""

    key: bytes
    name: str
    NAME = "add_member"
    FIELDS = (("key", KEY), ("name", STRING))

    def check_shape(self):
        if not _name_ok(self.name):
            raise ValueError("member name must be 1-64 printable ASCII bytes")


@dataclass(frozen=True)
class RemoveMember(Struct):
    """7: remove a member (refused while it clears any account)."""

    member: int
    NAME = "remove_member"
    FIELDS = (("member", U64),)


@dataclass(frozen=True)
class ListIndex(Struct):
    """8: create an index members can publish."""

    name: str
    NAME = "list_index"
    FIELDS = (("name", STRING),)

    def check_shape(self):
        if not _name_ok(self.name):
            raise ValueError("index name must be 1-64 printable ASCII bytes")


@dataclass(frozen=True)
class FundInsurance(Struct):
    """9: move cash from the fee pool to the insurance fund."""

    amount: int
    NAME = "fund_insurance"
    FIELDS = (("amount", CASH),)


@dataclass(frozen=True)
class TransferAccounts(Struct):
    """10: every account member ``from_`` clears moves to member ``to``."""

    from_: int
    to: int
    NAME = "transfer_accounts"
    FIELDS = (("from_", U64), ("to", U64))


GovAction = Union[ListMarket, SetMarketParams, SetMarketStatus, SetRiskParams, AddValidator,
                  RemoveValidator, AddMember, RemoveMember, ListIndex, FundInsurance,
                  TransferAccounts]
GOV_ACTION = _Variants("GovAction", [ListMarket, SetMarketParams, SetMarketStatus, SetRiskParams,
                                     AddValidator, RemoveValidator, AddMember, RemoveMember,
                                     ListIndex, FundInsurance, TransferAccounts], "external")


# --- tx bodies (TxBody) ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceOrder(Struct):
    """0: place an order (``NewOrder``). ``kind="market"`` makes ``price`` the protection price
    and needs ``"ioc"`` or ``"fok"``."""

    market: int
    side: str
    price: int
    qty: int
    kind: str = "limit"
    time_in_force: Union[str, Gtt] = "gtc"
    reduce_only: bool = False
    client_order_id: Optional[int] = None
    self_trade: str = "expire_maker"
    trigger: Optional[Trigger] = None
    NAME = "place_order"
    FIELDS = (("market", U32), ("side", SIDE), ("kind", ORDER_KIND), ("price", PRICE),
              ("qty", PRICE), ("time_in_force", TIME_IN_FORCE), ("reduce_only", BOOL),
              ("client_order_id", _Option(U64)), ("self_trade", SELF_TRADE),
              ("trigger", _Option(_Struct(Trigger))))


@dataclass(frozen=True)
class CancelOrder(Struct):
    """1: cancel one order."""

    market: int
    order: OrderRef
    NAME = "cancel_order"
    FIELDS = (("market", U32), ("order", ORDER_REF))


@dataclass(frozen=True)
class CancelAll(Struct):
    """2: cancel every open order, in one market (or all with ``market=None``)."""

    market: Optional[int] = None
    NAME = "cancel_all"
    FIELDS = (("market", _Option(U32)),)


@dataclass(frozen=True)
class ReplaceOrder(Struct):
    """3: change an open order's price and size."""

    market: int
    order: OrderRef
    new_price: int
    new_qty: int
    NAME = "replace_order"
    FIELDS = (("market", U32), ("order", ORDER_REF), ("new_price", PRICE), ("new_qty", PRICE))


@dataclass(frozen=True)
class SetDeadman(Struct):
    """4: arm, refresh (``timeout_ms`` > 0) or disarm (0) the dead-man's switch."""

    timeout_ms: int
    NAME = "set_deadman"
    FIELDS = (("timeout_ms", U64),)


@dataclass(frozen=True)
class AuthoriseKey(Struct):
    """5: authorise a scoped trading key, optionally until a block time."""

    key: bytes
    expires_at: Optional[int] = None
    NAME = "authorise_key"
    FIELDS = (("key", KEY), ("expires_at", _Option(U64)))


@dataclass(frozen=True)
class RevokeKey(Struct):
    """6: revoke a scoped trading key."""

    key: bytes
    NAME = "revoke_key"
    FIELDS = (("key", KEY),)


@dataclass(frozen=True)
class RegisterAccount(Struct):
    """7 (member): register a trader account owned by ``owner``."""

    owner: bytes
    limits: AccountLimits
    self_trade_group: int = 0
    NAME = "register_account"
    FIELDS = (("owner", KEY), ("limits", _Struct(AccountLimits)), ("self_trade_group", U64))


@dataclass(frozen=True)
class Deposit(Struct):
    """8 (member): attest a deposit (``CashTransfer``); a ``reference`` is used once per member."""

    account: int
    amount: int
    reference: bytes
    NAME = "deposit"
    FIELDS = (("account", U64), ("amount", CASH), ("reference", KEY))


@dataclass(frozen=True)
class Withdraw(Struct):
    """9 (member): attest a withdrawal (``CashTransfer``)."""

    account: int
    amount: int
    reference: bytes
    NAME = "withdraw"
    FIELDS = (("account", U64), ("amount", CASH), ("reference", KEY))


@dataclass(frozen=True)
class SetLimits(Struct):
    """10 (member): replace an account's limits."""

    account: int
    limits: AccountLimits
    NAME = "set_limits"
    FIELDS = (("account", U64), ("limits", _Struct(AccountLimits)))


@dataclass(frozen=True)
class SetFrozen(Struct):
    """11 (member): freeze or unfreeze an account."""

    account: int
    frozen: bool
    NAME = "set_frozen"
    FIELDS = (("account", U64), ("frozen", BOOL))


@dataclass(frozen=True)
class PublishIndex(Struct):
    """12 (member): an index observation (``price`` in micro-USD per quoted unit)."""

    index: int
    price: int
    observed_at: int
    NAME = "publish_index"
    FIELDS = (("index", U32), ("price", CASH), ("observed_at", U64))


@dataclass(frozen=True)
class Propose(Struct):
    """13 (member): propose a governance action (the proposer's approval counts)."""

    action: GovAction
    expires_at: int
    NAME = "propose"
    FIELDS = (("action", GOV_ACTION), ("expires_at", U64))


@dataclass(frozen=True)
class Approve(Struct):
    """14 (member): approve an open proposal."""

    proposal: int
    NAME = "approve"
    FIELDS = (("proposal", U64),)


@dataclass(frozen=True)
class PostGuaranty(Struct):
    """15 (member): move own cash into the guaranty-fund contribution."""

    amount: int
    NAME = "post_guaranty"
    FIELDS = (("amount", CASH),)


@dataclass(frozen=True)
class ReleaseGuaranty(Struct):
    """16 (member): take back contribution above the requirement."""

    amount: int
    NAME = "release_guaranty"
    FIELDS = (("amount", CASH),)


Body = Union[PlaceOrder, CancelOrder, CancelAll, ReplaceOrder, SetDeadman, AuthoriseKey,
             RevokeKey, RegisterAccount, Deposit, Withdraw, SetLimits, SetFrozen, PublishIndex,
             Propose, Approve, PostGuaranty, ReleaseGuaranty]
TX_BODY = _Variants("TxBody", [PlaceOrder, CancelOrder, CancelAll, ReplaceOrder, SetDeadman,
                               AuthoriseKey, RevokeKey, RegisterAccount, Deposit, Withdraw,
                               SetLimits, SetFrozen, PublishIndex, Propose, Approve, PostGuaranty,
                               ReleaseGuaranty], "adjacent")


# --- the envelope ------------------------------------------------------------------------------


def signing_preimage(domain: str, chain_id: str, payload: bytes) -> bytes:
    """``u64le(len(domain)) ‖ domain ‖ u64le(len(chain_id)) ‖ chain_id ‖ payload``."""
    return codec.string(domain) + codec.string(chain_id) + payload


def _check_chain_id(chain_id: str) -> None:
    ok = 1 <= len(chain_id) <= 64 and all(c in "abcdefghijklmnopqrstuvwxyz0123456789-_."
                                          for c in chain_id)
    if not ok:
        raise ValueError(f"chain id {chain_id!r} must be 1-64 of a-z 0-9 - _ .")


@dataclass(frozen=True)
class Payload(Struct):
    """The signed part of a tx: who acts, which key signs, the nonce, what to do."""

    account: int
    signer: bytes
    nonce: int
    body: Body
    FIELDS = (("account", U64), ("signer", KEY), ("nonce", U64), ("body", TX_BODY))

    def preimage(self, chain_id: str) -> bytes:
        """The exact bytes the signature covers."""
        _check_chain_id(chain_id)
        return signing_preimage(TX_DOMAIN, chain_id, self.encode())

    def sign(self, key: Key, chain_id: str) -> "Tx":
        """The signed tx (``key`` must be the ``signer``)."""
        if key.public_key != self.signer:
            raise ValueError("the key is not the payload's signer")
        return Tx(self, key.sign(self.preimage(chain_id)))


@dataclass(frozen=True)
class Tx:
    """A signed transaction: the payload's encoding followed by the 64-byte signature."""

    payload: Payload
    signature: bytes

    def __post_init__(self):
        codec.fixed(self.signature, SIGNATURE_BYTES)
        if len(self.encode()) > MAX_TX_BYTES:
            raise ValueError(f"a tx is at most {MAX_TX_BYTES} bytes")

    def encode(self) -> bytes:
        """The canonical bytes (what ``POST /v1/tx`` takes)."""
        return self.payload.encode() + self.signature

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical bytes, lower-case hex."""
        return hashlib.sha256(self.encode()).hexdigest()

    def verify(self, chain_id: str) -> bool:
        """True when the signature is the signer's over the payload for ``chain_id``."""
        return verify(self.payload.signer, self.payload.preimage(chain_id), self.signature)

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "Tx":
        """A tx in the JSON form the API prints (``GET /v1/blocks/{h}``'s ``txs``)."""
        return cls(Payload.from_json(obj), bytes.fromhex(obj["signature"]))


def decode_tx(data: bytes) -> Tx:
    """A tx from its canonical bytes."""
    if len(data) > MAX_TX_BYTES:
        raise DecodeError(f"a tx is at most {MAX_TX_BYTES} bytes, not {len(data)}")
    r = Reader(data, "tx")
    try:
        tx = Tx(Payload.decode_from(r), r.take(SIGNATURE_BYTES))
    except ValueError as e:  # a decoded value breaking a shape rule
        if isinstance(e, DecodeError):
            raise
        raise DecodeError(f"tx is malformed: {e}") from None
    r.finish()
    return tx


def encode_batch(txs: List[Tx]) -> bytes:
    """A ``TxBatch`` (``POST /v1/txs``): a ``u64`` count, then each tx's bytes."""
    if not 1 <= len(txs) <= MAX_BATCH_TXS:
        raise ValueError(f"a batch holds 1..={MAX_BATCH_TXS} txs, not {len(txs)}")
    return codec.u64(len(txs)) + b"".join(t.encode() for t in txs)


class Nonces:
    """Millisecond nonces that strictly increase within the process (thread-safe): the wall
    clock, bumped by one when it would repeat or go back."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(int(self._clock() * 1000), self._last + 1)
            return self._last


NONCES = Nonces()
"""The process's nonce source (used by :func:`sign` when no nonce is given)."""


def sign(key: Key, account: int, body: Body, chain_id: str = DEVNET_CHAIN_ID,
         nonce: Optional[int] = None) -> Tx:
    """Signs ``body`` for ``account`` with ``key`` (its owner key, a scoped key, or for member
    bodies the member's key), with the next process nonce unless one is given."""
    if nonce is None:
        nonce = NONCES.next()
    return Payload(account, key.public_key, nonce, body).sign(key, chain_id)
