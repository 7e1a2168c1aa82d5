"""Units: the integers the ledger holds beside the decimals people read.

Promises (docs/api.md, "Units"): prices are ticks of a market's ``tick_size`` (micro-USD per
quoted unit: per 1M output tokens, or per H100-hour); cash is micro-USD. The conversions are
exact (``Decimal`` with enough precision for any ``i128``; floats are refused), and a USD price or
amount that is not a whole number of ticks or micro-USD is refused with ``ValueError`` rather than
rounded, unless ``rounding`` is given (a ``decimal`` rounding mode such as
``decimal.ROUND_FLOOR``).
"""

from __future__ import annotations

from decimal import Context, Decimal
from typing import Optional, Union

MICRO = Decimal(1_000_000)
_EXACT = Context(prec=100)  # an i128 has 39 digits; a tick size at most as many
Number = Union[Decimal, int, str]


def _decimal(value: Number) -> Decimal:
    if isinstance(value, float):
        raise ValueError("pass a Decimal, an int or a string: a float is not an exact decimal")
    return Decimal(value)


def _whole(value: Decimal, what: str, rounding: Optional[str]) -> int:
    if rounding is not None:
        return int(value.to_integral_value(rounding=rounding))
    if value != value.to_integral_value():
        raise ValueError(f"{what} is not a whole number")
    return int(value)


def cash_to_usd(micro_usd: Union[int, str]) -> Decimal:
    """Micro-USD (int or the API's string) as USD."""
    return _EXACT.divide(Decimal(int(micro_usd)), MICRO)


def usd_to_cash(usd: Number, rounding: Optional[str] = None) -> int:
    """USD as micro-USD."""
    return _whole(_EXACT.multiply(_decimal(usd), MICRO), f"{usd} USD in micro-USD", rounding)


def ticks_to_usd(ticks: Union[int, str], tick_size: Union[int, str]) -> Decimal:
    """A price in ticks as USD per quoted unit, given the market's ``tick_size`` (micro-USD)."""
    return _EXACT.divide(_EXACT.multiply(Decimal(int(ticks)), Decimal(int(tick_size))), MICRO)


def usd_to_ticks(usd: Number, tick_size: Union[int, str], rounding: Optional[str] = None) -> int:
    """A USD price per quoted unit in ticks of ``tick_size`` (micro-USD per tick)."""
    ticks = _EXACT.divide(_EXACT.multiply(_decimal(usd), MICRO), Decimal(int(tick_size)))
    return _whole(ticks, f"{usd} USD in ticks of {tick_size} micro-USD", rounding)
