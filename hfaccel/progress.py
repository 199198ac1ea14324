"""Progress of long steps: tqdm bars on stderr, or nothing.

Library functions never draw bars on their own: a long step takes a ``progress`` argument (a
:class:`Progress`, silent by default, :data:`NO_PROGRESS`) and reports through it; the CLI
passes :meth:`Progress.auto`, which draws bars only when stderr is a terminal, so logs, pipes
and tests stay clean. ``HFACCEL_PROGRESS=1`` forces bars on (e.g. to record a transcript),
``HFACCEL_PROGRESS=0`` forces them off.

Two kinds of step:

* a counted one (batches, modules, objects): :meth:`Progress.bar` / :meth:`Progress.iter`;
* one that cannot count (an external tool, a library call): :meth:`Progress.timer`, a bar that
  ticks every second with the elapsed time and, when given, a ``status`` function polled for
  ``(done, total, text)`` (e.g. compiled objects of a simulator build and the log's last line).

Imports nothing heavy (tqdm is imported when a bar is drawn): ``hfaccel --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

__all__ = ["NO_PROGRESS", "Progress"]


class _NullBar:
    """What a disabled :class:`Progress` hands out: every tqdm method used here, doing nothing."""

    n = 0
    total = None

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def set_description_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def refresh(self) -> None:
        pass


Status = Callable[[], "tuple[int | None, int | None, str]"]


class Progress:
    """Where long steps report. ``enabled=False`` (the library default) draws nothing."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled

    @classmethod
    def auto(cls) -> Progress:
        """Bars when stderr is a terminal; ``HFACCEL_PROGRESS`` = 1 / 0 overrides."""
        env = os.environ.get("HFACCEL_PROGRESS", "").strip().lower()
        if env in ("1", "on", "always", "yes"):
            return cls(True)
        if env in ("0", "off", "never", "no"):
            return cls(False)
        return cls(sys.stderr.isatty())

    def print(self, msg: str) -> None:
        """One line on stdout, flushed, that does not tear a bar being drawn (the CLI's log)."""
        if self.enabled:
            from tqdm import tqdm

            tqdm.write(msg, file=sys.stdout)
            sys.stdout.flush()
        else:
            print(msg, flush=True)

    def _tqdm(self, desc: str, total: int | None, unit: str, bar_format: str | None = None):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True,
                    mininterval=0.5, bar_format=bar_format,
                    nrows=50)  # a pty that reports 0 rows would hide every bar

    @contextmanager
    def bar(self, desc: str, total: int | None = None, unit: str = "it") -> Iterator:
        """A counted step: the bar's ``update(n)`` advances it."""
        if not self.enabled:
            yield _NullBar()
            return
        with self._tqdm(desc, total, unit) as b:
            yield b

    def iter(self, iterable: Iterable, desc: str, total: int | None = None,
             unit: str = "it") -> Iterator:
        """``iterable``, advancing a bar by one per item."""
        with self.bar(desc, total, unit) as b:
            for item in iterable:
                yield item
                b.update(1)

    @contextmanager
    def timer(self, desc: str, *, status: Status | None = None, unit: str | None = None,
              interval: float = 1.0) -> Iterator:
        """A step that cannot count for itself: the bar ticks every ``interval`` seconds (elapsed
        time) and shows ``status()`` = (done, total, text) when given; ``None`` leaves a part
        as it is. The elapsed time and the text are shown until a total is known; then, with a
        ``unit`` (plural: "objects"), a bar. Errors of ``status`` are ignored (a log that is
        not written yet)."""
        if not self.enabled:
            yield _NullBar()
            return
        stop = threading.Event()
        # elapsed time only until a total is known, then a bar of ``unit`` (e.g. "objects")
        counted = ("{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} " + (unit or "")
                   + " [{elapsed}<{remaining}{postfix}]")
        with self._tqdm(desc, None, unit or "it", "{desc}: {elapsed} elapsed{postfix}") as b:
            def poll() -> None:
                try:
                    done, total, text = status()
                except Exception:  # noqa: BLE001 - a status is best effort, never fatal
                    return
                if unit and total is not None and total != b.total:
                    b.total = total
                    b.bar_format = counted
                if done is not None and done != b.n:
                    b.n = done
                if text:
                    b.set_postfix_str(text[:60], refresh=False)

            def tick() -> None:
                while not stop.wait(interval):
                    if status is not None:
                        poll()
                    b.refresh()

            t = threading.Thread(target=tick, daemon=True)
            t.start()
            try:
                yield b
            finally:
                stop.set()
                t.join()
                if status is not None:
                    poll()
                    b.refresh()


NO_PROGRESS = Progress(False)
