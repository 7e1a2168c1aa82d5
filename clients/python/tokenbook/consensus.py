"""What an auditor checks of consensus: votes, proposals, validator sets and commit certificates
(docs/wire-format.md, "Consensus messages").

Promises:

- :func:`vote_payload`, :func:`proposal_payload` and :func:`validator_set_encoding` write the
  node's canonical bytes (re-derived from the document's ``vote-vector``, ``proposal-vector`` and
  ``validator-set-vector`` blocks by the tests);
- :func:`block_hash` is the SHA-256 of a block's header, read from the block's canonical bytes
  (``GET /v1/blocks/{height}?format=raw``);
- :func:`verify_certificate` accepts a certificate only when it names the block and height, every
  signature is a distinct member of the given validator set and verifies over the precommit's
  preimage, and the signers hold more than two thirds of the set's power; otherwise it raises
  :class:`CertificateError` saying which rule failed. PyNaCl's verification is RFC 8032's; the
  node's is stricter (``verify_strict``), so a certificate this accepts the node may still refuse,
  never the other way round for honest signatures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

from .codec import Reader, fixed, option, u32, u64
from .keys import verify
from .tx import signing_preimage

VOTE_DOMAIN = "tokenbook/vote/v1"
PROPOSAL_DOMAIN = "tokenbook/proposal/v1"
PREVOTE, PRECOMMIT = 0, 1


class CertificateError(ValueError):
    """A commit certificate that does not prove its block."""


@dataclass(frozen=True)
class Validator:
    """One member of a validator set."""

    consensus_key: bytes
    network_key: bytes
    power: int

    @classmethod
    def from_json(cls, v: dict) -> "Validator":
        """From ``GET /v1/status``'s ``validators`` entries."""
        return cls(bytes.fromhex(v["consensus_key"]), bytes.fromhex(v["network_key"]),
                   int(v["power"]))


def vote_payload(kind: int, height: int, round_: int, value: Optional[bytes],
                 validator: bytes) -> bytes:
    """A ``VotePayload``: kind (0 prevote, 1 precommit), height, round, block hash or nil,
    voter."""
    return (u32(kind) + u64(height) + u32(round_) + option(value, lambda h: fixed(h, 32))
            + fixed(validator, 32))


def proposal_payload(height: int, round_: int, pol_round: Optional[int], value: bytes,
                     proposer: bytes) -> bytes:
    """A ``ProposalPayload``."""
    return (u64(height) + u32(round_) + option(pol_round, u32) + fixed(value, 32)
            + fixed(proposer, 32))


def validator_set_encoding(validators: Iterable[Validator]) -> bytes:
    """A ``ValidatorSet``: the count, then each validator sorted by consensus key."""
    ordered = sorted(validators, key=lambda v: v.consensus_key)
    return u64(len(ordered)) + b"".join(
        fixed(v.consensus_key, 32) + fixed(v.network_key, 32) + u64(v.power) for v in ordered)


def validator_set_hash(validators: Iterable[Validator]) -> bytes:
    """What a header's ``validator_set_hash`` holds for this set."""
    return hashlib.sha256(validator_set_encoding(validators)).digest()


@dataclass(frozen=True)
class Header:
    """The fields of a block header an auditor links blocks with."""

    chain_id: str
    height: int
    time: int
    proposer: bytes
    prev_block_hash: bytes
    prev_certificate_hash: bytes
    tx_root: bytes
    state_root: bytes
    validator_set_hash: bytes
    next_validator_set_hash: bytes
    hash: bytes


def read_header(block: bytes) -> Header:
    """The header at the front of a block's canonical bytes, with its hash."""
    r = Reader(block, "block")
    chain_id, height, time = r.string(), r.u64(), r.u64()
    fields = [r.take(32) for _ in range(7)]
    return Header(chain_id, height, time, *fields, hash=hashlib.sha256(block[:r.pos]).digest())


def block_hash(block: bytes) -> bytes:
    """The block's hash: SHA-256 of its header's encoding."""
    return read_header(block).hash


@dataclass(frozen=True)
class Certificate:
    """A decoded ``CommitCertificate``."""

    height: int
    round: int
    block_hash: bytes
    signatures: List[Tuple[bytes, bytes]]


def decode_certificate(data: bytes) -> Certificate:
    """A certificate's canonical bytes (``GET /v1/blocks/{height}/certificate``)."""
    r = Reader(data, "certificate")
    height, round_, value = r.u64(), r.u32(), r.take(32)
    signatures = r.vec(lambda: (r.take(32), r.take(64)))
    r.finish()
    return Certificate(height, round_, value, signatures)


def verify_certificate(data: bytes, height: int, block: bytes, validators: List[Validator],
                       chain_id: str) -> Certificate:
    """Checks that the certificate ``data`` decides ``block`` at ``height`` under
    ``validators``; returns it decoded, or raises :class:`CertificateError`."""
    cert = decode_certificate(data)
    if cert.height != height or cert.block_hash != block_hash(block):
        raise CertificateError(f"the certificate is for height {cert.height}, another block")
    power = {v.consensus_key: v.power for v in validators}
    signed, seen = 0, set()
    for key, signature in cert.signatures:
        if key not in power or key in seen:
            raise CertificateError(f"signer {key.hex()} is not a distinct validator")
        seen.add(key)
        payload = vote_payload(PRECOMMIT, cert.height, cert.round, cert.block_hash, key)
        if not verify(key, signing_preimage(VOTE_DOMAIN, chain_id, payload), signature):
            raise CertificateError(f"the precommit of {key.hex()} does not verify")
        signed += power[key]
    if 3 * signed <= 2 * sum(power.values()):
        raise CertificateError(f"signers hold {signed} of {sum(power.values())}: not > 2/3")
    return cert
