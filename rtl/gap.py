"""The GAP unit: global average pooling as an integer sum of ``2**hw_log2`` pixels and one shift.

For each of ``g`` channel groups (words ``x + gi * xcs + p``, ``p < 2**hw_log2``) the unit
reads ``ub_banks`` words per cycle through the UB's wide port, sums the map's ones per lane
(:func:`gap_sum`) into an int32 accumulator per lane, and writes
``sat8(round_shift(sum, shift))`` to UB word ``out + gi`` (uint8 codes: ``xu`` sums the input
lanes zero-extended, ``ou`` saturates the result to 0..255); the requantization is the engine's
shared post-processing word's (:class:`~hfaccel.rtl.post.PostWord`, bias 0, no table). A map
streamed in pieces sums across instructions: ``acc`` continues the previous GAP's sums instead
of starting from 0, ``part`` only accumulates (no shift, no write); both need ``g == 1`` (the
sums live in one group's accumulators). A descriptor with ``g == 0``, ``hw_log2 > 16`` or
``acc``/``part`` with ``g != 1`` raises :attr:`~hfaccel.accel.isa.Status.BAD_GAP`.

Timing: one read per cycle; the sum one cycle after the read (with the data), the write the
cycle after the group's last sum.
"""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.isa import Status
from hfaccel.rtl.arith import lanes_of, tree_levels
from hfaccel.rtl.counters import step_nest
from hfaccel.rtl.ports import ReadRequest, Result
from hfaccel.rtl.post import lane_params, post_port
from hfaccel.rtl.ub import ub_addr_width

__all__ = ["Gap", "gap_sum"]


def gap_sum(values, lvl):
    """One lane of a GAP read: the sum of the first ``2**lvl`` of ``values`` (the lane's int8 code
    in each of the wide read's words; a power of two of them, at most all).

    A map has ``2**hw_log2`` pixels, so a read sums either all its words or, for a map smaller
    than a read, the first ``2**hw_log2``: the left spine of one balanced adder tree over all of
    them holds every such prefix sum, and ``lvl`` selects one. Masking each word by its index
    instead cost a LUT per masked bit ahead of the tree (docs/fpga.md)."""
    values = list(values)
    if len(values) & (len(values) - 1):
        raise ValueError(f"gap_sum needs a power of two of values, not {len(values)}")
    spine = [level[0] for level in tree_levels(values)]
    return Array(spine)[lvl] if len(spine) > 1 else spine[0]


class Gap(wiring.Component):
    """The GAP unit of one :class:`AccelConfig` (see the module docstring).

    Members
    -------
    cmd : ``In(stream.Signature(isa.amaranth_layout("GAP"), always_ready=True))``
        A GAP instruction to start (``valid`` for one cycle while the unit is idle).
    stop : ``In(1)``
        The engine has stopped on an error: no more reads, sums or writes.
    rd_a : ``Out(ReadRequest(addr_width, lanes * 8, words=ub_banks))``
        The UB's wide read port.
    post : ``Out(post_port(lanes))``
        The shared post-processing word: the sums, bias 0 and the shift out, the code back.
    result : ``Out(Result(addr_width, lanes * 8, words=1))``
        The pooled words.
    error : ``Out(8)``
        A :class:`~hfaccel.accel.isa.Status` code in the cycle a bad descriptor arrives, else 0.
    busy : ``Out(1)``
        An instruction is in progress (reads, sums or the last write).
    active : ``Out(1)``
        A sum this cycle (the watchdog's notion of progress).
    """

    def __init__(self, *, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        self.cfg = cfg
        A, W = ub_addr_width(cfg), cfg.lanes * 8
        super().__init__({
            "cmd": In(stream.Signature(isa.amaranth_layout("GAP"), always_ready=True)),
            "stop": In(1),
            "rd_a": Out(ReadRequest(addr_width=A, data_width=W, words=cfg.ub_banks)),
            "post": Out(post_port(cfg.lanes)),
            "result": Out(Result(addr_width=A, word_bits=W, words=1)),
            "error": Out(8), "busy": Out(1), "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, NB = self.cfg.lanes, self.cfg.ub_banks
        nb_log2 = ceil_log2(NB)
        stop = self.stop
        p = Signal(isa.amaranth_layout("GAP"))  # the instruction in progress
        run = Signal()
        gi, r = Signal(8), Signal(16)  # group, read within the group
        nreads = Signal(17)
        # the words of a read that are the map's: 2**lvl (all of them, or the whole map)
        lvl = Signal(range(nb_log2 + 1))
        # the read address as running sums: gx = x + gi * xcs, addr = gx + r * banks (no
        # multiplier between the counters and the UB's port, docs/fpga.md)
        A = len(self.rd_a.addr)
        gx, addr = Signal(A), Signal(A)
        with m.If(self.cmd.valid):
            hp = self.cmd.payload
            m.d.sync += p.eq(hp)
            with m.If((hp.g == 0) | (hp.hw_log2 > 16) | ((hp.acc | hp.part) & (hp.g != 1))):
                m.d.comb += self.error.eq(Status.BAD_GAP)
            with m.Else():
                hw = Signal(32)
                m.d.comb += hw.eq(Const(1, 32) << hp.hw_log2)
                m.d.sync += [run.eq(1), gi.eq(0), r.eq(0),
                             lvl.eq(Mux(hp.hw_log2 < nb_log2, hp.hw_log2, nb_log2)),
                             nreads.eq((hw + NB - 1) >> nb_log2), gx.eq(hp.x), addr.eq(hp.x)]
        # stage 1: the read (data one cycle later)
        s1_v, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_g = Signal(8)
        m.d.sync += s1_v.eq(0)
        with m.If(run & ~stop):
            m.d.comb += [self.rd_a.en.eq(1), self.rd_a.addr.eq(addr)]
            nest = step_nest(m, [(r, nreads), (gi, p.g)])
            with m.If(nest.wraps[0]):
                m.d.sync += [gx.eq(gx + p.xcs), addr.eq(gx + p.xcs)]
            with m.Else():
                m.d.sync += addr.eq(addr + NB)
            m.d.sync += [s1_v.eq(1), s1_first.eq(r == 0), s1_last.eq(nest.last[0]),
                         s1_g.eq(gi)]
            with m.If(nest.done):
                m.d.sync += run.eq(0)
        # stage 2: the sums; the group's result is written the cycle after its last sum
        acc = [Signal(signed(32), name=f"pacc{j}") for j in range(L)]
        words = [lanes_of(self.rd_a.data[i], L) for i in range(NB)]
        s2_v = Signal()
        s2_g = Signal(8)
        m.d.sync += s2_v.eq(s1_v & s1_last & ~p.part & ~stop)
        with m.If(s1_v & ~stop):
            for j in range(L):
                total = gap_sum([Mux(p.xu, words[i][j].as_unsigned(), words[i][j])
                                 for i in range(NB)], lvl)
                m.d.sync += acc[j].eq(Mux(s1_first & ~p.acc, 0, acc[j]) + total)
            m.d.sync += s2_g.eq(s1_g)
        # the write's codes: the post word's requantization of the sums (``requant_code`` of
        # acc + 0), the same function as a requantizer of the GAP's own (32 lanes of ~170 LUTs)
        post = self.post
        m.d.comb += [post.params.eq(lane_params(Const(0, 32), p.shift).replicate(L)),
                     post.tbl.eq(0), post.tslot.eq(0), post.qu.eq(p.ou)]
        for j in range(L):
            m.d.comb += post.acc[j].eq(acc[j])
        out = post.q
        res = self.result
        m.d.comb += [res.valid.eq(s2_v), res.addr.eq(p.out + s2_g), res.n.eq(1),
                     res.r[0].eq(out), res.q[0].eq(out), res.a[0].eq(out),
                     self.busy.eq(run | s1_v | s2_v), self.active.eq(s1_v)]
        return m
