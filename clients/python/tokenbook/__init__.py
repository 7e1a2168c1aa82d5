"""tokenbook: a Python client of a tokenbook node.

- :mod:`tokenbook.keys` — ed25519 keys (generate, load the CLI's and the devnet's key files);
- :mod:`tokenbook.tx` — every tx kind of docs/wire-format.md: encode, sign, hash, batch, decode;
- :mod:`tokenbook.client` — the HTTP API (docs/api.md), errors as :class:`ApiError`;
- :mod:`tokenbook.stream` — the WebSocket streams: a local level-2 book, blocks/trades/events;
- :mod:`tokenbook.proofs` — state proofs verified in pure Python against a state root;
- :mod:`tokenbook.state` — state keys and the proven account record;
- :mod:`tokenbook.units` — ticks and micro-USD ⇄ decimal USD.
"""

from .client import Client
from .errors import ApiError
from .keys import Key
from .proofs import ProofError, StateProof, decode_state_proof
from .state import Account, account_key, decode_account
from .stream import BookFeed, EventStream, L2Book, StreamError
from .tx import Nonces, Tx, decode_tx, encode_batch, sign

__version__ = "0.1.0"

__all__ = ["Account", "ApiError", "BookFeed", "Client", "EventStream", "Key", "L2Book", "Nonces",
           "ProofError", "StateProof", "StreamError", "Tx", "account_key", "decode_account",
           "decode_state_proof", "decode_tx", "encode_batch", "sign"]
