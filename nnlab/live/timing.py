"""The clock side of a live view: when to redraw, and how time reads.

:class:`Throttle` decides when a frame is due; :class:`Bar` is one progress bar with its
elapsed time, time left and rate; :func:`live_interval` reads the redraw interval from
an argument or ``NNLAB_LIVE_INTERVAL``. Everything takes ``now`` (``time.perf_counter()``
seconds) as an argument, so tests drive the clock.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from nnlab.formats import format_duration, format_rate

__all__ = ["DEFAULT_INTERVAL", "Bar", "Throttle", "format_duration", "live_interval"]

#: Seconds between two redraws of a live view (at most ~10 frames per second).
DEFAULT_INTERVAL = 0.1


def live_interval(value: float | None = None) -> float:
    """Seconds between redraws: ``value`` if given, else ``NNLAB_LIVE_INTERVAL``, else 0.1.

    ``0`` redraws on every hook (the loop itself reports mini-batches at most 50 times
    a second).

    >>> live_interval(0.25)
    0.25
    """
    source, given = "interval", repr(value)
    if value is None:
        text = os.environ.get("NNLAB_LIVE_INTERVAL", "").strip()
        if not text:
            return DEFAULT_INTERVAL
        source, given = "NNLAB_LIVE_INTERVAL", repr(text)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(
            f"{source} must be a number of seconds >= 0 such as 0.1 (10 redraws a second), got {given}"
        )
    return float(value)


@dataclass(frozen=True)
class Bar:
    """One progress bar: ``n`` of ``total`` done, with its clock.

    ``rate`` is ``unit`` per second for ``per="s"`` (``batches/s``) and seconds per
    ``unit`` for ``per="unit"`` (``s/epoch``: slow things read better that way); ``unit``
    is singular. A ``final`` bar belongs to a run that ended: it shows no time left.

    >>> bar = Bar("Epochs", 3, 10, elapsed=6.0, eta=14.0, rate=2.0, unit="epoch", per="unit")
    >>> bar.text(timings=True)
    ' 3/10 [30%] 6.0s<14.0s, 2.0s/epoch'
    >>> bar.text(timings=False)
    ' 3/10 [30%]'
    """

    label: str
    n: int
    total: int
    elapsed: float | None = None
    eta: float | None = None
    rate: float | None = None
    unit: str = "it"
    per: str = "s"
    final: bool = False

    @property
    def fraction(self) -> float:
        """Done as a fraction in [0, 1]."""
        return min(1.0, max(0.0, self.n / self.total)) if self.total > 0 else 0.0

    @property
    def percent(self) -> int:
        """Done in whole percent (floored, so 100 only when complete)."""
        return math.floor(100 * self.fraction + 1e-9)

    def rate_text(self) -> str:
        """``105 batches/s`` or ``2.0s/epoch``; empty if unknown."""
        if self.rate is None or not math.isfinite(self.rate) or self.rate <= 0:
            return ""
        if self.per == "unit":
            return f"{format_duration(self.rate)}/{self.unit}"
        return format_rate(self.rate, self.unit)

    def text(self, *, timings: bool = True) -> str:
        """``n/total [pct%]`` and, with ``timings``, ``elapsed<eta, rate``."""
        width = len(str(self.total))
        line = f"{self.n:>{width}}/{self.total} [{self.percent}%]"
        if timings:
            line += f" {format_duration(self.elapsed)}"
            if not self.final:
                line += f"<{format_duration(self.eta)}"
            rate = self.rate_text()
            if rate:
                line += f", {rate}"
        return line


class Throttle:
    """When to redraw: at most one frame per ``interval`` seconds, except that the end of
    an epoch that itself took ``interval`` or longer is drawn at once. Epochs faster than
    that are drawn together by the next frame (every frame shows every finished epoch,
    so no row is lost). The first and the final frames are forced by the caller.

    >>> t = Throttle(0.1)
    >>> t.due(0.0), t.drawn(0.0), t.due(0.05), t.due(0.1)
    (True, None, False, True)
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -math.inf
        self._epoch_end = -math.inf
        self.frames = 0

    def due(self, now: float) -> bool:
        """Whether a frame is due at ``now``."""
        return now - self._last >= self.interval

    def epoch_due(self, now: float) -> bool:
        """An epoch ended at ``now``: whether to draw it (call once per epoch end)."""
        slow = now - self._epoch_end >= self.interval
        self._epoch_end = now
        return slow or self.due(now)

    def drawn(self, now: float) -> None:
        """Record that a frame was drawn at ``now``."""
        self._last = now
        self.frames += 1
