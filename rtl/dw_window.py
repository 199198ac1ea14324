"""The depthwise window: a two-slot queue of input row spans, filled by wide UB reads.

A depthwise instruction (``isa.FIELDS["DW"]``) computes, for each channel group ``gi < g``
and each block ``b < nblk`` of ``lanes`` output pixels, ``k`` rows ``ky`` of ``k`` taps
``kx``. For every ``(gi, b, ky)``, in that order, the reader fills a slot with the
``nreads * ub_banks`` consecutive UB words from the window's base address (``nreads`` wide
reads; the span ``lanes * s + k - 1`` words rounded up to whole reads):

* flat mode (stride 1, power-of-two width: ``lanes`` consecutive output pixels across rows):
  ``x + gi * xcs + b * lanes + (ky - padt) * w - pad``;
* row mode (``lanes`` pixels of output row ``oy``, from column ``ox0 = bxi * lanes``):
  ``x + gi * xcs + (oy * s + ky - padt) * w + ox0 * s - pad``, with ``(oy, bxi)`` counting the
  blocks of a row (``bx`` per row).

The unit keeps these addresses as running sums, stepped with the loop counters: no multiplier
lies between its registers and the UB's port.

Addresses wrap modulo the UB size (a window at the map's top or left edge starts before the
map; the depthwise unit masks those lanes). The consumer (the depthwise unit's MAC loop) sees
``lane_words[j]`` = word ``j`` and ``lane_words2[j]`` = word ``2 * j`` of its slot (``ready``
when the slot is full; lane ``j`` takes word ``j * s``: the PE array selects); each ``shift``
moves the slot by one word (tap ``kx`` sees word ``j * s + kx``), and ``release`` (with the
last shift) frees the slot for the reader and moves on to the other one. The reader runs ahead
by at most one slot.

Timing: one read per cycle while the slot being filled is free; the data land in the slot one
cycle later, and the slot is full the cycle after its last read's data.

Storage: the slots are tokens (which one the reader fills, which one the consumer reads, which
are full); their words live in two registers, the consumer's slot's words (a shift register,
the only one the lanes read) and the other slot's (they only load read data). A release moves
the other slot's words into the consumer's, with the read data that land in that cycle; data for
the consumer's own slot (it waits for them) land there directly. Two shifting slots and a lane
select between them cost a load/shift LUT a bit in both and a 4:1 lane select; this costs it in
one, and the stride's select is part of the PE array's operand select (docs/fpga.md).
:func:`ref_dw_windows` is the reference model (``tests/test_units.py`` holds the unit to it).
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hfaccel.accel import isa
from hfaccel.rtl.counters import mul_small, step_nest
from hfaccel.rtl.ports import ReadRequest

__all__ = ["DwWindow", "ref_dw_windows", "window_reads"]


def window_reads(*, banks: int, window: int) -> int:
    """The largest ``nreads`` (wide reads per window) + 1: the reader's counter range."""
    return window // banks + 3


class DwWindow(wiring.Component):
    """The two-slot window and its reader (see the module docstring).

    Parameters
    ----------
    lanes : int
        Output pixels per block (the PE array's rows).
    banks : int
        Words per wide read (the UB's banks).
    window : int
        Words a slot holds (``lanes * max(strides) + max(kernels) - 1``).
    addr_width : int
        Bits of a UB word address.

    Members
    -------
    start : ``In(1)``
        Begin an instruction: the unit samples ``instr`` in this cycle; ``nreads``, ``nblk``
        and ``bx`` hold from the next cycle on until the reader and the consumer are done.
    instr : ``In(isa.amaranth_layout("DW"))``
        The instruction (``x``, ``xcs``, ``w``, ``s``, ``k``, ``pad``, ``padt``, ``flat``,
        ``g``), sampled with ``start``.
    nreads, nblk, bx : ``In``
        Wide reads per window, blocks per channel group, blocks per output row (row mode).
    stop : ``In(1)``
        The engine has stopped on an error: no more reads.
    rd_a : ``Out(ReadRequest(addr_width, lanes * 8, words=banks))``
        The UB's wide port.
    ready : ``Out(1)``
        The consumer's slot is full.
    lane_words, lane_words2 : ``Out(lanes * 8).array(lanes)``
        Words ``j`` and ``2 * j`` of the consumer's slot (after its shifts): lane ``j``'s at
        stride 1 and 2.
    s2 : ``Out(1)``
        The instruction's stride is 2.
    shift, release : ``In(1)``
        The consumer moves its slot by one word; with the last shift, frees it.
    busy : ``Out(1)``
        The reader has windows left to read.
    active : ``Out(1)``
        Read data land in a slot this cycle (the watchdog's notion of progress).
    """

    def __init__(self, *, lanes: int, banks: int, window: int, addr_width: int):
        for name, v in (("lanes", lanes), ("banks", banks)):
            if not isinstance(v, int) or v < 2 or v & (v - 1):
                raise ValueError(f"{name} must be a power of two >= 2, not {v!r}")
        for name, v in (("window", window), ("addr_width", addr_width)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        if window < lanes:
            raise ValueError(f"window ({window}) must hold at least lanes ({lanes}) words")
        self.lanes, self.banks, self.window = lanes, banks, window
        W = lanes * 8
        super().__init__({
            "start": In(1),
            "instr": In(isa.amaranth_layout("DW")),
            "nreads": In(range(window_reads(banks=banks, window=window))),
            "nblk": In(24), "bx": In(8),
            "stop": In(1),
            "rd_a": Out(ReadRequest(addr_width=addr_width, data_width=W, words=banks)),
            "ready": Out(1),
            "lane_words": Out(W).array(lanes), "lane_words2": Out(W).array(lanes),
            "s2": Out(1),
            "shift": In(1), "release": In(1),
            "busy": Out(1), "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, NB, W = self.lanes, self.banks, self.window
        # the instruction, sampled at start: the reader's address registers start from it
        d = Signal(isa.amaranth_layout("DW"))
        nr = window_reads(banks=NB, window=W)
        # the consumer's slot's words (shifted) and the other slot's (loaded only)
        cw = [Signal(L * 8, name=f"winc_{i}") for i in range(W)]
        ow = [Signal(L * 8, name=f"wino_{i}") for i in range(W)]
        full = Signal(2)  # per slot: filled, not yet released
        run = Signal()
        gi, b, ky = Signal(8), Signal(24), Signal(3)
        i = Signal(range(nr))
        slot = Signal()  # the slot the reader fills
        q_slot = Signal()  # the slot the consumer reads
        bxi = Signal(8)  # row mode: the block within its output row
        # The read address as running sums (no multiplier between the counters and the UB's
        # port: docs/fpga.md, Pipelining). The window (gi, b, ky) starts at gx + bb + kyw:
        # gx = x - pad + gi * xcs; bb = b * lanes (flat) or oyw + bxi * lanes * s (row), with
        # oyw = oy * s * w; kyw = (ky - padt) * w. Read i of it is at addr = start + i * banks.
        A = len(self.rd_a.addr)
        # (all modulo the UB's size, as its addresses wrap)
        addr, gx, bb, oyw, kyw, kyw0 = (Signal(A) for _ in range(6))
        sw, ls = Signal(A), Signal(A)  # s * w; lanes * s
        with m.If(self.start):
            di = self.instr
            padw = Signal(A)
            m.d.comb += padw.eq(mul_small(di.w, di.padt))
            m.d.sync += [d.eq(di), run.eq(1), gi.eq(0), b.eq(0), ky.eq(0), i.eq(0), slot.eq(0),
                         full.eq(0), bxi.eq(0), q_slot.eq(0),
                         gx.eq(di.x - di.pad), bb.eq(0), oyw.eq(0), kyw.eq(-padw),
                         kyw0.eq(-padw), addr.eq(di.x - di.pad - padw),
                         sw.eq(mul_small(di.w, di.s)), ls.eq(mul_small(Const(L), di.s))]

        # reader: fill slot `slot` with the span of row ky of block b
        cap_v = Signal()
        cap_i = Signal(range(nr))
        cap_slot = Signal()
        cap_last = Signal()
        m.d.sync += cap_v.eq(0)
        fill = Signal(2)
        free = Signal(2)
        with m.If(run & ~self.stop & ~full.bit_select(slot, 1)):
            m.d.comb += [self.rd_a.en.eq(1), self.rd_a.addr.eq(addr)]
            nest = step_nest(m, [(i, self.nreads), (ky, d.k), (b, self.nblk), (gi, d.g)])
            m.d.sync += [cap_v.eq(1), cap_i.eq(i), cap_slot.eq(slot), cap_last.eq(nest.last[0])]
            # the next window's terms, as the nest steps its counters
            gx_n, bb_n, oyw_n, kyw_n = (Signal(A) for _ in range(4))
            row_end = bxi + 1 == self.bx  # row mode: this block ends its output row
            m.d.comb += [gx_n.eq(gx), bb_n.eq(bb), oyw_n.eq(oyw), kyw_n.eq(kyw)]
            with m.If(nest.carries[1]):
                m.d.comb += kyw_n.eq(Mux(nest.last[1], kyw0, kyw + d.w))
            with m.If(nest.carries[2]):
                with m.If(nest.last[2]):
                    m.d.comb += [bb_n.eq(0), oyw_n.eq(0), gx_n.eq(gx + d.xcs)]
                with m.Elif(d.flat):
                    m.d.comb += bb_n.eq(bb + L)
                with m.Elif(row_end):
                    m.d.comb += [bb_n.eq(oyw + sw), oyw_n.eq(oyw + sw)]
                with m.Else():
                    m.d.comb += bb_n.eq(bb + ls)
            m.d.sync += [gx.eq(gx_n), bb.eq(bb_n), oyw.eq(oyw_n), kyw.eq(kyw_n),
                         addr.eq(Mux(nest.wraps[0], gx_n + bb_n + kyw_n, addr + NB))]
            with m.If(nest.wraps[0]):
                m.d.sync += slot.eq(~slot)
            with m.If(nest.carries[2]):
                m.d.sync += bxi.eq(Mux(row_end | nest.last[2], 0, bxi + 1))
            with m.If(nest.done):
                m.d.sync += run.eq(0)
        # Read data land at positions cap_i * NB .. + NB - 1: in the other slot's words always
        # (dead words unless they are its slot's: the reader runs ahead by one slot, so while it
        # fills the consumer's slot the other is free), and in the consumer's words where they
        # belong to the consumer's slot after this cycle's release. A release loads the
        # consumer's words from the other slot's; a shift moves them by one word.
        to_c = cap_v & (cap_slot == (q_slot ^ self.release))
        for pos in range(W):
            blk, off = divmod(pos, NB)
            with m.If(cap_v & (cap_i == blk)):
                m.d.sync += ow[pos].eq(self.rd_a.data[off])
            with m.If(to_c & (cap_i == blk)):
                m.d.sync += cw[pos].eq(self.rd_a.data[off])
            with m.Elif(self.release):
                m.d.sync += cw[pos].eq(ow[pos])
            if pos < W - 1:  # the last word has nothing behind it to shift in
                with m.Elif(self.shift):
                    m.d.sync += cw[pos].eq(cw[pos + 1])
        with m.If(cap_v & cap_last):
            m.d.comb += fill.eq(Mux(cap_slot, 2, 1))
        with m.If(self.release):
            m.d.comb += free.eq(Mux(q_slot, 2, 1))
            m.d.sync += q_slot.eq(~q_slot)
        m.d.sync += full.eq((full | fill) & ~free)
        # lane j reads word j * s of the consumer's slot (the PE array selects by stride)
        for j in range(L):
            m.d.comb += [self.lane_words[j].eq(cw[j]),
                         self.lane_words2[j].eq(cw[min(2 * j, W - 1)])]
        m.d.comb += self.s2.eq(d.s == 2)
        m.d.comb += [self.ready.eq(full.bit_select(q_slot, 1)), self.busy.eq(run),
                     self.active.eq(cap_v)]
        return m


def ref_dw_windows(instr: dict, *, lanes: int, banks: int, ub: list[int]):
    """The reference: for every window in order (``(gi, b, ky)``), ``(key, taps)`` where
    ``taps[kx][j]`` is the word lane ``j`` sees after ``kx`` shifts: UB word
    ``base + j * s + kx`` (modulo the UB's size ``len(ub)``), ``base`` as in the module
    docstring. ``instr`` holds the DW fields; ``nblk``/``bx`` are derived as the unit's
    user derives them."""
    f = instr
    L = lanes
    words = len(ub)
    k, s = f["k"], f["s"]
    bx = -(-f["wo"] // L)
    nblk = -(-(f["ho"] * f["wo"]) // L) if f["flat"] else f["ho"] * bx
    out = []
    for gi in range(f["g"]):
        for b in range(nblk):
            oy, bxi = divmod(b, bx)
            for ky in range(k):
                if f["flat"]:
                    base = f["x"] + gi * f["xcs"] + b * L + (ky - f["padt"]) * f["w"] - f["pad"]
                else:
                    base = (f["x"] + gi * f["xcs"] + (oy * s + ky - f["padt"]) * f["w"]
                            + bxi * L * s - f["pad"])
                taps = [[ub[(base + j * s + kx) % words] for j in range(L)] for kx in range(k)]
                out.append(((gi, b, ky), taps))
    return out
