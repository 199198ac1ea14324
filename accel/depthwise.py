"""Depthwise geometry: the one home of how a depthwise conv maps onto the DW unit.

The DW unit computes ``L`` output pixels of one channel group (``L`` channels) at a time, a
**block**. In *flat* mode a block is ``L`` consecutive pixels of the map, packed across rows
(stride 1 on a whole map of power-of-two width, where a pixel's row and column are bit fields);
in *row* mode a block is ``L`` pixels of one output row. For each of the ``k`` kernel rows the
window reader fetches a **span** of ``L x s + k - 1`` consecutive input words (the ``L``
outputs' receptive field along the row) in ``ceil(span / ub_banks)`` wide reads, and the taps
(``k x k`` per channel, ``L`` channels) fill ``ceil(k^2 / L)`` weight tiles per group.

The compiler (tap tiles, flat mode, band halos), the tiling planner (input rows of a band), the
cycle model (:func:`hfaccel.accel.perf.dw_cycles`) and the reports (mapping efficiency, window
words, halo factor) all read these definitions; the RTL (``rtl/dw.py``, ``rtl/dw_window.py``)
implements the same ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DwGeometry", "is_flat"]


def is_flat(*, h: int, w: int, ho: int, wo: int, s: int) -> bool:
    """Whether a whole-map depthwise pass can run in flat mode: stride 1, output the size of
    the input, a power-of-two width (the unit splits a pixel index into row and column bits)."""
    return s == 1 and ho == h and wo == w and wo & (wo - 1) == 0


@dataclass(frozen=True)
class DwGeometry:
    """A ``k x k``, stride ``s`` depthwise conv on ``lanes`` lanes (one channel group)."""

    lanes: int
    k: int
    s: int

    @property
    def span(self) -> int:
        """Input words of one window row: ``L`` outputs at stride ``s`` plus ``k - 1``."""
        return (2 * self.lanes if self.s == 2 else self.lanes) + self.k - 1

    def reads(self, banks: int) -> int:
        """Wide UB reads (``banks`` words each) that fetch one window row."""
        return math.ceil(self.span / banks)

    @property
    def tap_tiles(self) -> int:
        """Weight tiles of one group's taps: ``k^2`` taps for ``L`` channels, ``L^2`` a tile."""
        return math.ceil(self.k * self.k / self.lanes)

    def blocks(self, ho: int, wo: int, flat: bool) -> int:
        """Blocks of ``L`` output pixels per group over ``ho x wo`` outputs."""
        if flat:
            return math.ceil(ho * wo / self.lanes)
        return ho * math.ceil(wo / self.lanes)

    def window_words(self, blocks: int) -> int:
        """UB words the window reader fetches for ``blocks`` blocks of one group."""
        return blocks * self.k * self.span

    def rows_in(self, rows_out: int, h: int) -> int:
        """Most input rows ``rows_out`` consecutive output rows read (their halo included)."""
        return min(h, (rows_out - 1) * self.s + self.k)

    def band_rows(self, r0: int, r1: int, *, h: int, pad: int) -> tuple[int, int, int]:
        """Input rows ``[i0, i1)`` that output rows ``[r0, r1)`` read, and ``padt``: the zero
        rows above ``i0`` the band's first window starts in (top padding, 0 after the first
        band)."""
        i0 = max(0, r0 * self.s - pad)
        i1 = min(h, (r1 - 1) * self.s - pad + self.k)
        return i0, i1, pad + i0 - r0 * self.s
