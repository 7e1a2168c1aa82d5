"""The canonical binary encoding: bincode 2 with fixed-width little-endian integers.

Promises (docs/wire-format.md, "Primitives"):

- every encoder here writes exactly the bytes the node's ``tokenbook_protocol::codec::encode``
  writes: integers fixed-width little-endian, ``bool`` one byte, ``Option`` a ``00``/``01`` tag,
  enums a ``u32`` variant index, ``String``/``Vec`` a ``u64`` length then the items, keys and
  hashes their 32 raw bytes;
- an encoder refuses a value that does not fit its type (``ValueError``) instead of wrapping it;
- :class:`Reader` decodes the same layout and refuses what the node's decoder refuses: input that
  ends early, bool and option tags other than 0/1, invalid UTF-8, length prefixes beyond the
  input, and (with :meth:`Reader.finish`) trailing bytes. Its failures are :class:`DecodeError`.
"""

from __future__ import annotations

from typing import Callable, List, Optional, TypeVar

T = TypeVar("T")


class DecodeError(ValueError):
    """Bytes that are not a value of the expected type."""


def integer(value: int, size: int, signed: bool) -> bytes:
    """A fixed-width little-endian integer of ``size`` bytes."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    try:
        return value.to_bytes(size, "little", signed=signed)
    except OverflowError:
        kind = ("i" if signed else "u") + str(size * 8)
        raise ValueError(f"{value} does not fit a {kind}") from None


def u32(value: int) -> bytes:
    """A ``u32``, little-endian."""
    return integer(value, 4, False)


def u64(value: int) -> bytes:
    """A ``u64``, little-endian."""
    return integer(value, 8, False)


def boolean(value: bool) -> bytes:
    """A ``bool``: ``00`` or ``01``."""
    if not isinstance(value, bool):
        raise ValueError(f"expected a bool, got {value!r}")
    return b"\x01" if value else b"\x00"


def fixed(value: bytes, size: int) -> bytes:
    """Raw bytes of a fixed-size array (``PublicKey``, ``Hash``: 32; ``Signature``: 64)."""
    if not isinstance(value, (bytes, bytearray)) or len(value) != size:
        raise ValueError(f"expected {size} bytes, got {value!r}")
    return bytes(value)


def string(value: str) -> bytes:
    """A ``String``: ``u64`` byte length, then UTF-8."""
    data = value.encode("utf-8")
    return u64(len(data)) + data


def option(value: Optional[T], encode: Callable[[T], bytes]) -> bytes:
    """An ``Option<T>``: ``00``, or ``01`` then the value."""
    return b"\x00" if value is None else b"\x01" + encode(value)


class Reader:
    """Reads the canonical layout from a byte string, front to back."""

    def __init__(self, data: bytes, what: str = "value"):
        self.data = bytes(data)
        self.pos = 0
        self.what = what

    def take(self, size: int) -> bytes:
        """The next ``size`` raw bytes."""
        if size < 0 or self.pos + size > len(self.data):
            raise DecodeError(f"{self.what} is truncated at byte {self.pos}")
        out = self.data[self.pos:self.pos + size]
        self.pos += size
        return out

    def integer(self, size: int, signed: bool) -> int:
        """A fixed-width little-endian integer of ``size`` bytes."""
        return int.from_bytes(self.take(size), "little", signed=signed)

    def u8(self) -> int:
        return self.integer(1, False)

    def u32(self) -> int:
        return self.integer(4, False)

    def u64(self) -> int:
        return self.integer(8, False)

    def i64(self) -> int:
        return self.integer(8, True)

    def i128(self) -> int:
        return self.integer(16, True)

    def boolean(self) -> bool:
        byte = self.u8()
        if byte > 1:
            raise DecodeError(f"{self.what} has a bool byte {byte:#04x}")
        return byte == 1

    def option(self, read: Callable[[], T]) -> Optional[T]:
        tag = self.u8()
        if tag > 1:
            raise DecodeError(f"{self.what} has an option tag {tag:#04x}")
        return read() if tag == 1 else None

    def length(self) -> int:
        """A ``u64`` length prefix, refused when it claims more items than bytes remain."""
        n = self.u64()
        if n > len(self.data) - self.pos:
            raise DecodeError(f"{self.what} declares {n} items with {len(self.data) - self.pos} "
                              "bytes left")
        return n

    def bytes_vec(self) -> bytes:
        """A ``Vec<u8>``."""
        return self.take(self.length())

    def string(self) -> str:
        try:
            return self.bytes_vec().decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"{self.what} has a string that is not UTF-8") from None

    def vec(self, read: Callable[[], T]) -> List[T]:
        return [read() for _ in range(self.length())]

    def enum(self, count: int, name: str) -> int:
        """A ``u32`` variant index below ``count``."""
        tag = self.u32()
        if tag >= count:
            raise DecodeError(f"{self.what} has an unknown {name} tag {tag}")
        return tag

    def finish(self) -> None:
        """Refuses bytes left after a complete value."""
        if self.pos != len(self.data):
            raise DecodeError(f"{self.what} has {len(self.data) - self.pos} trailing bytes")


__all__ = ["DecodeError", "Reader", "boolean", "fixed", "integer", "option", "string", "u32",
           "u64"]
