"""ed25519 keys: generate, load and save them, sign with them.

Promises:

- a key file is what the ``tokenbook`` CLI and ``tokenbook-devnet`` write: the 32-byte ed25519
  seed as 64 hex characters (``members/member-N.key``, ``traders/trader-N.key``, ``~/.tokenbook/
  keys/NAME.key``); surrounding whitespace is ignored;
- like the CLI, :meth:`Key.load` refuses a key file that group or others may read, naming the fix,
  and :meth:`Key.save` creates the file with mode 0600 and never overwrites one;
- :meth:`Key.sign` is plain RFC 8032 ed25519 (no pre-hashing, no context), which is what the node
  verifies (docs/wire-format.md, "Signature validity").
"""

from __future__ import annotations

import os
import stat

from nacl.signing import SigningKey, VerifyKey


class Key:
    """An ed25519 key pair."""

    def __init__(self, signing_key: SigningKey):
        self._key = signing_key

    @classmethod
    def generate(cls) -> "Key":
        """A fresh key from the operating system's randomness."""
        return cls(SigningKey.generate())

    @classmethod
    def from_seed(cls, seed) -> "Key":
        """The key of a 32-byte seed, given as bytes or 64 hex characters."""
        if isinstance(seed, str):
            try:
                seed = bytes.fromhex(seed.strip())
            except ValueError:
                raise ValueError("a seed is 64 hex characters") from None
        if len(seed) != 32:
            raise ValueError("a seed is 32 bytes (64 hex characters)")
        return cls(SigningKey(bytes(seed)))

    @classmethod
    def load(cls, path) -> "Key":
        """The key in a key file (hex seed), refused if group or others may read it."""
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PermissionError(f"{path} is readable by others; run chmod 600 on it")
        with open(path, encoding="ascii") as f:
            text = f.read()
        try:
            return cls.from_seed(text)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    def save(self, path) -> None:
        """Writes the hex seed to a new file with mode 0600 (an existing file is an error)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(self.seed.hex())

    @property
    def seed(self) -> bytes:
        """The 32-byte secret seed."""
        return bytes(self._key)

    @property
    def public_key(self) -> bytes:
        """The 32-byte public key (the ``signer`` of a tx, an account's ``owner``)."""
        return bytes(self._key.verify_key)

    @property
    def public_key_hex(self) -> str:
        """The public key as lower-case hex, as the API prints it."""
        return self.public_key.hex()

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature ``R ‖ s`` of ``message``."""
        return self._key.sign(message).signature

    def __repr__(self) -> str:
        return f"Key({self.public_key_hex})"


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s signature of ``message``."""
    try:
        VerifyKey(public_key).verify(message, signature)
        return True
    except Exception:  # nacl raises BadSignatureError, or ValueError for malformed input
        return False
