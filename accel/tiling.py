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
from hfaccel.accel.depthwise import DwGeometry
from hfaccel.errors import HfaccelError

__all__ = ["Band", "BandPlan", "Slots", "Staging", "UbAllocator", "NoRoom", "TARGET_BANDS",
           "gemm_bands", "dw_bands", "gap_bands"]

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


@dataclass(frozen=True)
class Slots:
    """UB words of one staging slot per streamed map of an op (0: that map is not streamed).

    Each streamed map gets two slots (ping-pong), laid out in this order: ``x``, ``skip``,
    ``out``."""

    x: int = 0
    skip: int = 0
    out: int = 0

    @property
    def words(self) -> int:
        return 2 * (self.x + self.skip + self.out)

    @property
    def streamed(self) -> tuple[str, ...]:
        """The op's maps in external memory: ``x`` input, ``skip``, ``out`` output."""
        return tuple(r for r in ("x", "skip", "out") if getattr(self, r))


@dataclass(frozen=True)
class BandPlan:
    """How an op on streamed maps runs: its row bands (a pool: pixel pieces), the staging
    slots they need, and, for a depthwise conv, the channel groups per band."""

    bands: tuple[Band, ...]
    slots: Slots
    groups: int = 0  # depthwise: channel groups per band (0: all of a weight chunk)


@dataclass(frozen=True)
class Staging:
    """The staging slots of an op, contiguous from UB word ``addr``."""

    addr: int
    slots: Slots

    def slot(self, which: str, k: int) -> int:
        """UB word of slot ``k % 2`` of streamed map ``which`` (``x``, ``skip`` or ``out``)."""
        a = self.addr
        for name in ("x", "skip", "out"):
            words = getattr(self.slots, name)
            if name == which:
                return a + (k % 2) * words
            a += 2 * words
        raise KeyError(which)

    @property
    def words(self) -> int:
        return self.slots.words


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
               co: int, room: int, cfg: AccelConfig) -> BandPlan | None:
    """Row bands of a pointwise GEMM (or the stem on its im2col input) over an ``h x w``
    output with ``cx`` input and ``co`` output channel tiles, every channel in each band; None
    if no band fits ``room``."""
    R = cfg.words_per_beat
    step = R // math.gcd(w, R) if out_dram else 1

    def slots(n: int) -> Slots:
        pix = n * w
        return Slots(x=cx * (ceil_to(pix, R) + R) if x_dram else 0,  # + R: from the beat below
                     skip=co * (ceil_to(pix, R) + R) if skip_dram else 0,
                     out=co * ceil_to(pix, R) if out_dram else 0)

    def need(n):
        return ceil_to(slots(n).words, cfg.ub_banks)

    n = _pick_rows(h, step, need, room, limit=0xFFFF // w)  # GEMM npix is 16 bits
    if n is None:
        return None
    bands = tuple(Band(r, min(h, r + n), r * w, min(h, r + n) * w, r, min(h, r + n))
                  for r in range(0, h, n))
    return BandPlan(bands, slots(n))


def dw_bands(*, h: int, w: int, ho: int, wo: int, k: int, s: int, pad: int, x_dram: bool,
             out_dram: bool, groups: int, room: int, cfg: AccelConfig) -> BandPlan | None:
    """Row bands of a depthwise conv (input ``h x w``, output ``ho x wo``, top/left padding
    ``pad``), each with its halo rows, over at most ``groups`` channel groups at a time (fewer
    when a band of all of them does not fit: channels are independent in a depthwise conv);
    None if no band fits ``room``."""
    R = cfg.words_per_beat
    geo = DwGeometry(cfg.lanes, k, s)
    step = R // math.gcd(wo, R) if out_dram else 1

    def slots(n: int, g: int) -> Slots:
        return Slots(x=g * (ceil_to(geo.rows_in(n, h) * w, R) + R) if x_dram else 0,
                     out=g * ceil_to(n * wo, R) if out_dram else 0)

    g = groups
    while g >= 1:
        n = _pick_rows(ho, step, lambda n, g=g: ceil_to(slots(n, g).words, cfg.ub_banks),
                       room, limit=4095)
        if n is not None:
            break
        g //= 2
    else:
        return None
    bands = []
    for r0 in range(0, ho, n):
        r1 = min(ho, r0 + n)
        i0, i1, padt = geo.band_rows(r0, r1, h=h, pad=pad)
        bands.append(Band(r0, r1, r0 * wo, r1 * wo, i0, i1, padt=padt))
    return BandPlan(tuple(bands), slots(n, g), g)


def gap_bands(*, hw: int, room: int, cfg: AccelConfig) -> BandPlan | None:
    """Pieces of a pool over a map in DRAM: a power of two of pixels each, whole beats, two
    slots in ``room``; None if not even one beat's worth fits."""
    R = cfg.words_per_beat
    p = min(hw, 1 << 16)
    while p >= R and ceil_to(2 * p, cfg.ub_banks) > room:
        p //= 2
    if p < R:
        return None
    return BandPlan(tuple(Band(0, 0, p0, p0 + p, 0, 0) for p0 in range(0, hw, p)), Slots(x=p))
