"""Spatial tiling: which feature maps live in the unified buffer, which in external memory, and
the row bands in which operations on external maps stream through the buffer.

The compiler first tries to keep every feature map in the unified buffer (UB). When the live
maps do not fit, it *spills* maps to external memory (DRAM), largest first among those live at
the point that failed, and tries again. An operation that reads or writes a spilled map runs
in **bands** of output rows:

* its spilled inputs are loaded band by band into two staging slots (ping-pong, so the next
  band loads while this one computes), depthwise bands with their halo rows (``(n - 1) * s + k``
  input rows for ``n`` output rows; the band's ``padt`` is its own top padding);
* a spilled output is computed into two staging slots and stored band by band;
* a global average pool over a spilled map loads it in power-of-two pieces, one channel group
  at a time, and carries its int32 sums from piece to piece (``GAP`` ``acc``/``part``), so the
  pool stays one sum and one shift, bit-exact.

Maps in DRAM are channel-tile planar like in the UB, each plane padded to whole bus beats
(:meth:`Tensor.plane_beats`). A band's first pixel is beat-aligned when its output goes to DRAM
(a store writes whole beats); inputs are loaded from the beat below their first pixel.

A plan that still does not fit (a band of the fewest rows the alignment allows, with nothing
left to spill) is a :class:`CompileError` naming the layer and the sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hfaccel.accel.config import AccelConfig
from hfaccel.errors import HfaccelError

__all__ = ["Band", "Staging", "UbAllocator", "NoRoom", "TARGET_BANDS", "gemm_bands", "dw_bands",
           "gap_piece"]

# Bands per operation when the buffer allows more: the first band's load and the last band's
# store are not overlapped with compute, so more bands hide more; depthwise halos and
# per-instruction overheads grow with the count.
TARGET_BANDS = 4


class NoRoom(HfaccelError):
    """The unified buffer is full at ``op``; ``live`` names the maps in it (spill candidates)."""

    def __init__(self, msg: str, live: list[str]):
        super().__init__(msg)
        self.live = live


@dataclass(frozen=True)
class Band:
    """Output rows ``[r0, r1)`` (pixels ``[p0, p1)``) and the input rows they need."""

    r0: int
    r1: int
    p0: int
    p1: int
    i0: int  # first input row (depthwise: with the halo; otherwise = r0)
    i1: int
    padt: int = 0  # depthwise: zero rows above the band's first input row

    @property
    def npix(self) -> int:
        return self.p1 - self.p0


@dataclass
class Staging:
    """Two slots per streamed tensor, contiguous from ``addr`` (UB words)."""

    addr: int
    slots: dict  # "x" | "skip" | "out" -> words per slot

    def slot(self, which: str, k: int) -> int:
        a = self.addr
        for name, words in self.slots.items():
            if name == which:
                return a + (k % 2) * words
            a += 2 * words
        raise KeyError(which)

    @property
    def words(self) -> int:
        return 2 * sum(self.slots.values())


def ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


class UbAllocator:
    """First-fit allocation of the UB in ``ub_banks``-word units, freed after last use."""

    def __init__(self, cfg: AccelConfig):
        self.cfg = cfg
        self.free = [(0, cfg.ub_words)]
        self.in_use = 0
        self.peak = 0  # most words live at once
        self.owner: dict[int, str] = {}  # address -> tensor name (the spill candidates)

    def _round(self, words: int) -> int:
        return ceil_to(words, self.cfg.ub_banks)

    def largest_free(self) -> int:
        return max((n for _, n in self.free), default=0)

    def alloc(self, words: int, what: str, owner: str | None = None) -> int:
        words = self._round(words)
        # small tensors (SE vectors, pooled features) from the top, big maps from the bottom,
        # so that the small ones do not fragment the space the big ones need
        small = words * 64 <= self.cfg.ub_words
        order = reversed(list(enumerate(self.free))) if small else enumerate(self.free)
        for i, (a, n) in order:
            if n >= words:
                if small:
                    self.free[i] = (a, n - words)
                    a = a + n - words
                else:
                    self.free[i] = (a + words, n - words)
                self.in_use += words
                self.peak = max(self.peak, self.in_use)
                if owner is not None:
                    self.owner[a] = owner
                return a
        raise NoRoom(self.no_room(words, what), list(self.owner.values()))

    def no_room(self, words: int, what: str) -> str:
        kib = self.cfg.word_bytes / 1024
        used = self.cfg.ub_words - sum(n for _, n in self.free)
        return (f"{what}: needs {words * kib:.0f} KiB of the unified buffer with "
                f"{used * kib:.0f} KiB in use; {self.cfg.name} has {self.cfg.ub_kib} KiB "
                "(raise ub_kib)")

    def release(self, addr: int, words: int) -> None:
        words = self._round(words)
        self.owner.pop(addr, None)
        self.in_use -= words
        self.free.append((addr, words))
        self.free.sort()
        merged = []
        for a, n in self.free:
            if merged and merged[-1][0] + merged[-1][1] == a:
                merged[-1] = (merged[-1][0], merged[-1][1] + n)
            else:
                merged.append((a, n))
        self.free = merged


def _pick_rows(h: int, step: int, need, room: int, limit: int) -> int | None:
    """The band height: at most ``room`` words of staging, a multiple of ``step`` (or all
    ``h`` rows), about ``h / TARGET_BANDS`` rows when the room allows more."""
    cands = sorted({*range(step, h, step), h})
    fit = [n for n in cands if need(n) <= room and n <= limit]
    if not fit:
        return None
    want = ceil_to(math.ceil(h / TARGET_BANDS), step)
    return min(fit[-1], max(fit[0], want))


def gemm_bands(*, h: int, w: int, x_dram: bool, skip_dram: bool, out_dram: bool, cx: int,
               co: int, room: int, cfg: AccelConfig) -> tuple[list[Band], dict, int] | None:
    """Row bands of a pointwise GEMM (or the stem on its im2col input) over an ``h x w``
    output with ``cx`` input and ``co`` output channel tiles, as (bands, staging slots, 0:
    every channel in each band); None if no band fits ``room``."""
    R = cfg.words_per_beat
    step = R // math.gcd(w, R) if out_dram else 1

    def slots(n: int) -> dict:
        pix = n * w
        s = {}
        if x_dram:
            s["x"] = cx * (ceil_to(pix, R) + R)  # + R: loaded from the beat below
        if skip_dram:
            s["skip"] = co * (ceil_to(pix, R) + R)
        if out_dram:
            s["out"] = co * ceil_to(pix, R)
        return s

    def need(n):
        return ceil_to(2 * sum(slots(n).values()), cfg.ub_banks)

    n = _pick_rows(h, step, need, room, limit=0xFFFF // w)  # GEMM npix is 16 bits
    if n is None:
        return None
    bands = [Band(r, min(h, r + n), r * w, min(h, r + n) * w, r, min(h, r + n))
             for r in range(0, h, n)]
    return bands, slots(n), 0


def dw_bands(*, h: int, w: int, ho: int, wo: int, k: int, s: int, pad: int, x_dram: bool,
             out_dram: bool, groups: int, room: int,
             cfg: AccelConfig) -> tuple[list[Band], dict, int] | None:
    """Row bands of a depthwise conv (input ``h x w``, output ``ho x wo``, top/left padding
    ``pad``), each with its halo rows, over at most ``groups`` channel groups at a time (fewer
    when a band of all of them does not fit: channels are independent in a depthwise conv).
    Returns (bands, staging slots, groups per band), or None if no band fits ``room``."""
    R = cfg.words_per_beat
    step = R // math.gcd(wo, R) if out_dram else 1

    def rows_in(n: int) -> int:
        return min(h, (n - 1) * s + k)

    def slots(n: int, g: int) -> dict:
        sl = {}
        if x_dram:
            sl["x"] = g * (ceil_to(rows_in(n) * w, R) + R)
        if out_dram:
            sl["out"] = g * ceil_to(n * wo, R)
        return sl

    g = groups
    while g >= 1:
        n = _pick_rows(ho, step,
                       lambda n, g=g: ceil_to(2 * sum(slots(n, g).values()), cfg.ub_banks),
                       room, limit=4095)
        if n is not None:
            break
        g //= 2
    else:
        return None
    bands = []
    for r0 in range(0, ho, n):
        r1 = min(ho, r0 + n)
        i0 = max(0, r0 * s - pad)
        i1 = min(h, (r1 - 1) * s - pad + k)
        bands.append(Band(r0, r1, r0 * wo, r1 * wo, i0, i1, padt=pad + i0 - r0 * s))
    return bands, slots(n, g), g


def gap_piece(*, hw: int, room: int, cfg: AccelConfig) -> int | None:
    """Pixels per piece of a pool over a map in DRAM: a power of two, whole beats, two slots
    in ``room``; None if not even one beat's worth fits."""
    R = cfg.words_per_beat
    p = min(hw, 1 << 16)
    while p >= R and ceil_to(2 * p, cfg.ub_banks) > room:
        p //= 2
    return p if p >= R else None
