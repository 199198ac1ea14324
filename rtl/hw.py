"""The accelerator in Amaranth: a programmable engine that runs a program of instructions.

Block diagram (``docs/architecture.md`` has the full contract)::

              external memory port (req/rsp, bus_bytes per beat)
                 |              |
              [fetch] ----> [load queue] -> [DMA: LOAD/STORE] --> UB / WGT / PRM / TBL
                 |                          ^ free tokens | ready tokens v
                 +--------> [compute queue] -> [compute: GEMM | DW | GAP] <-> PE array
                                                   |  post-processing (bias, shift, table, add)
                                                   v
                                       UB (unified activation buffer, banked)

* ``UB``: the on-chip activation buffer, ``ub_banks`` banks of ``lanes``-byte words; a wide
  read port (``ub_banks`` consecutive words from any address), a narrow read port and a wide
  write port. Feature maps are stored channel-tile planar: word ``(ct, pixel)`` at
  ``base + ct * cstride + pixel`` (``lanes`` channels per word).
* ``WGT``: ``lanes x lanes`` weight tiles (tile byte ``co * lanes + ci``); ``PRM``: per-channel
  int32 bias and int8 shift; ``TBL``: two 256-entry activation tables.
* The PE array: ``lanes x lanes`` int8 multipliers. GEMM mode sums each row (one output channel
  from ``lanes`` input channels); depthwise mode accumulates each PE on its own (row = output
  pixel, column = channel).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.isa import Status
from hfaccel.rtl.dma import Dma
from hfaccel.rtl.dw import Depthwise
from hfaccel.rtl.gap import Gap
from hfaccel.rtl.gemm import Gemm
from hfaccel.rtl.pe import PeArray
from hfaccel.rtl.post import table_geometry
from hfaccel.rtl.sram import SRAM
from hfaccel.rtl.ub import UnifiedBuffer

__all__ = ["Accelerator", "TAG_FETCH", "TAG_DMA"]

TAG_FETCH, TAG_DMA = 0, 1


def _clog2(n: int) -> int:
    return max(1, (n - 1).bit_length())


class Accelerator(wiring.Component):
    """The whole engine for one :class:`AccelConfig`.

    Control: pulse ``start`` with ``prog`` = beat address of the program; ``busy`` rises, and
    ``done`` rises (and stays) when the program has finished or stopped on an error; ``status``
    is 0 on success, else a code of :data:`hfaccel.accel.isa.ERRORS`.

    Memory port: ``req_*`` is a valid/ready request (``req_we`` write with ``req_wdata``, else
    read; ``req_addr`` in beats; ``req_tag`` returned with the response); ``rsp_*`` returns read
    data in request order, one beat per cycle, without back-pressure (the engine never has more
    than ``max_outstanding`` reads in flight and always accepts them).

    Observation ports (leave unconnected in a product; the testbench records them):
    ``trace_*`` shows every activation word the compute unit writes, with its pre-activation
    (``q``), post-table (``a``) and final (``r``) codes; ``trace_g_*`` shows each gated input
    word of a GEMM with squeeze-excitation gating (once, during its first output tile);
    ``perf_*`` pulses at the end of every compute instruction with its cycle counts.
    """

    def __init__(self, cfg: AccelConfig):
        self.cfg = c = cfg
        self.wb = min(8, c.lanes)  # words per cycle of depthwise write-back (and trace slots)
        wbits = c.lanes * 8
        super().__init__({
            "start": In(1), "prog": In(32),
            "busy": Out(1), "done": Out(1), "status": Out(8),
            "cycles": Out(32), "cmp_busy": Out(32), "cmp_wait": Out(32), "ld_busy": Out(32),
            "mac_cycles": Out(32), "instrs": Out(32),
            "req_valid": Out(1), "req_ready": In(1), "req_we": Out(1), "req_addr": Out(32),
            "req_wdata": Out(c.bus_bytes * 8), "req_tag": Out(1),
            "rsp_valid": In(1), "rsp_data": In(c.bus_bytes * 8), "rsp_tag": In(1),
            "trace_valid": Out(self.wb), "trace_layer": Out(16), "trace_addr": Out(32),
            "trace_q": Out(self.wb * wbits), "trace_a": Out(self.wb * wbits),
            "trace_r": Out(self.wb * wbits),
            "perf_valid": Out(1), "perf_layer": Out(16), "perf_t": Out(32), "perf_wait": Out(32),
            "perf_busy": Out(32), "perf_mac": Out(32),
            "trace_g_valid": Out(1), "trace_g_addr": Out(32), "trace_g": Out(wbits),
        })

    # ------------------------------------------------------------------------------------------
    def elaborate(self, platform):  # noqa: C901 - one engine, read top to bottom
        c = self.cfg
        m = Module()
        L, NB, WB = c.lanes, c.ub_banks, self.wb
        WBITS = L * 8
        BB = c.bus_bytes * 8
        R = c.words_per_beat
        UBA = _clog2(c.ub_words)  # activation word address bits

        # ---------------------------------------------------------------- global state
        running = Signal()
        error = Signal(8)
        done = Signal()
        cycles = Signal(32)
        m.d.comb += [self.busy.eq(running), self.done.eq(done), self.status.eq(error),
                     self.cycles.eq(cycles)]
        stop = Signal()  # freeze everything on error
        m.d.comb += stop.eq(error != 0)
        with m.If(running):
            m.d.sync += cycles.eq(cycles + 1)
        progress = Signal()
        watchdog = Signal(range(c.watchdog_cycles + 1))
        with m.If(self.start):
            m.d.sync += [running.eq(1), done.eq(0), error.eq(0), cycles.eq(0), watchdog.eq(0)]
        set_error = Signal(8)  # units drive this combinationally; first error wins
        with m.If(running & (set_error != 0) & (error == 0)):
            m.d.sync += [error.eq(set_error), running.eq(0), done.eq(1)]
        with m.If(running & ~progress):
            m.d.sync += watchdog.eq(watchdog + 1)
            with m.If(watchdog == c.watchdog_cycles - 1):
                m.d.sync += [error.eq(Status.WATCHDOG), running.eq(0), done.eq(1)]
        with m.Elif(running):
            m.d.sync += watchdog.eq(0)

        # ---------------------------------------------------------------- memories
        # each memory is an SRAM (rtl/sram.py): its own Verilog module, one per kind
        self.memories = mems = {}
        ub = UnifiedBuffer(banks=NB, depth=c.ub_bank_depth, word_bits=WBITS, write_words=WB,
                           beat_words=R)
        m.submodules.ub = ub
        for k, v in ub.memories.items():
            mems[f"ub.{k}"] = v
        wgt = mems["wgt"] = SRAM("wgt_buf", width=L * L * 8, depth=c.wgt_tiles)
        m.submodules.wgt = wgt
        wgt_rd = wgt.read_port("rd")
        wgt_wr = wgt.write_port("wr", granularity=BB)
        prm = mems["prm"] = SRAM("prm_buf", width=L * 64, depth=c.prm_words)
        m.submodules.prm = prm
        prm_rd = prm.read_port("rd")
        prm_wr = prm.write_port("wr", granularity=BB)
        tbl_wbytes, tbl_rows = table_geometry(bus_bytes=c.bus_bytes, table_slots=c.table_slots)
        tbl_w_addr = Signal(range(max(2, tbl_rows)))
        tbl_w_data = Signal(tbl_wbytes * 8)
        tbl_w_en = Signal()
        posts = []  # units with post-processing words (their table copies)

        rda_addr = Signal(UBA)
        rda_words = ub.rd_a.data
        m.d.comb += ub.rd_a.addr.eq(rda_addr)
        rdb_addr = Signal(UBA)
        rdb_word = ub.rd_b.data
        m.d.comb += ub.rd_b.addr.eq(rdb_addr)
        c_wr_addr = Signal(UBA)  # compute-side request (one engine at a time)
        c_wr_n = Signal(range(WB + 1))
        c_wr_words = [Signal(WBITS, name=f"cw{i}") for i in range(WB)]
        m.d.comb += [ub.wr_c.addr.eq(c_wr_addr), ub.wr_c.n.eq(c_wr_n)]
        for i in range(WB):
            m.d.comb += ub.wr_c.data[i].eq(c_wr_words[i])

        # ---------------------------------------------------------------- queues & semaphores
        m.submodules.ldq = ldq = SyncFIFOBuffered(width=isa.INSTR_BITS, depth=c.queue_depth)
        m.submodules.cmq = cmq = SyncFIFOBuffered(width=isa.INSTR_BITS, depth=c.queue_depth)
        sem_ready = Signal(16)  # load -> compute
        sem_free = Signal(16)  # compute -> load
        ready_inc, ready_dec, free_inc, free_dec = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [sem_ready.eq(sem_ready + ready_inc - ready_dec),
                     sem_free.eq(sem_free + free_inc - free_dec)]
        with m.If(self.start):
            m.d.sync += [sem_ready.eq(0), sem_free.eq(0)]

        # ---------------------------------------------------------------- bus arbitration
        f_req, f_addr = Signal(), Signal(32)
        d_req, d_addr, d_we, d_wdata = Signal(), Signal(32), Signal(), Signal(BB)
        f_grant, d_grant = Signal(), Signal()
        m.d.comb += [f_grant.eq(f_req & self.req_ready & ~stop),
                     d_grant.eq(d_req & ~f_req & self.req_ready & ~stop)]
        m.d.comb += [self.req_valid.eq((f_req | d_req) & ~stop),
                     self.req_addr.eq(Mux(f_req, f_addr, d_addr)),
                     self.req_we.eq(~f_req & d_we), self.req_wdata.eq(d_wdata),
                     self.req_tag.eq(Mux(f_req, TAG_FETCH, TAG_DMA))]
        f_rsp = Signal()
        d_rsp = Signal()
        m.d.comb += [f_rsp.eq(self.rsp_valid & (self.rsp_tag == TAG_FETCH)),
                     d_rsp.eq(self.rsp_valid & (self.rsp_tag == TAG_DMA))]

        # ---------------------------------------------------------------- fetch
        IB = c.instr_bytes // c.bus_bytes if c.bus_bytes <= c.instr_bytes else 1
        pc = Signal(32)
        f_issued = Signal(range(IB + 1))
        f_recv = Signal(range(IB + 1))
        f_buf = Signal(isa.INSTR_BITS)
        end_seen = Signal()
        f_head = Signal(isa.header_layout())
        m.d.comb += f_head.eq(f_buf)
        m.d.comb += [f_req.eq(running & ~end_seen & (f_issued < IB)), f_addr.eq(pc + f_issued)]
        with m.If(f_grant):
            m.d.sync += f_issued.eq(f_issued + 1)
        with m.If(f_rsp):
            if IB > 1:
                m.d.sync += f_buf.word_select(f_recv, BB).eq(self.rsp_data)
            else:
                m.d.sync += f_buf.eq(self.rsp_data[:isa.INSTR_BITS])
            m.d.sync += f_recv.eq(f_recv + 1)
        f_full = Signal()
        m.d.comb += f_full.eq(f_recv == IB)
        m.d.comb += [ldq.w_data.eq(f_buf), cmq.w_data.eq(f_buf)]
        OP = isa.OPCODES
        with m.If(running & f_full & ~stop):
            advance = Signal()
            with m.Switch(f_head.op):
                with m.Case(OP["LOAD"], OP["STORE"]):
                    m.d.comb += [ldq.w_en.eq(1), advance.eq(ldq.w_rdy)]
                with m.Case(OP["GEMM"], OP["DW"], OP["GAP"]):
                    m.d.comb += [cmq.w_en.eq(1), advance.eq(cmq.w_rdy)]
                with m.Case(OP["NOP"]):
                    m.d.comb += advance.eq(1)
                with m.Case(OP["END"]):
                    m.d.sync += end_seen.eq(1)
                    m.d.comb += advance.eq(1)
                with m.Default():
                    m.d.comb += set_error.eq(Status.BAD_OPCODE)
            with m.If(advance):
                m.d.sync += [pc.eq(pc + IB), f_issued.eq(0), f_recv.eq(0)]
        with m.If(self.start):
            m.d.sync += [pc.eq(self.prog), f_issued.eq(0), f_recv.eq(0), end_seen.eq(0)]

        # ---------------------------------------------------------------- DMA (load unit)
        rdb_gemm = Signal()  # a GEMM drives port B this cycle
        m.submodules.dma = dma = Dma(cfg=c)
        m.d.comb += [dma.start.eq(self.start), dma.running.eq(running), dma.stop.eq(stop),
                     dma.instr.payload.eq(ldq.r_data), dma.instr.valid.eq(ldq.r_rdy),
                     ldq.r_en.eq(dma.instr.ready),
                     dma.free_avail.eq(sem_free != 0), free_dec.eq(dma.take_free),
                     ready_inc.eq(dma.give_ready),
                     d_req.eq(dma.bus.valid), d_addr.eq(dma.bus.addr), d_we.eq(dma.bus.we),
                     d_wdata.eq(dma.bus.wdata), dma.bus.grant.eq(d_grant),
                     dma.bus.rsp_valid.eq(d_rsp), dma.bus.rsp_data.eq(self.rsp_data),
                     dma.rd_b_busy.eq(rdb_gemm), dma.rd_b.data.eq(rdb_word),
                     self.ld_busy.eq(dma.busy_cycles),
                     tbl_w_addr.eq(dma.tbl_w.addr), tbl_w_data.eq(dma.tbl_w.data),
                     tbl_w_en.eq(dma.tbl_w.en)]
        wiring.connect(m, dma.ub_w, ub.wr_d)
        wiring.connect(m, dma.wgt_w, wgt_wr)
        wiring.connect(m, dma.prm_w, prm_wr)
        with m.If(dma.error != 0):
            m.d.comb += set_error.eq(dma.error)

        # ---------------------------------------------------------------- compute unit
        cm_head = Signal(isa.INSTR_BITS)
        m.d.comb += cm_head.eq(cmq.r_data)
        cm_hdr = Signal(isa.header_layout())
        m.d.comb += cm_hdr.eq(cmq.r_data)
        cm_busy = Signal()
        cm_engine_done = Signal()
        cm_layer = Signal(16)
        cm_signal = Signal()
        t_busy, t_wait, t_mac = Signal(32), Signal(32), Signal(32)
        go_gemm, go_dw, go_gap = Signal(), Signal(), Signal()
        mac_now = Signal()  # the PE array does useful-or-padded work this cycle
        cmp_busy_cnt, cmp_wait_cnt, mac_cnt, instr_cnt = (Signal(32), Signal(32), Signal(32),
                                                          Signal(32))
        m.d.comb += [self.cmp_busy.eq(cmp_busy_cnt), self.cmp_wait.eq(cmp_wait_cnt),
                     self.mac_cycles.eq(mac_cnt), self.instrs.eq(instr_cnt)]
        with m.If(self.start):
            m.d.sync += [cmp_busy_cnt.eq(0), cmp_wait_cnt.eq(0), mac_cnt.eq(0), instr_cnt.eq(0),
                         cm_busy.eq(0), t_wait.eq(0)]
        with m.If(mac_now & ~stop):
            m.d.sync += [t_mac.eq(t_mac + 1), mac_cnt.eq(mac_cnt + 1)]
        with m.If(~cm_busy & cmq.r_rdy & running & ~stop):
            hw_wait = cm_hdr.wait
            with m.If(hw_wait & (sem_ready == 0)):
                m.d.sync += [t_wait.eq(t_wait + 1), cmp_wait_cnt.eq(cmp_wait_cnt + 1)]
            with m.Else():
                m.d.comb += [cmq.r_en.eq(1), ready_dec.eq(hw_wait)]
                m.d.sync += [cm_busy.eq(1), cm_layer.eq(cm_hdr.layer), cm_signal.eq(cm_hdr.signal),
                             t_busy.eq(1), t_mac.eq(0)]
                with m.Switch(cm_hdr.op):
                    with m.Case(OP["GEMM"]):
                        m.d.comb += go_gemm.eq(1)
                    with m.Case(OP["DW"]):
                        m.d.comb += go_dw.eq(1)
                    with m.Case(OP["GAP"]):
                        m.d.comb += go_gap.eq(1)
        with m.If(cm_busy & ~stop):
            m.d.sync += [t_busy.eq(t_busy + 1), cmp_busy_cnt.eq(cmp_busy_cnt + 1)]
            with m.If(cm_engine_done):
                m.d.sync += [cm_busy.eq(0), t_wait.eq(0), instr_cnt.eq(instr_cnt + 1)]
                m.d.comb += [free_inc.eq(cm_signal), self.perf_valid.eq(1)]
        m.d.comb += [self.perf_layer.eq(cm_layer), self.perf_t.eq(cycles),
                     self.perf_wait.eq(t_wait), self.perf_busy.eq(t_busy),
                     self.perf_mac.eq(t_mac)]

        # trace = the compute write, with the intermediate codes
        tq = [Signal(WBITS, name=f"tq{i}") for i in range(WB)]
        ta = [Signal(WBITS, name=f"ta{i}") for i in range(WB)]
        m.d.comb += [self.trace_layer.eq(cm_layer), self.trace_addr.eq(c_wr_addr),
                     self.trace_q.eq(Cat(*tq)), self.trace_a.eq(Cat(*ta)),
                     self.trace_r.eq(Cat(*c_wr_words))]
        for i in range(WB):
            m.d.comb += self.trace_valid[i].eq(~stop & (i < c_wr_n))

        # Units with a Verilog module of their own (for per-unit synthesis reports): the PE
        # array, post-processing (requantization, tables, SE gate, residual add) and the
        # depthwise datapath (window, taps, accumulators). Control, fetch, DMA, the GEMM/GAP
        # sequencers and the UB crossbars stay in the top level: they share signals.
        m.submodules.pe_array = pe = PeArray(lanes=L)


        # ---------------------------------------------------------------- GEMM engine
        m.submodules.gemm = gemm = Gemm(cfg=c)
        for k, v in gemm.memories.items():
            mems[f"gemm.{k}"] = v
        posts.append(gemm)
        m.d.comb += [gemm.cmd.valid.eq(go_gemm), gemm.cmd.payload.eq(cm_head),
                     gemm.stop.eq(stop)]
        with m.If(gemm.error != 0):
            m.d.comb += set_error.eq(gemm.error)
        with m.If(gemm.rd_b.en):
            m.d.comb += rdb_addr.eq(gemm.rd_b.addr)
        with m.If(gemm.rd_a.en):
            m.d.comb += rda_addr.eq(gemm.rd_a.addr)
        with m.If(gemm.wgt.en):
            m.d.comb += wgt_rd.addr.eq(gemm.wgt.addr)
        with m.If(gemm.prm.en):
            m.d.comb += prm_rd.addr.eq(gemm.prm.addr)
        with m.If(gemm.mac):
            m.d.comb += mac_now.eq(1)
        m.d.comb += [rdb_gemm.eq(gemm.rd_b.en), gemm.rd_b.data.eq(rdb_word),
                     gemm.wgt.data.eq(wgt_rd.data), gemm.prm.data.eq(prm_rd.data),
                     pe.gemm_mode.eq(gemm.pe_gemm), pe.gemm_w.eq(gemm.pe_w)]
        for i in range(NB):
            m.d.comb += gemm.rd_a.data[i].eq(rda_words[i])
        for k in range(L):
            m.d.comb += [pe.gemm_x[k].eq(gemm.pe_x[k]), gemm.pe_sums[k].eq(pe.row_sums[k])]
        m.d.comb += [self.trace_g_valid.eq(gemm.trace_g.valid),
                     self.trace_g_addr.eq(gemm.trace_g.addr), self.trace_g.eq(gemm.trace_g.word)]
        gemm_busy = gemm.busy

        # ---------------------------------------------------------------- GAP engine
        m.submodules.gap = gap = Gap(cfg=c)
        m.d.comb += [gap.cmd.valid.eq(go_gap), gap.cmd.payload.eq(cm_head), gap.stop.eq(stop)]
        with m.If(gap.error != 0):
            m.d.comb += set_error.eq(gap.error)
        with m.If(gap.rd_a.en):
            m.d.comb += rda_addr.eq(gap.rd_a.addr)
        for i in range(NB):
            m.d.comb += gap.rd_a.data[i].eq(rda_words[i])
        gap_busy = gap.busy

        # ---------------------------------------------------------------- depthwise engine
        m.submodules.dw = dw = Depthwise(cfg=c)
        for k, v in dw.memories.items():
            mems[f"dw.{k}"] = v
        posts.append(dw)
        m.d.comb += [dw.cmd.valid.eq(go_dw), dw.cmd.payload.eq(cm_head), dw.stop.eq(stop)]
        with m.If(dw.error != 0):
            m.d.comb += set_error.eq(dw.error)
        with m.If(dw.rd_a.en):
            m.d.comb += rda_addr.eq(dw.rd_a.addr)
        with m.If(dw.wgt.en):
            m.d.comb += wgt_rd.addr.eq(dw.wgt.addr)
        with m.If(dw.prm.en):
            m.d.comb += prm_rd.addr.eq(dw.prm.addr)
        with m.If(dw.mac):
            m.d.comb += mac_now.eq(1)
        m.d.comb += [dw.wgt.data.eq(wgt_rd.data), dw.prm.data.eq(prm_rd.data),
                     pe.dw_tap.eq(dw.pe_tap)]
        for i in range(NB):
            m.d.comb += dw.rd_a.data[i].eq(rda_words[i])
        for j in range(L):
            m.d.comb += [pe.dw_x[j].eq(dw.pe_x[j]), pe.dw_valid[j].eq(dw.pe_valid[j])]
            for k in range(L):
                m.d.comb += dw.pe_products[j][k].eq(pe.products[j][k])
        dw_busy = dw.busy

        # ---------------------------------------------------------------- compute write mux
        with m.If(gemm.result.valid):
            m.d.comb += [c_wr_addr.eq(gemm.result.addr), c_wr_n.eq(gemm.result.n),
                         c_wr_words[0].eq(gemm.result.r[0]), tq[0].eq(gemm.result.q[0]),
                         ta[0].eq(gemm.result.a[0])]
        with m.Elif(gap.result.valid):
            m.d.comb += [c_wr_addr.eq(gap.result.addr), c_wr_n.eq(gap.result.n),
                         c_wr_words[0].eq(gap.result.r[0]), tq[0].eq(gap.result.q[0]),
                         ta[0].eq(gap.result.a[0])]
        with m.Elif(dw.result.valid):
            m.d.comb += [c_wr_addr.eq(dw.result.addr), c_wr_n.eq(dw.result.n)]
            for i in range(WB):
                m.d.comb += [c_wr_words[i].eq(dw.result.r[i]), tq[i].eq(dw.result.q[i]),
                             ta[i].eq(dw.result.a[i])]
        # DMA store reads use port B when no GEMM needs it (the compiler orders them)
        with m.If(dma.rd_b.en):
            m.d.comb += rdb_addr.eq(dma.rd_b.addr)

        engine_busy = Signal()
        m.d.comb += engine_busy.eq(gemm_busy | gap_busy | dw_busy)
        started = Signal()
        m.d.sync += started.eq(go_gemm | go_dw | go_gap)
        m.d.comb += cm_engine_done.eq(cm_busy & ~engine_busy & ~started)

        # ---------------------------------------------------------------- completion
        all_idle = Signal()
        m.d.comb += all_idle.eq(end_seen & ~ldq.r_rdy & ~cmq.r_rdy & ~dma.busy & ~cm_busy)
        with m.If(running & all_idle & ~self.start):
            m.d.sync += [running.eq(0), done.eq(1)]
        # progress = something moved; an engine waiting forever on data is not progress
        m.d.comb += progress.eq(f_grant | f_rsp | dma.active | mac_now | ub.active
                                | cmq.r_en | (ldq.w_en & ldq.w_rdy)
                                | (cmq.w_en & cmq.w_rdy) | dw.active
                                | gemm.active | gap.active)
        for unit in posts:
            m.d.comb += [unit.tables.addr.eq(tbl_w_addr), unit.tables.data.eq(tbl_w_data),
                         unit.tables.en.eq(tbl_w_en)]
        return m
