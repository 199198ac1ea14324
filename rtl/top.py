"""The accelerator's top level: it instantiates the units and wires them, nothing else.

Block diagram (``docs/architecture.md`` has the full contract; each box is a unit of its own
file and Verilog module)::

       external memory port (req/rsp, bus_bytes per beat)
                  |
               [bus: MemArbiter] <--------------------------+
                  |                                          |
               [fetch] --> ldq --> [dma] --> ub / wgt / prm / tables
                  |                  ^ sem_free   v sem_ready
                  +------> cmq --> [dispatch] --> [gemm] [dw: + dw_window] [gap]
                                                     |      |    (+ post: their shared PostWord)
                                              [pe_array]  [ub: banks, crossbars]
       [control]: run state, status, watchdog (errors and activity of every unit)

Shared ports are given to one unit at a time: the UB's wide port (GEMM, GAP, the depthwise
window), its narrow port (GEMM; the DMA's stores when the GEMM does not need it), the weight and
parameter buffers' read ports (GEMM, depthwise). One compute instruction runs at a time, so the
compute units never want a port in the same cycle; the fixed order below makes it defined
anyway (the later unit wins). The compute units' results share the UB's compute write port
(GEMM first, then GAP, then depthwise) and the trace port. For the same reason they share one
post-processing word (``post``: the GEMM's, the GAP's requantization, the depthwise
write-back's first word), given to the unit of the last compute command: a register, so its
multiplexer's select is not on the units' paths.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.rtl.bus import MemArbiter
from hfaccel.rtl.control import Control, Semaphore
from hfaccel.rtl.dispatch import Dispatch
from hfaccel.rtl.dma import Dma
from hfaccel.rtl.dw import Depthwise, writeback_words
from hfaccel.rtl.fetch import Fetch
from hfaccel.rtl.gap import Gap
from hfaccel.rtl.gemm import Gemm
from hfaccel.rtl.pe import PeArray, acc_width
from hfaccel.rtl.post import PRM_LANE_BITS, PRM_USED_BITS, post_word
from hfaccel.rtl.sram import SRAM
from hfaccel.rtl.ub import UnifiedBuffer

__all__ = ["Accelerator", "engine_ports"]

# the units that report errors, in priority order (the last one reporting in a cycle wins), and
# those whose activity is progress for the watchdog
ERROR_UNITS = ("fetch", "dma", "gemm", "gap", "dw")
ACTIVE_UNITS = ("fetch", "dma", "dispatch", "ub", "gemm", "gap", "dw")
# the compute units, in the priority order of their results on the UB's compute write port
COMPUTE_UNITS = ("gemm", "gap", "dw")


class Accelerator(wiring.Component):
    """The whole engine for one :class:`AccelConfig`.

    Control: pulse ``start`` with ``prog`` = beat address of the program; ``busy`` rises, and
    ``done`` rises (and stays) when the program has finished or stopped on an error; ``status``
    is 0 on success, else a code of :class:`hfaccel.accel.isa.Status`. ``ext_error`` (a
    Status code, 0: none) stops the engine like a unit's error: the AXI shell's bus errors.

    Memory port: ``req_*`` is a valid/ready request (``req_we`` write with ``req_wdata``, else
    read; ``req_addr`` in beats; ``req_tag`` returned with the response); ``rsp_*`` returns read
    data in request order, one beat per cycle, without back-pressure (the engine never has more
    than ``max_outstanding`` reads in flight and always accepts them).

    Observation ports (leave unconnected in a product; the testbench records them):
    ``trace_*`` shows every activation word the compute units write, with its pre-activation
    (``q``), post-table (``a``) and final (``r``) codes; ``trace_g_*`` shows each gated input
    word of a GEMM with squeeze-excitation gating (once, during its first output tile);
    ``perf_*`` pulses at the end of every compute instruction with its cycle counts.

    ``units`` maps each unit's instance name to the unit; ``memories`` every on-chip memory's
    instance path (``ub.bank3``) to its :class:`~hfaccel.rtl.sram.SRAM`.
    """

    def __init__(self, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        self.cfg = c = cfg
        L, WB, WBITS = c.lanes, writeback_words(c), c.lanes * 8
        self.units = {
            "control": Control(watchdog_cycles=c.watchdog_cycles,
                               error_sources=len(ERROR_UNITS) + 1,  # + ext_error
                               activity_sources=len(ACTIVE_UNITS)),
            "bus": MemArbiter(addr_width=32, data_width=c.bus_bytes * 8),
            "fetch": Fetch(cfg=c),
            "ldq": SyncFIFOBuffered(width=isa.INSTR_BITS, depth=c.queue_depth),
            "cmq": SyncFIFOBuffered(width=isa.INSTR_BITS, depth=c.queue_depth),
            "sem_ready": Semaphore(),  # load -> compute: data loaded
            "sem_free": Semaphore(),  # compute -> load: buffer freed
            "dma": Dma(cfg=c),
            "dispatch": Dispatch(),
            "ub": UnifiedBuffer(banks=c.ub_banks, depth=c.ub_bank_depth, word_bits=WBITS,
                                write_words=WB, beat_words=c.words_per_beat,
                                ram_styles=("ultra", "block") if c.ub_uram else None),
            "wgt": SRAM("wgt_buf", width=L * L * 8, depth=c.wgt_tiles),
            "prm": SRAM("prm_buf", width=c.prm_word_bytes * 8, depth=c.prm_words),
            "pe_array": PeArray(lanes=L, acc_width=acc_width(max(c.dw_kernels))),
            "gemm": Gemm(cfg=c),
            "gap": Gap(cfg=c),
            "dw": Depthwise(cfg=c),
            "post": post_word(c),
        }
        # the buffers' ports, requested before the memories elaborate
        self._wgt_rd = self.units["wgt"].read_port("rd")
        self._wgt_wr = self.units["wgt"].write_port("wr", granularity=c.bus_bytes * 8)
        self._prm_rd = self.units["prm"].read_port("rd")
        self._prm_wr = self.units["prm"].write_port("wr", granularity=c.bus_bytes * 8)
        super().__init__(engine_ports(c))

    @property
    def memories(self) -> dict[str, SRAM]:
        mems = {}
        for name, unit in self.units.items():
            if isinstance(unit, SRAM):
                mems[name] = unit
            for path, mem in getattr(unit, "memories", {}).items():
                mems[f"{name}.{path}"] = mem
        return mems

    def elaborate(self, platform):
        m = Module()
        for name, unit in self.units.items():
            m.submodules[name] = unit
        u = self.units
        ctl, bus, fetch, dma, disp, ub = (u["control"], u["bus"], u["fetch"], u["dma"],
                                          u["dispatch"], u["ub"])
        ldq, cmq, sem_ready, sem_free = u["ldq"], u["cmq"], u["sem_ready"], u["sem_free"]
        pe, gemm, gap, dw = u["pe_array"], u["gemm"], u["gap"], u["dw"]
        stop = ctl.stop

        # control: errors (the last reporting unit wins) and activity of every unit
        m.d.comb += [ctl.start.eq(self.start),
                     ctl.idle.eq(fetch.end & ~ldq.r_rdy & ~cmq.r_rdy & ~dma.busy & ~disp.busy),
                     self.busy.eq(ctl.running), self.done.eq(ctl.done),
                     self.status.eq(ctl.status), self.cycles.eq(ctl.cycles)]
        for i, name in enumerate(ERROR_UNITS):
            m.d.comb += ctl.errors[i].eq(u[name].error)
        m.d.comb += ctl.errors[len(ERROR_UNITS)].eq(self.ext_error)  # the AXI shell's
        for i, name in enumerate(ACTIVE_UNITS):
            m.d.comb += ctl.activity[i].eq(u[name].active)
        for unit in (fetch, dma, disp):
            m.d.comb += [unit.start.eq(self.start), unit.running.eq(ctl.running)]
        for unit in (fetch, dma, disp, bus, gemm, gap, dw):
            m.d.comb += unit.stop.eq(stop)

        # the external memory port: fetch, then the DMA
        wiring.connect(m, fetch.bus, bus.fetch)
        wiring.connect(m, dma.bus, bus.dma)
        mem = bus.mem
        m.d.comb += [self.req_valid.eq(mem.req_valid), mem.req_ready.eq(self.req_ready),
                     self.req_we.eq(mem.req_we), self.req_addr.eq(mem.req_addr),
                     self.req_wdata.eq(mem.req_wdata), self.req_tag.eq(mem.req_tag),
                     mem.rsp_valid.eq(self.rsp_valid), mem.rsp_data.eq(self.rsp_data),
                     mem.rsp_tag.eq(self.rsp_tag)]

        # fetch -> queues -> the load unit and the compute dispatch; the semaphores between
        m.d.comb += fetch.prog.eq(self.prog)
        wiring.connect(m, fetch.load_q, ldq.w_stream)
        wiring.connect(m, fetch.compute_q, cmq.w_stream)
        m.d.comb += [dma.instr.payload.eq(ldq.r_data), dma.instr.valid.eq(ldq.r_rdy),
                     ldq.r_en.eq(dma.instr.ready)]
        wiring.connect(m, cmq.r_stream, disp.instr)
        m.d.comb += [sem_ready.clear.eq(self.start), sem_ready.give.eq(dma.give_ready),
                     sem_ready.take.eq(disp.take_ready), disp.ready_avail.eq(sem_ready.avail),
                     sem_free.clear.eq(self.start), sem_free.give.eq(disp.give_free),
                     sem_free.take.eq(dma.take_free), dma.free_avail.eq(sem_free.avail)]
        wiring.connect(m, disp.gemm, gemm.cmd)
        wiring.connect(m, disp.dw, dw.cmd)
        wiring.connect(m, disp.gap, gap.cmd)
        m.d.comb += [disp.cycles.eq(ctl.cycles),
                     disp.engine_busy.eq(gemm.busy | gap.busy | dw.busy),
                     disp.mac.eq(gemm.mac | dw.mac)]

        # the DMA's writes: UB, weights, parameters, every table copy
        wiring.connect(m, dma.ub_w, ub.wr_d)
        wgt_rd, prm_rd = self._wgt_rd, self._prm_rd
        wiring.connect(m, dma.wgt_w, self._wgt_wr)
        wiring.connect(m, dma.prm_w, self._prm_wr)
        post = u["post"]
        wiring.connect(m, dma.tbl_w, post.tables, *([dw.tables] if dw.posts else []))
        # the shared post-processing word: the unit of the last compute command drives it (the
        # order of COMPUTE_UNITS; one instruction runs at a time, so its unit is the only one
        # that post-processes until the next command)
        owner = Signal(range(len(COMPUTE_UNITS)))
        for i, name in enumerate(COMPUTE_UNITS):
            with m.If(getattr(disp, name).valid):
                m.d.sync += owner.eq(i)
            m.d.comb += [u[name].post.q.eq(post.q), u[name].post.a.eq(post.a)]

        ports = [u[name].post for name in COMPUTE_UNITS]

        def pick(v0, v1, v2):  # the owner's (COMPUTE_UNITS' order): one LUT a bit
            return Mux(owner[1], v2, Mux(owner[0], v1, v0))

        m.d.comb += [post.tbl.eq(pick(*(p.tbl for p in ports))),
                     post.tslot.eq(pick(*(p.tslot for p in ports))),
                     post.qu.eq(pick(*(p.qu for p in ports)))]
        for j in range(self.cfg.lanes):
            # a lane's bias and shift; not its 3 bytes of padding, which the word ignores but,
            # synthesized apart from it, would cost a LUT a bit here
            used = slice(j * PRM_LANE_BITS, j * PRM_LANE_BITS + PRM_USED_BITS)
            m.d.comb += [post.acc[j].eq(pick(*(p.acc[j] for p in ports))),
                         post.params[used].eq(pick(*(p.params[used] for p in ports)))]

        # shared read ports
        _share(m, ub.rd_a.addr, ub.rd_a.data, [gemm.rd_a, gap.rd_a, dw.rd_a])
        _share(m, ub.rd_b.addr, ub.rd_b.data, [gemm.rd_b, dma.rd_b])
        _share(m, wgt_rd.addr, wgt_rd.data, [gemm.wgt, dw.wgt])
        _share(m, prm_rd.addr, prm_rd.data, [gemm.prm, dw.prm])
        m.d.comb += dma.rd_b_busy.eq(gemm.rd_b.en)

        # the PE array: GEMM side and depthwise side
        L = self.cfg.lanes
        m.d.comb += [pe.gemm_mode.eq(gemm.pe_gemm), pe.gemm_w.eq(gemm.pe_w),
                     pe.dw_tap.eq(dw.pe_tap), pe.dw_s2.eq(dw.pe_s2), pe.dw_ce.eq(dw.pe_ce),
                     pe.dw_first.eq(dw.pe_first)]
        # the input maps' signedness (uint8 codes: ``xu``), latched as each unit takes its
        # instruction: the units themselves only see int8 lanes
        gemm_xu, dw_xu = Signal(), Signal()
        with m.If(disp.gemm.valid):
            m.d.sync += gemm_xu.eq(disp.gemm.payload.xu)
        with m.If(disp.dw.valid):
            m.d.sync += dw_xu.eq(disp.dw.payload.xu)
        m.d.comb += pe.xu.eq(Mux(gemm.pe_gemm, gemm_xu, dw_xu))
        for j in range(L):
            m.d.comb += [pe.gemm_x[j].eq(gemm.pe_x[j]), gemm.pe_sums[j].eq(pe.row_sums[j]),
                         pe.dw_x[j].eq(dw.pe_x[j]), pe.dw_x2[j].eq(dw.pe_x2[j]),
                         pe.dw_valid[j].eq(dw.pe_valid[j])]
            for k in range(L):
                m.d.comb += dw.pe_acc[j][k].eq(pe.acc[j][k])

        # the compute units' results: the UB's compute write port and the trace port
        wr = ub.wr_c
        q = [Signal(len(wr.data[0]), name=f"tq{i}") for i in range(len(wr.data))]
        a = [Signal(len(wr.data[0]), name=f"ta{i}") for i in range(len(wr.data))]
        for i, name in enumerate(COMPUTE_UNITS):
            res = u[name].result
            with (m.If if i == 0 else m.Elif)(res.valid):
                m.d.comb += [wr.addr.eq(res.addr), wr.n.eq(res.n)]
                for k in range(len(res.r)):
                    m.d.comb += [wr.data[k].eq(res.r[k]), q[k].eq(res.q[k]), a[k].eq(res.a[k])]
        m.d.comb += [self.trace_layer.eq(disp.layer), self.trace_addr.eq(wr.addr),
                     self.trace_q.eq(Cat(*q)), self.trace_a.eq(Cat(*a)),
                     self.trace_r.eq(Cat(*wr.data)),
                     self.trace_g_valid.eq(gemm.trace_g.valid),
                     self.trace_g_addr.eq(gemm.trace_g.addr), self.trace_g.eq(gemm.trace_g.word)]
        for i in range(len(self.trace_valid)):
            m.d.comb += self.trace_valid[i].eq(~stop & (i < wr.n))

        # counters and the per-instruction records
        m.d.comb += [self.cmp_busy.eq(disp.cmp_busy), self.cmp_wait.eq(disp.cmp_wait),
                     self.mac_cycles.eq(disp.mac_cycles), self.instrs.eq(disp.instrs),
                     self.ld_busy.eq(dma.busy_cycles),
                     self.perf_valid.eq(disp.perf.valid), self.perf_layer.eq(disp.perf.layer),
                     self.perf_t.eq(disp.perf.t), self.perf_wait.eq(disp.perf.wait),
                     self.perf_busy.eq(disp.perf.busy), self.perf_mac.eq(disp.perf.mac)]
        return m


def engine_ports(cfg: AccelConfig) -> dict:
    """The members of :class:`Accelerator`'s signature for ``cfg`` (without building the
    units: the AXI top instantiates the engine's Verilog module by these ports)."""
    c = cfg
    WB, WBITS = writeback_words(c), c.lanes * 8
    return {
        "start": In(1), "prog": In(32), "ext_error": In(8),
        "busy": Out(1), "done": Out(1), "status": Out(8),
        "cycles": Out(32), "cmp_busy": Out(32), "cmp_wait": Out(32), "ld_busy": Out(32),
        "mac_cycles": Out(32), "instrs": Out(32),
        "req_valid": Out(1), "req_ready": In(1), "req_we": Out(1), "req_addr": Out(32),
        "req_wdata": Out(c.bus_bytes * 8), "req_tag": Out(1),
        "rsp_valid": In(1), "rsp_data": In(c.bus_bytes * 8), "rsp_tag": In(1),
        "trace_valid": Out(WB), "trace_layer": Out(16), "trace_addr": Out(32),
        "trace_q": Out(WB * WBITS), "trace_a": Out(WB * WBITS), "trace_r": Out(WB * WBITS),
        "perf_valid": Out(1), "perf_layer": Out(16), "perf_t": Out(32), "perf_wait": Out(32),
        "perf_busy": Out(32), "perf_mac": Out(32),
        "trace_g_valid": Out(1), "trace_g_addr": Out(32), "trace_g": Out(WBITS),
    }


def _share(m: Module, addr, data, requests) -> None:
    """A read port used by several units, one at a time: the address of the requester whose
    ``en`` is set (the later in ``requests`` if several are), the data to every requester."""
    for req in requests:
        with m.If(req.en):
            m.d.comb += addr.eq(req.addr)
        if isinstance(req.data, Signal):
            m.d.comb += req.data.eq(data)
        else:
            for i in range(len(req.data)):
                m.d.comb += req.data[i].eq(data[i])
