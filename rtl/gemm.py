"""The GEMM unit: ``out[co, p] = post(sum_ci W[co, ci] . g(x[ci, p]))`` on the PE array.

Pointwise and FC layers, the stem (im2col patches), SE squeeze/excite: for every output channel
tile ``co < cot``, pixel ``p < npix`` and input channel tile ``ci < cit`` (innermost) the unit
reads the input word ``x + ci * xcs + p`` (UB wide port, word 0), the weight tile
``wgt + co * cit + ci`` and the parameter word ``prm + co``, and the PE array sums one output
tile's ``lanes`` rows (:class:`~hfaccel.rtl.pe.PeArray` in GEMM mode) into int32 accumulators.
After the last input tile the word is post-processed (the engine's shared
:class:`~hfaccel.rtl.post.PostWord`, through the ``post`` port: bias, RNE shift, saturation,
optional table), optionally added to the residual word
``skip + co * scs + p`` (UB narrow port; ``sat8(rne((a << sa) + (b << sb), ashift))``) and
written to ``out + co * ocs + p``.

Squeeze-excitation gating (``gate``): before the first MAC the unit copies the ``cit`` gate
words from ``gaddr`` (narrow port, a word a cycle) into its gate memory (a ``gate_mem``
:class:`~hfaccel.rtl.sram.SRAM`), and multiplies every input lane by its gate:
``sat8(rne(x * gate, gshift))`` (:func:`~hfaccel.rtl.arith.gate8`, here with a register between
the multiply and the requantization).

Timing: one MAC cycle per ``(co, p, ci)``; the input read in stage 0, the gate multiply in
stage 1, its requantization in stage 1a (and the weight read), MACs in stage 1b, the PE cells'
pair sums in stage 1c (and the parameter read), the row sums and their accumulation in stage 1d,
post-processing in stage 2 (the residual word, read in stage 1d, into a register), the residual
add in stage 3, the write in stage 4. The registers after the gate multiply, after its
requantization and between post-processing and the residual add split the engine's longest
paths (``docs/fpga.md``, "Pipelining") at one cycle per instruction each; the residual word's
register costs no cycle. A descriptor with ``npix``,
``cit`` or ``cot`` zero, or gating with more input tiles than gate words, raises
:attr:`~hfaccel.accel.isa.Status.BAD_GEMM`.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.isa import Status
from hfaccel.rtl.arith import add8, lanes_of, requant8
from hfaccel.rtl.counters import step_nest
from hfaccel.rtl.pe import row_sum_shape
from hfaccel.rtl.ports import ReadRequest, Result
from hfaccel.rtl.post import post_port
from hfaccel.rtl.sram import SRAM
from hfaccel.rtl.ub import ub_addr_width

__all__ = ["Gemm", "gate_words"]


def gate_words(lanes: int) -> int:
    """Words of the SE gate memory: input channel tiles a gated GEMM may have."""
    return max(64, 2048 // lanes)


def trace_gate_signature(*, addr_width: int, word_bits: int) -> wiring.Signature:
    """The gated-input observation port: ``valid``, the input word's UB ``addr``, the gated
    ``word``."""
    return wiring.Signature({"valid": Out(1), "addr": Out(addr_width), "word": Out(word_bits)})


class Gemm(wiring.Component):
    """The GEMM unit of one :class:`AccelConfig` (see the module docstring).

    Members
    -------
    cmd : ``In(stream.Signature(isa.amaranth_layout("GEMM"), always_ready=True))``
        A GEMM instruction to start (``valid`` for one cycle while the unit is idle).
    stop : ``In(1)``
        The engine has stopped on an error.
    rd_a : ``Out(ReadRequest(ub address, lanes * 8, words=ub_banks))``
        The UB's wide port (the input word is word 0).
    rd_b : ``Out(ReadRequest(ub address, lanes * 8))``
        The UB's narrow port: gate words and residual inputs; ``en`` only when the unit needs
        the data (the DMA's stores use the port in the other cycles).
    wgt, prm : ``Out(ReadRequest(...))``
        The weight buffer (a tile a word) and the parameter buffer.
    pe_gemm, pe_x, pe_w, pe_sums :
        The PE array's GEMM side: mode (``Out(1)``, set while stage 1b computes), the gated
        input lanes (``Out(signed(8)).array(lanes)``), the weight tile, the row sums (``In``).
    post : ``Out(post_port(lanes))``
        The shared post-processing word: the accumulators and parameters out, ``q`` and ``a``
        back in the same cycle.
    result : ``Out(Result(ub address, lanes * 8, words=1))``
        The output words.
    trace_g : ``Out(trace_gate_signature(...))``
        Observation: each gated input word, during the first output tile.
    error : ``Out(8)``
        A :class:`~hfaccel.accel.isa.Status` code in the cycle a bad descriptor arrives.
    busy, mac, active : ``Out(1)``
        An instruction is in progress; the PE array computes for it this cycle; a MAC or a
        gate word moved (the watchdog's notion of progress).
    """

    def __init__(self, *, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        self.cfg = cfg
        L = cfg.lanes
        A, W = ub_addr_width(cfg), L * 8
        self.memories = {"gate": SRAM("gate_mem", width=W, depth=gate_words(L))}
        super().__init__({
            "cmd": In(stream.Signature(isa.amaranth_layout("GEMM"), always_ready=True)),
            "stop": In(1),
            "rd_a": Out(ReadRequest(addr_width=A, data_width=W, words=cfg.ub_banks)),
            "rd_b": Out(ReadRequest(addr_width=A, data_width=W)),
            "wgt": Out(ReadRequest(addr_width=ceil_log2(cfg.wgt_tiles), data_width=L * W)),
            "prm": Out(ReadRequest(addr_width=ceil_log2(cfg.prm_words),
                                   data_width=cfg.prm_word_bytes * 8)),
            "pe_gemm": Out(1), "pe_x": Out(signed(8)).array(L), "pe_w": Out(L * W),
            "pe_sums": In(row_sum_shape(L)).array(L),
            "post": Out(post_port(L)),
            "result": Out(Result(addr_width=A, word_bits=W, words=1)),
            "trace_g": Out(trace_gate_signature(addr_width=A, word_bits=W)),
            "error": Out(8), "busy": Out(1), "mac": Out(1), "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.cfg.lanes
        stop = self.stop
        gate_mem = self.memories["gate"]
        m.submodules.gate = gate_mem
        gate_wr = gate_mem.write_port("wr")
        gate_rd = gate_mem.read_port("rc", domain="comb")
        post = self.post

        g = Signal(isa.amaranth_layout("GEMM"))  # the instruction in progress
        run, pre = Signal(), Signal()  # MACs; gate preload
        ci, p, co = Signal(8), Signal(16), Signal(8)
        pre_i = Signal(8)
        # The addresses as running sums, stepped with the counters (no multiplier between them
        # and the buffers' ports, docs/fpga.md): xp = x + p, xa = xp + ci * xcs (the input
        # word), wco = wgt + co * cit, sco = skip + co * scs, oco = out + co * ocs.
        A = len(self.rd_a.addr)
        xp, xa, sco, oco = (Signal(A) for _ in range(4))
        wco = Signal.like(self.wgt.addr)
        with m.If(self.cmd.valid):
            hg = self.cmd.payload
            m.d.sync += g.eq(hg)
            bad = ((hg.npix == 0) | (hg.cit == 0) | (hg.cot == 0)
                   | (hg.gate & (hg.cit > gate_words(L))))
            with m.If(bad):
                m.d.comb += self.error.eq(Status.BAD_GEMM)
            with m.Else():
                m.d.sync += [pre.eq(hg.gate), run.eq(~hg.gate), ci.eq(0), p.eq(0), co.eq(0),
                             pre_i.eq(0), xp.eq(hg.x), xa.eq(hg.x), wco.eq(hg.wgt),
                             sco.eq(hg.skip), oco.eq(hg.out)]
        # gate preload through port B (one word per cycle, data one cycle later)
        pre_v = Signal()
        pre_d = Signal(8)
        m.d.sync += pre_v.eq(0)
        with m.If(pre & ~stop):
            m.d.comb += [self.rd_b.en.eq(1), self.rd_b.addr.eq(g.gaddr + pre_i)]
            m.d.sync += [pre_v.eq(1), pre_d.eq(pre_i), pre_i.eq(pre_i + 1)]
            with m.If(pre_i + 1 == g.cit):
                m.d.sync += [pre.eq(0), run.eq(1)]
        with m.If(pre_v):
            m.d.comb += [gate_wr.addr.eq(pre_d), gate_wr.data.eq(self.rd_b.data),
                         gate_wr.en.eq(1)]
        # stage 0: issue reads
        s1_v, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_ci, s1_co = Signal(8), Signal(8)
        s1_xaddr, s1_saddr, s1_oaddr = Signal(A), Signal(A), Signal(A)
        s1_waddr, s1_paddr = Signal.like(self.wgt.addr), Signal.like(self.prm.addr)
        m.d.sync += s1_v.eq(0)
        with m.If(run & ~stop):
            m.d.comb += [self.rd_a.en.eq(1), self.rd_a.addr.eq(xa)]
            nest = step_nest(m, [(ci, g.cit), (p, g.npix), (co, g.cot)])
            m.d.sync += [s1_v.eq(1), s1_first.eq(ci == 0), s1_last.eq(nest.last[0]),
                         s1_ci.eq(ci), s1_co.eq(co), s1_xaddr.eq(xa),
                         s1_waddr.eq(wco + ci), s1_paddr.eq(g.prm + co),
                         s1_saddr.eq(sco + p), s1_oaddr.eq(oco + p)]
            with m.If(nest.wraps[1]):  # the next output tile
                m.d.sync += [xp.eq(g.x), xa.eq(g.x), wco.eq(wco + g.cit),
                             sco.eq(sco + g.scs), oco.eq(oco + g.ocs)]
            with m.Elif(nest.wraps[0]):  # the next pixel
                m.d.sync += [xp.eq(xp + 1), xa.eq(xp + 1)]
            with m.Else():
                m.d.sync += xa.eq(xa + g.xcs)
            with m.If(nest.done):
                m.d.sync += run.eq(0)
        # stage 1: the input word times its gate, into a register; stage 1a: the product's
        # requantization, into a register. P&R of the whole engine measured the UB read, its
        # bank select, the gate multiply, the PE multiply, the row sum and the accumulate as one
        # 55 ns path, and then the UB read, the gate multiply and its requantization as one
        # 35 ns path (docs/fpga.md, Pipelining). Without gating the gate is 1 and the shift 0:
        # requant8(x * 1, 0) is x. The weights are read two cycles after the input (their
        # addresses registered), so they meet the gated word in stage 1b without a register of
        # their own (L x L bytes of weights); the parameters two cycles later, for stage 1d.
        x_lanes = lanes_of(self.rd_a.data[0], L)
        m.d.comb += gate_rd.addr.eq(s1_ci)
        gw = gate_rd.data
        s1a_v, s1a_first, s1a_last = Signal(), Signal(), Signal()
        s1a_co = Signal(8)
        s1a_xaddr, s1a_saddr, s1a_oaddr = Signal(A), Signal(A), Signal(A)
        s1a_waddr, s1a_paddr = Signal.like(self.wgt.addr), Signal.like(self.prm.addr)
        s1a_p = [Signal(signed(16), name=f"s1a_p{k}") for k in range(L)]
        m.d.sync += s1a_v.eq(s1_v & ~stop)
        with m.If(s1_v):
            m.d.sync += [s1a_first.eq(s1_first), s1a_last.eq(s1_last), s1a_co.eq(s1_co),
                         s1a_xaddr.eq(s1_xaddr), s1a_saddr.eq(s1_saddr),
                         s1a_oaddr.eq(s1_oaddr), s1a_waddr.eq(s1_waddr),
                         s1a_paddr.eq(s1_paddr)]
            # the exact product (int8 x int8 in 16 bits), as gate8 forms it
            m.d.sync += [s1a_p[k].eq(x_lanes[k] * Mux(g.gate, gw.word_select(k, 8).as_signed(), 1))
                         for k in range(L)]
        with m.If(s1a_v):
            m.d.comb += [self.wgt.en.eq(1), self.wgt.addr.eq(s1a_waddr)]
        xg = [requant8(m, s1a_p[k], Mux(g.gate, g.gshift, 0), name=f"gx{k}") for k in range(L)]
        m.d.comb += [self.trace_g.valid.eq(s1a_v & g.gate & (s1a_co == 0) & ~stop),
                     self.trace_g.addr.eq(s1a_xaddr), self.trace_g.word.eq(Cat(*xg))]
        s1b_v, s1b_first, s1b_last = Signal(), Signal(), Signal()
        s1b_saddr, s1b_oaddr = Signal(A), Signal(A)
        s1b_paddr = Signal.like(self.prm.addr)
        s1b_x = [Signal(signed(8), name=f"s1b_x{k}") for k in range(L)]
        m.d.sync += s1b_v.eq(s1a_v & ~stop)
        with m.If(s1a_v):
            m.d.sync += [s1b_first.eq(s1a_first), s1b_last.eq(s1a_last),
                         s1b_saddr.eq(s1a_saddr), s1b_oaddr.eq(s1a_oaddr),
                         s1b_paddr.eq(s1a_paddr)]
            m.d.sync += [s1b_x[k].eq(xg[k]) for k in range(L)]
        # stage 1b: MACs into the PE cells; stage 1c: the cells' pair sums (the parameters
        # read, for stage 1d)
        m.d.comb += [self.pe_gemm.eq(s1b_v), self.pe_w.eq(self.wgt.data)]
        for k in range(L):
            m.d.comb += self.pe_x[k].eq(s1b_x[k])
        s1c_v, s1c_first, s1c_last = Signal(), Signal(), Signal()
        s1c_saddr, s1c_oaddr = Signal(A), Signal(A)
        s1c_paddr = Signal.like(self.prm.addr)
        m.d.sync += s1c_v.eq(s1b_v & ~stop)
        with m.If(s1b_v):
            m.d.sync += [s1c_first.eq(s1b_first), s1c_last.eq(s1b_last),
                         s1c_saddr.eq(s1b_saddr), s1c_oaddr.eq(s1b_oaddr),
                         s1c_paddr.eq(s1b_paddr)]
        with m.If(s1b_v & ~stop):
            m.d.comb += self.mac.eq(1)
        s1d_v, s1d_first, s1d_last = Signal(), Signal(), Signal()
        s1d_saddr, s1d_oaddr = Signal(A), Signal(A)
        m.d.sync += s1d_v.eq(s1c_v & ~stop)
        with m.If(s1c_v):
            m.d.comb += [self.prm.en.eq(1), self.prm.addr.eq(s1c_paddr)]
            m.d.sync += [s1d_first.eq(s1c_first), s1d_last.eq(s1c_last),
                         s1d_saddr.eq(s1c_saddr), s1d_oaddr.eq(s1c_oaddr)]
        with m.If(s1d_v & s1d_last & g.add):
            # the residual input, read two cycles before its add: its data (a bank's narrow
            # port and bank select) goes into a register in stage 2 (P&R measured the read and
            # the add as one path, docs/fpga.md); the port is the GEMM's after its gate preload
            m.d.comb += [self.rd_b.en.eq(1), self.rd_b.addr.eq(s1d_saddr)]
        # stage 1d: the row sums of the pair sums, accumulate
        acc = [Signal(signed(32), name=f"gacc{r}") for r in range(L)]
        with m.If(s1d_v & ~stop):
            for r in range(L):
                m.d.sync += acc[r].eq(Mux(s1d_first, 0, acc[r]) + self.pe_sums[r])
        s2_v, s2_oaddr = Signal(), Signal(A)
        s2_prm = Signal(self.cfg.prm_word_bytes * 8)
        m.d.sync += s2_v.eq(s1d_v & s1d_last & ~stop)
        with m.If(s1d_v & s1d_last):
            m.d.sync += [s2_oaddr.eq(s1d_oaddr), s2_prm.eq(self.prm.data)]
        # stage 2: post-processing into a register (the requantization and table chain alone
        # on this cycle's path: P&R measured it and the residual add as one 52 ns path)
        for j in range(L):
            m.d.comb += post.acc[j].eq(acc[j])
        m.d.comb += [post.params.eq(s2_prm), post.tbl.eq(g.tbl), post.tslot.eq(g.tslot),
                     post.qu.eq(g.qu)]
        s3_v, s3_oaddr = Signal(), Signal(A)
        s3_q, s3_a, s3_skip = Signal(L * 8), Signal(L * 8), Signal(L * 8)
        m.d.sync += s3_v.eq(s2_v & ~stop)
        with m.If(s2_v):
            m.d.sync += [s3_oaddr.eq(s2_oaddr), s3_q.eq(post.q), s3_a.eq(post.a)]
            with m.If(g.add):
                m.d.sync += s3_skip.eq(self.rd_b.data)
        # stage 3: residual add, register for the write
        ga = lanes_of(s3_a, L)
        skip = lanes_of(s3_skip, L)
        r_lanes = []
        for j in range(L):
            rr = add8(m, ga[j], g.sa, skip[j], g.sb, g.ashift, name=f"gadd{j}")
            rj = Signal(signed(8), name=f"gr{j}")
            m.d.comb += rj.eq(Mux(g.add, rr, ga[j]))
            r_lanes.append(rj)
        s4_v = Signal()
        res = self.result
        s4_addr = Signal(len(res.addr))
        s4_q, s4_a, s4_r = Signal(L * 8), Signal(L * 8), Signal(L * 8)
        m.d.sync += s4_v.eq(s3_v & ~stop)
        with m.If(s3_v):
            m.d.sync += [s4_addr.eq(s3_oaddr), s4_q.eq(s3_q),
                         s4_a.eq(s3_a), s4_r.eq(Cat(*r_lanes))]
        m.d.comb += [res.valid.eq(s4_v), res.addr.eq(s4_addr), res.n.eq(1), res.r[0].eq(s4_r),
                     res.q[0].eq(s4_q), res.a[0].eq(s4_a),
                     self.busy.eq(pre | run | s1_v | s1a_v | s1b_v | s1c_v | s1d_v | s2_v | s3_v
                                  | s4_v),
                     self.active.eq(pre_v | self.mac)]
        return m
