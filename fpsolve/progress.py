"""Progress reports for long work: a bar in a terminal, plain periodic lines otherwise.

One helper, :func:`progress_bar`, is used by every long-running function of fpsolve and
validation.  ``enabled`` follows one convention everywhere:

- ``None`` (auto) or ``True``: report.  When the stream (standard error) is a terminal,
  a tqdm bar; otherwise (a log file, a pipe, CI) one plain line at most every
  ``interval`` seconds, and a last line with the elapsed time, so that a long run is
  never silent.
- ``False``: silent.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")

__all__ = ["PlainProgress", "progress_bar", "track"]

INTERVAL = 10.0
"""Seconds between two plain progress lines (a line is also printed at every tenth)."""


class PlainProgress:
    """A progress report as plain lines (for output that is not a terminal).

    Prints ``desc: 30% (3/10 steps), 12 s elapsed, ~28 s left`` when another tenth of
    the work is done, and at least every ``interval`` seconds while it runs (a
    background thread repeats the state during a long step), and
    ``desc: done, 10 steps in 40 s`` when closed.  Has the part of tqdm's interface
    that fpsolve uses: ``update``, ``set_description``, ``close`` and the context
    manager.
    """

    def __init__(
        self,
        total: float | None = None,
        *,
        desc: str = "",
        unit: str = "it",
        initial: float = 0,
        stream: IO[str] | None = None,
        interval: float = INTERVAL,
    ):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.stream = sys.stderr if stream is None else stream
        self.interval = interval
        self._start = time.monotonic()
        self._last = self._start
        self._tenth = self._tenths()
        self._closed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        size = "" if total is None else f" ({self._units(total)})"
        self._print(f"{desc}: started{size}")
        if 0 < interval < math.inf:
            threading.Thread(target=self._heartbeat, daemon=True).start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.interval):
            if time.monotonic() - self._last >= self.interval:
                self._report(time.monotonic())

    def _tenths(self) -> int:
        if not self.total:
            return 0
        return int(10 * self.n / self.total)

    def _units(self, n: float) -> str:
        unit = self.unit
        if n != 1 and not unit.endswith("s"):
            unit = unit[:-2] + "es" if unit.endswith("is") else unit + "s"
        return f"{n:g} {unit}"

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def update(self, n: float = 1) -> None:
        """Advance by ``n``; print a line if due."""
        self.n += n
        now = time.monotonic()
        tenth = self._tenths()
        if now - self._last < self.interval and tenth == self._tenth:
            return
        self._tenth = tenth
        self._report(now)

    def _report(self, now: float) -> None:
        with self._lock:
            if self._closed:
                return
            self._last = now
            self._print(self._state(now))

    def _state(self, now: float) -> str:
        elapsed = now - self._start
        if self.total:
            frac = min(self.n / self.total, 1.0)
            left = f", ~{elapsed * (1 - frac) / frac:.0f} s left" if frac > 0 else ""
            return (
                f"{self.desc}: {100 * frac:.0f}% ({self.n:g}/{self._units(self.total)}), "
                f"{elapsed:.0f} s elapsed{left}"
            )
        return f"{self.desc}: {self._units(self.n)}, {elapsed:.0f} s elapsed"

    def set_description(self, desc: str, refresh: bool = True) -> None:
        """Change the label of the following lines."""
        del refresh
        self.desc = desc

    def close(self) -> None:
        """Print the last line (once)."""
        self._stop.set()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            elapsed = time.monotonic() - self._start
            self._print(f"{self.desc}: done, {self._units(self.n)} in {elapsed:.0f} s")

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(
    total: float | None = None,
    *,
    desc: str,
    unit: str = "it",
    enabled: bool | None = None,
    initial: float = 0,
    stream: IO[str] | None = None,
    interval: float = INTERVAL,
) -> Any:
    """A progress report for ``total`` units of work.

    Parameters
    ----------
    total : float, optional
        Units of work (None when unknown).
    desc : str
        What is being done (the start of every line).
    unit : str, optional
        Name of one unit.
    enabled : bool or None, optional
        None or True: a tqdm bar when ``stream`` is a terminal, otherwise
        :class:`PlainProgress`; False: a silent bar.
    initial : float, optional
        Work already done.
    stream : file-like, optional
        Where to write (default standard error).
    interval : float, optional
        Seconds between plain lines.

    Returns
    -------
    tqdm or PlainProgress
        Use as a context manager, with ``update(n)``.

    Examples
    --------
    >>> import io
    >>> from fpsolve.progress import progress_bar
    >>> out = io.StringIO()
    >>> with progress_bar(4, desc="work", unit="item", stream=out, interval=0) as bar:
    ...     for _ in range(4):
    ...         bar.update(1)
    >>> print(out.getvalue().splitlines()[-1])  # doctest: +ELLIPSIS
    work: done, 4 items in ... s
    """
    from tqdm.auto import tqdm

    out = sys.stderr if stream is None else stream
    if enabled is False:
        return tqdm(total=total, disable=True)
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=out)
    return PlainProgress(
        total, desc=desc, unit=unit, initial=initial, stream=out, interval=interval
    )


def track(
    items: Iterable[T],
    *,
    desc: str,
    unit: str = "it",
    enabled: bool | None = None,
    total: float | None = None,
) -> Iterator[T]:
    """Iterate over ``items`` with a :func:`progress_bar` (one unit per item).

    ``total`` defaults to ``len(items)`` where it has one.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(total, desc=desc, unit=unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update(1)
