"""The HTTP client of a tokenbook node (docs/api.md).

Promises:

- one method per route, answering the route's JSON as Python values (``dict``/``list``; integers
  the API sends as strings stay strings, as the API sends them), or bytes for the raw routes;
- every refusal — an answer with a 4xx/5xx status — raises :class:`~tokenbook.errors.ApiError`
  with the status and the JSON ``code`` and ``message``; a receipt that is committed but
  ``accepted: false`` is an answer, not an error (:meth:`Client.submit` returns it);
- :meth:`Client.submit` posts a tx's canonical bytes as ``application/octet-stream``, optionally
  waiting for the commit (``?wait=commit``); :meth:`Client.submit_batch` posts a ``TxBatch``;
- :meth:`Client.sign` signs with the node's own chain id (read once from ``GET /v1/status``) and
  the process's nonce source.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Dict, List, Optional, Union
from urllib.parse import quote

import requests

from . import tx as txmod
from . import units
from .errors import ApiError
from .keys import Key
from .proofs import StateProof, verify_state_answer
from .state import Account, verify_account_answer

OCTET_STREAM = "application/octet-stream"


def _hex(value: Union[bytes, str]) -> str:
    return value.hex() if isinstance(value, (bytes, bytearray)) else value


class Client:
    """A node's API at ``base_url`` (``http://127.0.0.1:8080``)."""

    def __init__(self, base_url: str, timeout: float = 30.0,
                 session: Optional[requests.Session] = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self._chain_id: Optional[str] = None

    # --- plumbing ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, raw: bool = False, **kwargs) -> Any:
        response = self.session.request(method, self.base_url + path,
                                        timeout=kwargs.pop("timeout", self.timeout), **kwargs)
        if response.status_code >= 400:
            raise ApiError.from_body(response.status_code, response.content)
        return response.content if raw else response.json()

    def _get(self, path: str, raw: bool = False, **params) -> Any:
        params = {k: ("true" if v is True else v) for k, v in params.items() if v is not None}
        return self._request("GET", path, raw=raw, params=params)

    # --- submitting ----------------------------------------------------------------------------

    @property
    def chain_id(self) -> str:
        """The node's chain id (asked once)."""
        if self._chain_id is None:
            self._chain_id = self.status()["chain_id"]
        return self._chain_id

    def sign(self, key: Key, account: int, body: txmod.Body,
             nonce: Optional[int] = None) -> txmod.Tx:
        """``body`` signed by ``key`` for ``account`` on this node's chain."""
        return txmod.sign(key, account, body, self.chain_id, nonce)

    def submit(self, signed: Union[txmod.Tx, bytes], wait: bool = False) -> Dict[str, Any]:
        """``POST /v1/tx``: ``{"hash"}`` once admitted (202), or with ``wait`` the committed
        receipt (``accepted`` true with ``events``, or false with ``code`` and ``message``)."""
        body = signed.encode() if isinstance(signed, txmod.Tx) else signed
        return self._request("POST", "/v1/tx", data=body,
                             params={"wait": "commit"} if wait else None,
                             headers={"content-type": OCTET_STREAM})

    def submit_batch(self, txs: List[txmod.Tx]) -> List[Dict[str, Any]]:
        """``POST /v1/txs``: one answer per tx, in order: ``{"hash", "status": "pending"}`` or
        ``{"hash", "status": "refused", "code", "message", "http_status"}``."""
        return self._request("POST", "/v1/txs", data=txmod.encode_batch(txs),
                             headers={"content-type": OCTET_STREAM})["results"]

    def tx_status(self, tx_hash: str) -> Dict[str, Any]:
        """``GET /v1/tx/{hash}``: pending, committed (the receipt) or dropped."""
        return self._get(f"/v1/tx/{tx_hash}")

    def wait_for_tx(self, tx_hash: str, timeout: float = 30.0,
                    interval: float = 0.05) -> Dict[str, Any]:
        """Polls :meth:`tx_status` until the tx is committed or dropped; ``TimeoutError`` after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer = self.tx_status(tx_hash)
                if answer["status"] in ("committed", "dropped"):
                    return answer
            except ApiError as e:
                if e.code != "tx_unknown":  # not yet seen by this node
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"tx {tx_hash} not committed within {timeout} s")
            time.sleep(interval)

    # --- reads ---------------------------------------------------------------------------------

    def status(self) -> Dict[str, Any]:
        """``GET /v1/status``."""
        return self._get("/v1/status")

    def markets(self) -> List[Dict[str, Any]]:
        """``GET /v1/markets``."""
        return self._get("/v1/markets")

    def market(self, symbol: str) -> Dict[str, Any]:
        """One market of ``GET /v1/markets`` by symbol (``ApiError`` 404 ``market_unknown``)."""
        for market in self.markets():
            if market["symbol"] == symbol:
                return market
        raise ApiError(404, "market_unknown", f"no market {symbol!r}")

    def book(self, symbol: str, depth: Optional[int] = None) -> Dict[str, Any]:
        """``GET /v1/markets/{symbol}/book``: levels best first (depth ≤ 1,000, default 20)."""
        return self._get(f"/v1/markets/{quote(symbol)}/book", depth=depth)

    def trades(self, symbol: str) -> List[Dict[str, Any]]:
        """``GET /v1/markets/{symbol}/trades``: the fills of the last 1,000 heights."""
        return self._get(f"/v1/markets/{quote(symbol)}/trades")["trades"]

    def account(self, account_id: int, prove: bool = False,
                height: Optional[int] = None) -> Dict[str, Any]:
        """``GET /v1/accounts/{id}``; with ``prove`` the answer carries ``proof``."""
        return self._get(f"/v1/accounts/{account_id}", prove=prove or None, height=height)

    def clearing(self) -> Dict[str, Any]:
        """``GET /v1/clearing``."""
        return self._get("/v1/clearing")

    def clearing_events(self, since_ms: Optional[int] = None, from_height: Optional[int] = None,
                        limit: Optional[int] = None) -> Dict[str, Any]:
        """``GET /v1/clearing/events``: every account's liquidations, ADL and default-waterfall
        events, oldest first (default: the last day of block time); continue a page with
        ``from_height=answer["next_from_height"]``."""
        return self._get("/v1/clearing/events", since_ms=since_ms, from_height=from_height,
                         limit=limit)

    def key(self, public_key: Union[bytes, str]) -> Dict[str, Any]:
        """``GET /v1/keys/{public_key}``: the account a key signs for."""
        return self._get(f"/v1/keys/{_hex(public_key)}")

    def proposals(self) -> List[Dict[str, Any]]:
        """``GET /v1/proposals``."""
        return self._get("/v1/proposals")

    def block(self, height: int, raw: bool = False) -> Union[Dict[str, Any], bytes]:
        """``GET /v1/blocks/{height}``: ``{"block", "certificate"}``, or with ``raw`` the
        block's canonical bytes."""
        if raw:
            return self._get(f"/v1/blocks/{height}", raw=True, format="raw")
        return self._get(f"/v1/blocks/{height}")

    def certificate(self, height: int) -> bytes:
        """``GET /v1/blocks/{height}/certificate``: the certificate's canonical bytes."""
        return self._get(f"/v1/blocks/{height}/certificate", raw=True)

    def state(self, key: Union[bytes, str], height: Optional[int] = None) -> Dict[str, Any]:
        """``GET /v1/state/{key}``: a state key's value and proof (hex)."""
        return self._get(f"/v1/state/{_hex(key)}", height=height)

    def state_root(self, height: int) -> str:
        """``GET /v1/state-root/{height}``: the state root after ``height``."""
        return self._get(f"/v1/state-root/{height}")["state_root"]

    def metrics(self) -> str:
        """``GET /metrics`` (Prometheus text)."""
        return self._get("/metrics", raw=True).decode("utf-8")

    # --- verified reads ------------------------------------------------------------------------

    def proven_state(self, key: Union[bytes, str], height: Optional[int] = None,
                     state_root: Optional[str] = None) -> StateProof:
        """A state key's value (``.value``; ``None`` when absent) with its proof checked against
        ``state_root`` (default: the root the node names for that height)."""
        return verify_state_answer(self.state(key, height), state_root)

    def proven_account(self, account_id: int, height: Optional[int] = None,
                       state_root: Optional[str] = None) -> Account:
        """An account's record, proven against ``state_root`` (default: the root the node names)
        and checked against the JSON answer."""
        return verify_account_answer(self.account(account_id, prove=True, height=height),
                                     state_root)

    # --- units ---------------------------------------------------------------------------------

    def price_to_ticks(self, symbol: str, usd: Union[Decimal, int, str]) -> int:
        """A USD price in ``symbol``'s ticks (refused if not a whole number of ticks)."""
        return units.usd_to_ticks(usd, self.market(symbol)["tick_size"])

    def ticks_to_price(self, symbol: str, ticks: Union[int, str]) -> Decimal:
        """``symbol``'s ticks as a USD price."""
        return units.ticks_to_usd(ticks, self.market(symbol)["tick_size"])
