"""Round axis ticks for the curve: steps of 1, 2, 2.5 or 5 times a power of ten.

>>> nice_ticks(0.684, 0.984, lower=0.0, upper=1.0)
[0.6, 0.7, 0.8, 0.9, 1.0]
>>> nice_ticks(0.000446, 0.31, lower=0.0)
[0.0, 0.1, 0.2, 0.3, 0.4]
"""

from __future__ import annotations

import math

__all__ = ["nice_step", "nice_ticks", "tick_decimals"]

_MANTISSAS = (1.0, 2.0, 2.5, 5.0, 10.0)


def nice_step(span: float, most: int = 5) -> float:
    """The smallest round step that covers ``span`` in at most ``most - 1`` intervals.

    >>> nice_step(0.3), nice_step(7.0), nice_step(0.0009)
    (0.1, 2.0, 0.00025)
    """
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, most - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in _MANTISSAS:
        if m * power >= raw * (1 - 1e-9):
            return float(f"{m * power:.12g}")
    return 10 * power  # pragma: no cover - the last mantissa always fits


def nice_ticks(
    lo: float, hi: float, *, most: int = 5, lower: float | None = None, upper: float | None = None
) -> list[float]:
    """Round ticks from at or below ``lo`` to at or above ``hi`` (at most ``most`` + 1 of
    them), kept within ``[lower, upper]`` when given; the first and last bound the axis."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(hi) * 0.05 or 0.05
        lo, hi = lo - pad, hi + pad
    if lower is not None:
        lo = max(lo, lower)
    if upper is not None:
        hi = min(hi, upper)
    step = nice_step(hi - lo, most)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    ticks = [float(f"{k * step:.12g}") for k in range(first, last + 1)]
    if lower is not None:
        ticks = [t for t in ticks if t >= lower - 1e-12]
    if upper is not None:
        ticks = [t for t in ticks if t <= upper + 1e-12]
    return ticks if len(ticks) >= 2 else [lo, hi]


def tick_decimals(step: float) -> int:
    """Decimals that show every multiple of ``step`` exactly.

    >>> tick_decimals(0.1), tick_decimals(2.5), tick_decimals(0.025), tick_decimals(20.0)
    (1, 1, 3, 0)
    """
    text = f"{step:.12g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        digits = len(mantissa.partition(".")[2])
        return max(0, digits - int(exponent))
    return len(text.partition(".")[2])
