"""The depthwise unit: ``k x k`` depthwise convolution, ``lanes`` pixels x ``lanes`` channels a
cycle on the PE array.

For each channel group ``gi < g`` the unit loads the group's taps (``ceil(k*k / lanes)`` weight
tiles from ``wgt + gi * tiles``: tap ``t`` of channel ``c`` is byte ``c`` of tile row ``t``) and
its parameter word (``prm + gi``). Then for each block of ``lanes`` output pixels (flat mode:
consecutive pixels across rows; row mode: ``lanes`` pixels of one output row) and each tap
``(ky, kx)`` the PE array multiplies (:class:`~hfaccel.rtl.pe.PeArray` in depthwise mode):
PE ``(j, c)`` takes channel ``c`` of pixel ``j``'s input from the window
(:class:`~hfaccel.rtl.dw_window.DwWindow`: word ``j * s + kx`` of row ``ky``'s span), or 0
where that input lies in the zero padding (``pad`` left, ``padt`` top) or the pixel is past
the map, and accumulates its product in its own register (the PE's MAC cell: ``pe_ce``,
``pe_first``). A finished block's sums go to a write-back copy (from the PE registers, in the
two cycles after the block's last MAC), which writes ``writeback_words(cfg)`` words a cycle
through as many
post-processing words (:class:`~hfaccel.rtl.post.PostWord`: the first is the engine's shared
word, driven through the ``post`` port, the others the unit's own) to
``out + gi * ocs + pixel`` while the next block computes.

A descriptor with a kernel or stride the config does not have, ``g``, ``ho`` or ``wo`` zero,
or flat mode at stride 2 or with ``wo != 2**wo_log2`` raises
:attr:`~hfaccel.accel.isa.Status.BAD_DW`.
"""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.isa import Status
from hfaccel.rtl.counters import mul_small, step_nest
from hfaccel.rtl.dw_window import DwWindow, window_reads
from hfaccel.rtl.pe import acc_width
from hfaccel.rtl.ports import ReadRequest, Result
from hfaccel.rtl.post import post_port, post_word, table_port
from hfaccel.rtl.ub import ub_addr_width

__all__ = ["Depthwise", "writeback_words"]


def writeback_words(cfg: AccelConfig) -> int:
    """Words the depthwise write-back post-processes and writes per cycle (also the trace
    port's words): the fewest (a power of two) that still write a block of ``lanes`` pixels
    within the next block's ``k * k`` MAC cycles at the smallest kernel, so that the MAC loop
    never waits for the write-back (only an instruction's last block shows it, ``lanes / WB``
    cycles): the copy takes a block in the two cycles after its last MAC and the next one
    while its last two steps run, so ``lanes / WB <= k * k - 1``. Each word is a
    post-processing word of ``lanes`` lanes with its table copies, the engine's largest unit:
    ``default`` (32 lanes, 3x3 and 5x5) needs 4, ``small`` 1."""
    need = -(-cfg.lanes // max(min(cfg.dw_kernels) ** 2 - 1, 1))
    return min(1 << (need - 1).bit_length(), cfg.lanes, cfg.ub_banks)


class Depthwise(wiring.Component):
    """The depthwise unit of one :class:`AccelConfig` (see the module docstring).

    Members
    -------
    cmd : ``In(stream.Signature(isa.amaranth_layout("DW"), always_ready=True))``
        A DW instruction to start (``valid`` for one cycle while the unit is idle).
    stop : ``In(1)``
        The engine has stopped on an error.
    rd_a : ``Out(ReadRequest(ub address, lanes * 8, words=ub_banks))``
        The UB's wide port (the window's reads).
    wgt, prm : ``Out(ReadRequest(...))``
        The weight buffer (taps) and the parameter buffer.
    pe_x, pe_x2, pe_s2, pe_valid, pe_tap, pe_ce, pe_first, pe_acc :
        The PE array's depthwise side: per row its input word at stride 1 and 2
        (``Out(lanes * 8).array(lanes)`` each) and the stride (``pe_s2``), whether the input is
        inside the map (``Out(1).array(lanes)``), the tap word, the MAC enable and sum start,
        the PE registers (``In(signed(acc_width(max(dw_kernels)))).array(lanes, lanes)``).
    post : ``Out(post_port(lanes))``
        The shared post-processing word: the write-back's first word.
    tables : ``Out(table_port(cfg))``, where ``writeback_words(cfg) > 1``
        Table writes (inputs, passed to the unit's own post-processing words).
    result : ``Out(Result(ub address, lanes * 8, words=writeback_words(cfg)))``
        The output words.
    error : ``Out(8)``
        A :class:`~hfaccel.accel.isa.Status` code in the cycle a bad descriptor arrives.
    busy, mac, active : ``Out(1)``
        An instruction is in progress; the PE array computes for it this cycle; something
        moved (reads, taps, parameters, MACs, write-back: the watchdog's notion of progress).
    """

    def __init__(self, *, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        self.cfg = cfg
        L = cfg.lanes
        A, W = ub_addr_width(cfg), L * 8
        self.wb = writeback_words(cfg)
        # write-back words 1.. (word 0 is the engine's shared word, the ``post`` port)
        self.posts = {i: post_word(cfg) for i in range(1, self.wb)}
        self.memories = {f"post{i}.{k}": v for i, post in self.posts.items()
                         for k, v in post.memories.items()}
        own_posts = {"tables": Out(table_port(cfg))} if self.posts else {}
        super().__init__({
            "cmd": In(stream.Signature(isa.amaranth_layout("DW"), always_ready=True)),
            "stop": In(1),
            "rd_a": Out(ReadRequest(addr_width=A, data_width=W, words=cfg.ub_banks)),
            "wgt": Out(ReadRequest(addr_width=ceil_log2(cfg.wgt_tiles), data_width=L * W)),
            "prm": Out(ReadRequest(addr_width=ceil_log2(cfg.prm_words),
                                   data_width=cfg.prm_word_bytes * 8)),
            "pe_x": Out(W).array(L), "pe_x2": Out(W).array(L), "pe_s2": Out(1),
            "pe_valid": Out(1).array(L), "pe_tap": Out(W),
            "pe_ce": Out(1), "pe_first": Out(1),
            "pe_acc": In(signed(acc_width(max(cfg.dw_kernels)))).array(L, L),
            "post": Out(post_port(L)), **own_posts,
            "result": Out(Result(addr_width=A, word_bits=W, words=self.wb)),
            "error": Out(8), "busy": Out(1), "mac": Out(1), "active": Out(1),
        })

    def elaborate(self, platform):
        c = self.cfg
        m = Module()
        L, NB, WB, WBITS = c.lanes, c.ub_banks, self.wb, c.lanes * 8
        l_log2 = ceil_log2(L)
        stop = self.stop
        TPG = -(-max(c.dw_kernels) ** 2 // L)  # weight tiles per channel group, at most
        m.submodules.window = win = DwWindow(lanes=L, banks=NB, window=c.dw_window,
                                             addr_width=len(self.rd_a.addr))
        wiring.connect(m, wiring.flipped(self.rd_a), win.rd_a)

        d = Signal(isa.amaranth_layout("DW"))  # the instruction in progress
        tpg = Signal(range(TPG + 1))  # weight tiles per group
        nreads = Signal(range(window_reads(banks=NB, window=c.dw_window)))
        nblk = Signal(24)  # blocks per group
        bx = Signal(8)  # blocks per row (row mode)
        # the window samples the instruction with its start (the cycle the command arrives)
        m.d.comb += [win.instr.eq(self.cmd.payload), win.nreads.eq(nreads), win.nblk.eq(nblk),
                     win.bx.eq(bx), win.stop.eq(stop)]
        # the MAC loop
        run = Signal()
        gi, b, ky, kx = Signal(8), Signal(24), Signal(3), Signal(3)
        # block -> coordinates: flat mode n0 = b * L; row mode (oy, ox0 = bxi * L), kept as
        # running counters because the blocks per row need not be a power of two; oy only as
        # the running products oys = oy * s and oyo = oy * wo. The other address terms are
        # running sums too (no multiplier on a per-cycle path, docs/fpga.md): wg = wgt +
        # gi * tiles, og = out + gi * ocs; hw = ho * wo is the instruction's.
        bxi = Signal(8)
        oys, oyo, hw = Signal(14), Signal(24), Signal(24)
        wg = Signal(len(self.wgt.addr))
        og = Signal(len(self.result.addr))
        tap_idx = Signal(8)  # ky * k + kx
        taps_ok = Signal()
        tap_i = Signal(range(TPG + 2))
        taps = [Signal(WBITS, name=f"tap{t}") for t in range(TPG * L)]
        prm = Signal(c.prm_word_bytes * 8)
        prm_ok = Signal()
        # the sums are the PE array's registers (exact in AW bits, pe.acc_width); the write-back
        # copy holds lanes**2 of them
        AW = acc_width(max(c.dw_kernels))
        first = Signal()
        # write-back
        wb_busy = Signal()
        # the write-back copy loads the even PE columns' registers in a take's next cycle
        # (take_d), the odd columns' in the cycle after (take_dd: they run a cycle behind)
        take_d, take_dd = Signal(), Signal()
        nx_addr = Signal(len(self.result.addr))  # the taken block's place, until take_dd
        nx_n = Signal(range(L + 1))
        wb_acc = [[Signal(signed(AW), name=f"wacc{j}_{k}") for k in range(L)] for j in range(L)]
        wb_prm = Signal(c.prm_word_bytes * 8)
        wb_addr = Signal(len(self.result.addr))
        wb_n = Signal(range(L + 1))
        wb_i = Signal(range(L + 1))

        with m.If(self.cmd.valid):
            hd = self.cmd.payload
            m.d.sync += d.eq(hd)
            kk = Signal(8)
            # k * k from a table of the eight 3-bit kernels (a multiply would be a DSP)
            m.d.comb += kk.eq(Array(Const(v * v, 8) for v in range(8))[hd.k])
            span = Signal(16)
            m.d.comb += span.eq(Mux(hd.s == 2, 2 * L, L) + hd.k - 1)
            n_out = Signal(24)
            m.d.comb += n_out.eq(hd.ho * hd.wo)
            ok_k = Signal()
            for kv in c.dw_kernels:
                with m.If(hd.k == kv):
                    m.d.comb += ok_k.eq(1)
            ok_s = Signal()
            for sv in c.dw_strides:
                with m.If(hd.s == sv):
                    m.d.comb += ok_s.eq(1)
            bad = (~ok_k | ~ok_s | (hd.g == 0) | (hd.ho == 0) | (hd.wo == 0)
                   | (hd.flat & ((hd.s != 1) | (Const(1, 12) << hd.wo_log2 != hd.wo))))
            with m.If(bad):
                m.d.comb += self.error.eq(Status.BAD_DW)
            with m.Else():
                row_blocks = Signal(8)
                m.d.comb += [row_blocks.eq((hd.wo + L - 1) >> l_log2), win.start.eq(1)]
                m.d.sync += [tpg.eq((kk + L - 1) >> l_log2),
                             nreads.eq((span + NB - 1) >> ceil_log2(NB)), bx.eq(row_blocks),
                             nblk.eq(Mux(hd.flat, (n_out + L - 1) >> l_log2,
                                         hd.ho * row_blocks)),
                             run.eq(1), gi.eq(0), b.eq(0), ky.eq(0), kx.eq(0), taps_ok.eq(0),
                             prm_ok.eq(0), tap_i.eq(0), first.eq(1), bxi.eq(0), oys.eq(0),
                             oyo.eq(0), hw.eq(n_out), wg.eq(hd.wgt), og.eq(hd.out),
                             tap_idx.eq(0)]

        # per group: the taps (a weight tile a cycle, data one cycle later) and parameters
        tap_cap_v = Signal()
        tap_cap_i = Signal(range(TPG + 2))
        m.d.sync += tap_cap_v.eq(0)
        prm_cap_v = Signal()
        m.d.sync += prm_cap_v.eq(0)
        with m.If(run & ~taps_ok & ~stop):
            m.d.comb += [self.wgt.en.eq(1), self.wgt.addr.eq(wg + tap_i)]
            with m.If(tap_i < tpg):
                m.d.sync += [tap_cap_v.eq(1), tap_cap_i.eq(tap_i), tap_i.eq(tap_i + 1)]
            with m.Elif(~tap_cap_v):
                m.d.sync += taps_ok.eq(1)
        with m.If(tap_cap_v):
            for t in range(TPG * L):
                ti, row = divmod(t, L)
                with m.If(tap_cap_i == ti):
                    m.d.sync += taps[t].eq(self.wgt.data.word_select(row, WBITS))
        with m.If(run & ~prm_ok & ~stop):
            m.d.comb += [self.prm.en.eq(1), self.prm.addr.eq(d.prm + gi)]
            m.d.sync += prm_cap_v.eq(1)
            with m.If(prm_cap_v):
                m.d.sync += [prm.eq(self.prm.data), prm_ok.eq(1), prm_cap_v.eq(0)]

        mac_go = Signal()
        wb_take = Signal()  # hand the finished block to write-back
        m.d.comb += mac_go.eq(run & taps_ok & prm_ok & win.ready & ~stop)
        # a block's final MAC cycle must wait for the write-back copy: free, or its last step
        # this cycle or the next (the copy loads its even columns at the end of the next cycle,
        # whose step still reads the old rows)
        block_end = Signal()
        m.d.comb += block_end.eq((kx + 1 == d.k) & (ky + 1 == d.k))
        wb_soon = Signal()  # the copy's last write-back step is this cycle or the next
        wb_free = Signal()
        m.d.comb += wb_free.eq(~take_d & ~take_dd & (~wb_busy | wb_soon))
        fire = Signal()
        m.d.comb += fire.eq(mac_go & (~block_end | wb_free))
        valid = [Signal(name=f"dvr{j}") for j in range(L)]  # assigned after the loop nest
        m.d.comb += self.pe_tap.eq(Array(taps)[tap_idx])
        for j in range(L):
            m.d.comb += [self.pe_x[j].eq(win.lane_words[j]), self.pe_x2[j].eq(win.lane_words2[j]),
                         self.pe_valid[j].eq(valid[j])]
        m.d.comb += self.pe_s2.eq(win.s2)
        m.d.comb += [self.pe_ce.eq(fire), self.pe_first.eq(first)]
        with m.If(fire):
            m.d.comb += [self.mac.eq(1), win.shift.eq(1)]
            m.d.sync += [first.eq(0), tap_idx.eq(tap_idx + 1)]
            nest = step_nest(m, [(kx, d.k), (ky, d.k), (b, nblk), (gi, d.g)])
            with m.If(nest.wraps[0]):
                m.d.comb += win.release.eq(1)
            with m.If(nest.wraps[1]):
                m.d.sync += [first.eq(1), tap_idx.eq(0)]
                m.d.comb += wb_take.eq(1)
            with m.If(nest.wraps[2]):
                with m.If(nest.last[3]):
                    m.d.sync += run.eq(0)
                with m.Else():
                    m.d.sync += [taps_ok.eq(0), prm_ok.eq(0), tap_i.eq(0), wg.eq(wg + tpg),
                                 og.eq(og + d.ocs)]
        # Row mode: the block within its row (bxi) and the row's products (oys = oy * s, oyo =
        # oy * wo) step with the block counter b: to 0 with a new group, to the next row after
        # the row's last block.
        step_blk = fire & nest.carries[2]
        new_row = nest.last[2] | (bxi + 1 == bx)
        bxi_n = Mux(step_blk, Mux(new_row, 0, bxi + 1), bxi)
        oys_n = Mux(step_blk & new_row, Mux(nest.last[2], 0, oys + d.s), oys)
        with m.If(step_blk):  # (never with a command, whose resets come first)
            m.d.sync += [bxi.eq(bxi_n), oys.eq(oys_n)]
            with m.If(new_row):
                m.d.sync += oyo.eq(Mux(nest.last[2], 0, oyo + d.wo))
        # Which lanes' inputs lie inside the map, registered: computed every cycle for the
        # counters' next values (what this cycle's step makes them), so that the cycle's MAC
        # sees its own. P&R measured the comparisons, the PE multiply and the accumulate as the
        # engine's longest path (docs/fpga.md, Pipelining); the instruction's fields hold from
        # the cycle after its command, at least two cycles before its first MAC.
        kx_n, ky_n, b_n = (Mux(fire, a, c) for a, c in zip(nest.after, (kx, ky, b)))
        m.d.sync += [v.eq(n) for v, n in
                     zip(valid, self._lane_valid(m, d, b_n, oys_n, bxi_n, hw, ky_n, kx_n))]
        # hand-over: the sums after this cycle's MAC are in the even PE columns' registers in
        # the next cycle (take_d) and in the odd columns' in the cycle after (take_dd), when
        # the write-back copy loads them; the next block's first MAC comes at the earliest in
        # take_d's cycle, and each column's register changes a cycle after its MAC, so they are
        # still there. The block's place in the output is taken now (the counters step with
        # this MAC) and held until the copy is the block's (take_dd).
        m.d.sync += [take_d.eq(wb_take & ~stop), take_dd.eq(take_d & ~stop)]
        for j in range(L):
            for k in range(L):
                with m.If(take_dd if k % 2 else take_d):
                    m.d.sync += wb_acc[j][k].eq(self.pe_acc[j][k])
        with m.If(take_dd):
            # the parameters too: the previous block's last rows may have gone to w0 in the
            # cycle before, for the post words of this cycle, with their own parameters
            m.d.sync += [wb_prm.eq(prm), wb_busy.eq(1), wb_addr.eq(nx_addr), wb_n.eq(nx_n),
                         wb_i.eq(0)]
        with m.If(wb_take):
            cnt = Signal(24)
            start = Signal(32)
            n0 = Signal(24)
            m.d.comb += n0.eq(b << l_log2)
            with m.If(d.flat):
                m.d.comb += [start.eq(n0), cnt.eq(Mux(hw - n0 > L, L, hw - n0))]
            with m.Else():
                ox0 = Signal(16)
                m.d.comb += ox0.eq(bxi << l_log2)
                m.d.comb += [start.eq(oyo + ox0),
                             cnt.eq(Mux(d.wo - ox0 > L, L, d.wo - ox0))]
            m.d.sync += [nx_addr.eq(og + start), nx_n.eq(cnt)]

        # write-back: WB words per cycle through post-processing. Post word i reads row
        # wb_i + i of the copy, one of the L / WB rows i, i + WB, ... (selected by the step
        # wb_i / WB): the copy's flip-flops only load (their input is the PE registers) and each
        # row bit costs its share of an (L / WB):1 multiplexer. A shift
        # register (WB rows a step) cost a load/shift LUT per bit of all L rows, twice as many
        # LUTs at 32 lanes and 4 words (docs/fpga.md). Stage w0 registers the selected rows,
        # stage w1 the post-processed words: P&R measured the row select, the shared post word
        # and its table lookup as the engine's longest path (docs/fpga.md, Pipelining). The copy
        # is a block's two cycles after its last MAC (take_d, take_dd) and takes the next
        # block's sums while its last step or two run, so its L / WB steps and the two loads
        # fit in a block's k * k MAC cycles when L / WB <= k * k - 1 (default: 8 of 9).
        wb_step = wb_i >> ceil_log2(WB)
        words = [self.post] + list(self.posts.values())
        for i, post in self.posts.items():
            m.submodules[f"post{i}"] = post
            wiring.connect(m, wiring.flipped(self.tables), post.tables)
        res = self.result
        w0_v = Signal()
        w0_addr = Signal(len(res.addr))
        w0_n = Signal(range(WB + 1))
        w0_acc = [[Signal(signed(AW), name=f"w0acc{i}_{k}") for k in range(L)]
                  for i in range(WB)]
        m.d.sync += w0_v.eq(0)
        with m.If(wb_busy & ~stop):
            left = Signal(range(L + 1))
            m.d.comb += left.eq(wb_n - wb_i)
            m.d.sync += [w0_v.eq(1), w0_addr.eq(wb_addr + wb_i),
                         w0_n.eq(Mux(left > WB, WB, left))]
            for i in range(WB):
                for k in range(L):
                    rows = Array(wb_acc[r][k] for r in range(i, L, WB))
                    m.d.sync += w0_acc[i][k].eq(rows[wb_step] if L > WB else rows[0])
            m.d.comb += wb_soon.eq(wb_i + 2 * WB >= wb_n)
            with m.If(wb_i + WB >= wb_n):
                m.d.sync += wb_busy.eq(0)
            with m.Else():
                m.d.sync += wb_i.eq(wb_i + WB)
        # the post words read w0 with the block's parameters: a take comes at the earliest a
        # cycle before the copy's last rows go to w0, and its parameters (take_dd) two cycles
        # after it, as the post words read those rows
        for i, post in enumerate(words):
            m.d.comb += [post.acc[k].eq(w0_acc[i][k]) for k in range(L)]
            m.d.comb += [post.params.eq(wb_prm), post.tbl.eq(d.tbl), post.tslot.eq(d.tslot),
                         post.qu.eq(d.qu)]
        w1_v = Signal()
        w1_addr = Signal(len(res.addr))
        w1_n = Signal(range(WB + 1))
        w1_q = [Signal(WBITS, name=f"w1q{i}") for i in range(WB)]
        w1_a = [Signal(WBITS, name=f"w1a{i}") for i in range(WB)]
        m.d.sync += w1_v.eq(w0_v & ~stop)
        with m.If(w0_v):
            m.d.sync += [w1_addr.eq(w0_addr), w1_n.eq(w0_n)]
            for i, post in enumerate(words):
                m.d.sync += [w1_q[i].eq(post.q), w1_a[i].eq(post.a)]
        m.d.comb += [res.valid.eq(w1_v), res.addr.eq(w1_addr), res.n.eq(w1_n)]
        for i in range(WB):
            m.d.comb += [res.r[i].eq(w1_a[i]), res.q[i].eq(w1_q[i]), res.a[i].eq(w1_a[i])]
        m.d.comb += [self.busy.eq(win.busy | run | take_d | take_dd | wb_busy | w0_v | w1_v),
                     self.active.eq(win.active | tap_cap_v | prm_cap_v | wb_busy | fire)]
        return m

    def _lane_valid(self, m, d, b, oys, bxi, hw, ky, kx):
        """Per lane (output pixel ``j`` of block ``b``): its input for tap ``(ky, kx)`` lies
        inside the map (not in the padding) and the pixel inside the output.

        The block's terms are shared and each lane adds a constant of its own: flat mode
        (stride 1, ``wo = 2**wo_log2``): pixel ``n0 + j`` (``n0 = b * lanes``, ``j < lanes``)
        is ``(n0 >> wo_log2 + j >> wo_log2, n0 % wo + j % wo)``, exact because ``n0`` is a
        multiple of ``lanes``: ``n0 + j == n0 | j``; row mode: ``(oy, ox0 + j)``, times ``s``."""
        L = self.cfg.lanes
        l_log2 = ceil_log2(L)
        n0 = Signal(24)
        ox0 = Signal(16)
        mask = Signal(12)
        m.d.comb += [n0.eq(b << l_log2), ox0.eq(bxi << l_log2),
                     mask.eq((Const(1, 12) << d.wo_log2) - 1)]
        # the block's first pixel's input row / column for this tap, and how many of its
        # pixels lie inside the output
        y0, x0 = Signal(signed(18)), Signal(signed(18))
        room = Signal(signed(26))
        with m.If(d.flat):
            m.d.comb += [y0.eq((n0 >> d.wo_log2) + ky - d.padt), x0.eq((n0 & mask) + kx - d.pad),
                         room.eq(hw - n0)]
        with m.Else():
            m.d.comb += [y0.eq(oys + ky - d.padt), x0.eq(mul_small(ox0, d.s) + kx - d.pad),
                         room.eq(d.wo - ox0)]
        valid = []
        for j in range(L):
            jc = Const(j, l_log2 + 1)
            dy, dx = Signal(l_log2 + 1, name=f"ldy{j}"), Signal(l_log2 + 2, name=f"ldx{j}")
            m.d.comb += [dy.eq(Mux(d.flat, jc >> d.wo_log2, 0)),
                         dx.eq(Mux(d.flat, jc & mask, mul_small(jc, d.s)))]
            iy = Signal(signed(19), name=f"iy{j}")
            ix = Signal(signed(19), name=f"ix{j}")
            m.d.comb += [iy.eq(y0 + dy), ix.eq(x0 + dx)]
            v = Signal(name=f"dv{j}")
            m.d.comb += v.eq((room > j) & (iy >= 0) & (iy < d.h) & (ix >= 0) & (ix < d.w))
            valid.append(v)
        return valid
