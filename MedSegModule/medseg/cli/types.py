"""argparse types for numeric options: each checks the type and the range, so a bad value is a
usage error (exit 2, one line naming the option) before any work starts.

NaN and infinities are refused everywhere: no option means "not a number".
"""

from __future__ import annotations

import argparse
import math


def integer(lo: int | None = None, hi: int | None = None):
    """An int in [lo, hi] (either bound may be open)."""

    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range: {_range(lo, hi)}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False):
    """A finite float in the range [lo, hi]; ``lo_open``/``hi_open`` exclude the bound itself."""

    def parse(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        low_bad = lo is not None and (value <= lo if lo_open else value < lo)
        high_bad = hi is not None and (value >= hi if hi_open else value > hi)
        if low_bad or high_bad:
            raise argparse.ArgumentTypeError(f"{value:g} is out of range: {_range(lo, hi, lo_open, hi_open)}")
        return value

    parse.__name__ = "number"
    return parse


def _range(lo, hi, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    return f"{'<' if hi_open else '<='} {hi:g}"


#: Shared ranges.
positive = integer(1)
non_negative = integer(0)
fraction = number(0.0, 1.0)
seed = integer(0, 2 ** 32 - 1)

__all__ = ["integer", "number", "positive", "non_negative", "fraction", "seed"]
