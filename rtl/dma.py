"""The DMA (load/store unit): LOAD and STORE instructions between external memory and the
on-chip buffers.

A LOAD (``isa.FIELDS["LOAD"]``) reads ``rows`` rows of ``row_beats`` beats from external beat
``dram + row * stride + col`` and writes them, in order, to consecutive beats of its
destination from beat ``buf``: the unified buffer (a beat is ``words_per_beat`` words, through
the UB's DMA write port), the weight buffer (a tile is ``beats_per_tile`` beats: one write
enable per beat), the parameter buffer (likewise) or the activation tables (a beat is
``table_writes_per_beat`` table words, written one per cycle: a copy's words are narrower than a
wide bus's beat, see :func:`~hfaccel.rtl.post.table_geometry`). A STORE reads UB beats
``buf ..`` (a word a cycle on the UB's narrow port, in cycles in which no compute unit needs
that port), assembles them into beats and writes them out in the same row/stride pattern.

Loads overlap compute (feature-map bands stream in while the previous band runs), so the DMA
shares the UB with the compute units: UB-bound beats wait in a queue (``ubq``,
``max_outstanding`` deep) for a cycle in which the compute write uses none of their banks; so do
table beats of more than one table word, while their words are written. A queued beat stays
outstanding until it is written: requests in flight plus the queue never exceed
``max_outstanding``, so the queue never overflows and responses are taken without
back-pressure. Compute never stalls for the DMA.

Synchronisation: an instruction with ``wait`` first takes a "buffer freed" token of the compute
side (``take_free``, when ``free_avail``), one with ``signal`` gives a "data loaded" token
(``give_ready``) when every beat has been written. A LOAD or STORE with no rows or beats, or a
STORE from a buffer other than the UB, raises :attr:`~hfaccel.accel.isa.Status.BAD_DMA`.
:class:`RefDma` is the reference model (``tests/test_units.py`` holds the unit to it).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.isa import Status
from hfaccel.rtl.counters import step_nest
from hfaccel.rtl.ports import BusRequest, ReadRequest
from hfaccel.rtl.post import table_geometry, table_port
from hfaccel.rtl.ub import beat_layout, ub_addr_width

__all__ = ["Dma", "RefDma"]

STORE_QUEUE = 4  # beats a STORE assembles ahead of the bus


def ub_beat_layout(cfg: AccelConfig):
    """A DMA beat for the UB of ``cfg``: its beat address and data."""
    return beat_layout(beat_addr_width=max(1, ceil_log2(cfg.ub_words // cfg.words_per_beat)),
                       beat_bits=cfg.bus_bytes * 8)


class Dma(wiring.Component):
    """The load/store unit of one :class:`AccelConfig` (see the module docstring).

    Members
    -------
    start, running, stop : ``In(1)``
        The engine starts (clears the counters; a LOAD in flight is abandoned), runs, has
        stopped on an error (no more requests, writes or reads).
    instr : ``In(stream.Signature(isa.amaranth_layout("LOAD")))``
        The next LOAD or STORE (the two have one layout); taken when the unit is idle and its
        ``wait`` token is available.
    free_avail : ``In(1)``
        A "buffer freed" token is available; ``take_free`` : ``Out(1)`` takes one.
    give_ready : ``Out(1)``
        Gives a "data loaded" token (an instruction with ``signal`` has finished).
    bus : ``Out(BusRequest(32, bus_bytes * 8))``
        The external memory port.
    ub_w : ``Out(stream.Signature(ub_beat_layout(cfg)))``
        Beats for the UB (its DMA write port).
    rd_b : ``Out(ReadRequest(ub address, lanes * 8))``
        The UB's narrow port, for STOREs; ``rd_b_busy`` : ``In(1)``: a compute unit has it
        this cycle.
    wgt_w, prm_w, tbl_w : ``In(WritePort.Signature(...))``
        Write ports (driven) of the weight buffer and the parameter buffer (one enable per
        bus beat of a word) and of the activation tables.
    busy : ``Out(1)``
        An instruction is in progress or UB beats are still queued.
    busy_cycles : ``Out(32)``
        Cycles an instruction was in progress since ``start``.
    error : ``Out(8)``
        A :class:`~hfaccel.accel.isa.Status` code in the cycle a bad instruction is taken.
    active : ``Out(1)``
        Something moved (the watchdog's notion of progress).
    """

    def __init__(self, *, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        self.cfg = cfg
        L, BB = cfg.lanes, cfg.bus_bytes * 8
        # a table beat in the queue carries its beat address in the UB beat address's field
        tbl_beats = cfg.table_slots * cfg.table_bytes // cfg.bus_bytes
        if cfg.table_writes_per_beat > 1 and \
                ceil_log2(tbl_beats) > ub_beat_layout(cfg).members["beat"].width:
            raise ValueError(f"{cfg.name}: the UB has fewer beats than the tables")
        super().__init__({
            "start": In(1), "running": In(1), "stop": In(1),
            "instr": In(stream.Signature(isa.amaranth_layout("LOAD"))),
            "free_avail": In(1), "take_free": Out(1), "give_ready": Out(1),
            "bus": Out(BusRequest(addr_width=32, data_width=BB)),
            "ub_w": Out(stream.Signature(ub_beat_layout(cfg))),
            "rd_b": Out(ReadRequest(addr_width=ub_addr_width(cfg), data_width=L * 8)),
            "rd_b_busy": In(1),
            "wgt_w": In(WritePort.Signature(addr_width=ceil_log2(cfg.wgt_tiles),
                                            shape=unsigned(L * L * 8), granularity=BB)),
            "prm_w": In(WritePort.Signature(addr_width=ceil_log2(cfg.prm_words),
                                            shape=unsigned(cfg.prm_word_bytes * 8),
                                            granularity=BB)),
            "tbl_w": In(table_port(cfg)),
            "busy": Out(1), "busy_cycles": Out(32), "error": Out(8), "active": Out(1),
        })

    def elaborate(self, platform):
        c = self.cfg
        m = Module()
        WBITS, R = c.lanes * 8, c.words_per_beat
        stop, bus = self.stop, self.bus
        ubb = len(self.ub_w.payload.beat)  # UB beat address bits
        T = c.table_writes_per_beat  # table words per beat: > 1 goes through the queue
        m.submodules.ubq = ubq = SyncFIFO(width=ubb + c.bus_bytes * 8, depth=c.max_outstanding)
        ld = Signal(isa.amaranth_layout("LOAD"))  # the instruction in progress
        busy = Signal()
        total = Signal(32)  # beats
        issued, recv = Signal(32), Signal(32)
        row, col = Signal(16), Signal(16)
        out = Signal(range(c.max_outstanding + 1))  # UB beats requested, not yet written
        store = Signal()
        st_rd = Signal(32)  # store: UB words read so far
        st_beat = Signal(c.bus_bytes * 8)
        head = self.instr.payload
        busy_cnt = Signal(32)
        m.d.comb += self.busy_cycles.eq(busy_cnt)
        with m.If(busy & ~stop):
            m.d.sync += busy_cnt.eq(busy_cnt + 1)
        with m.If(self.start):
            m.d.sync += [busy_cnt.eq(0), busy.eq(0)]
        with m.If(~busy & self.instr.valid & self.running & ~stop):
            with m.If(~head.wait | self.free_avail):
                m.d.comb += [self.instr.ready.eq(1), self.take_free.eq(head.wait)]
                is_store = head.op == isa.OPCODES["STORE"]
                with m.If((head.rows == 0) | (head.row_beats == 0)
                          | (is_store & (head.dst != isa.BUF_UB))):
                    m.d.comb += self.error.eq(Status.BAD_DMA)
                with m.Else():
                    m.d.sync += [ld.eq(head), busy.eq(1), issued.eq(0), recv.eq(0), row.eq(0),
                                 col.eq(0), store.eq(is_store),
                                 total.eq(head.rows * head.row_beats), st_rd.eq(0)]
        # request addresses (shared by load and store): one step per request
        step = Signal()
        with m.If(step):
            step_nest(m, [(col, ld.row_beats), (row, None)])
            m.d.sync += issued.eq(issued + 1)
        addr = Signal(32)
        m.d.comb += addr.eq(ld.dram + row * ld.stride + col)

        # loads: issue reads, write responses into the destination buffer in order
        ub_take = Signal()  # the UB takes the queue's head beat this cycle
        tbl_take = Signal()  # the queue's head table beat has had its last word written
        q_take = Signal()
        queued = Signal()  # the load's beats go through the queue (outstanding until written)
        tbl_q = Signal()  # ... and they are table beats (the queue holds only this load's)
        m.d.comb += [tbl_q.eq((ld.dst == isa.BUF_TBL) if T > 1 else 0),
                     queued.eq((ld.dst == isa.BUF_UB) | tbl_q), q_take.eq(ub_take | tbl_take)]
        dst = Signal(32)
        m.d.comb += dst.eq(ld.buf + recv)
        with m.If(busy & ~store & ~stop):
            m.d.comb += [bus.valid.eq((issued < total) & (out < c.max_outstanding)),
                         bus.addr.eq(addr), step.eq(bus.grant)]
            m.d.sync += out.eq(out + bus.grant - (bus.rsp_valid & ~queued) - q_take)
            with m.If(bus.rsp_valid):
                m.d.sync += recv.eq(recv + 1)
                self._write_beat(m, ld.dst, dst, ubq, ubb)
            with m.If((recv == total) & (out == 0)):
                m.d.sync += busy.eq(0)
                m.d.comb += self.give_ready.eq(ld.signal)
        m.d.comb += [self.ub_w.payload.eq(ubq.r_data),
                     self.ub_w.valid.eq(ubq.r_rdy & ~stop & ~tbl_q),
                     ub_take.eq(self.ub_w.valid & self.ub_w.ready), ubq.r_en.eq(q_take)]
        if T > 1:  # the head table beat: a table word per cycle, low word first
            word_bytes, rows = table_geometry(bus_bytes=c.bus_bytes, table_slots=c.table_slots)
            sub = Signal(range(T))
            head_beat = ubq.r_data[:ceil_log2(rows // T)]
            with m.If(tbl_q & ubq.r_rdy & ~stop):
                m.d.comb += [self.tbl_w.addr.eq(Cat(sub, head_beat)),
                             self.tbl_w.data.eq(ubq.r_data[ubb:].word_select(sub, word_bytes * 8)),
                             self.tbl_w.en.eq(1), tbl_take.eq(sub == T - 1)]
                m.d.sync += sub.eq(sub + 1)
            with m.If(self.start):
                m.d.sync += sub.eq(0)

        # stores: read the UB one word per cycle (port B), assemble beats into ``stq``, write
        # a beat per cycle from its head; a beat every R cycles while port B is free
        m.submodules.stq = stq = SyncFIFO(width=c.bus_bytes * 8, depth=STORE_QUEUE)
        prev_v = Signal()  # a word read last cycle arrives now
        prev_i = Signal(range(max(2, R)))
        m.d.sync += prev_v.eq(0)
        word = self.rd_b.data
        with m.If(busy & store & ~stop):
            with m.If(issued == total):  # every beat written
                m.d.sync += busy.eq(0)
                m.d.comb += self.give_ready.eq(ld.signal)
            word_i = st_rd[:ceil_log2(R)] if R > 1 else Const(0, 1)
            # a new beat starts only if the queue will have room for it
            room = (word_i != 0) | (stq.level < stq.depth - 1)
            with m.If((st_rd < total * R) & ~self.rd_b_busy & room):
                m.d.comb += [self.rd_b.en.eq(1), self.rd_b.addr.eq(ld.buf * R + st_rd)]
                m.d.sync += [st_rd.eq(st_rd + 1), prev_v.eq(1), prev_i.eq(word_i)]
            with m.If(prev_v):
                if R > 1:
                    m.d.sync += st_beat.word_select(prev_i, WBITS).eq(word)
                with m.If(prev_i == R - 1):
                    m.d.comb += [stq.w_en.eq(1),
                                 stq.w_data.eq(Cat(st_beat[:(R - 1) * WBITS], word)
                                               if R > 1 else word)]
            with m.If(stq.r_rdy):
                m.d.comb += [bus.valid.eq(1), bus.addr.eq(addr), bus.we.eq(1),
                             bus.wdata.eq(stq.r_data)]
                with m.If(bus.grant):
                    m.d.comb += [stq.r_en.eq(1), step.eq(1)]
        with m.If(self.start):
            m.d.sync += out.eq(0)
        m.d.comb += [self.busy.eq(busy | (out != 0)),
                     self.active.eq(bus.grant | bus.rsp_valid | q_take | self.tbl_w.en
                                    | self.instr.ready
                                    | self.rd_b.en | prev_v | stq.r_en)]
        return m

    def _write_beat(self, m, dst_buf, dst, ubq, ubb):
        """A response beat to its destination buffer (beat ``dst`` of it)."""
        c = self.cfg
        data = self.bus.rsp_data
        with m.Switch(dst_buf):
            with m.Case(isa.BUF_UB):
                m.d.comb += [ubq.w_en.eq(1), ubq.w_data.eq(Cat(dst[:ubb], data))]
            with m.Case(isa.BUF_WGT):
                bpt = c.beats_per_tile
                m.d.comb += [self.wgt_w.addr.eq(dst // bpt if bpt > 1 else dst),
                             self.wgt_w.data.eq(Cat(*[data] * bpt)),
                             self.wgt_w.en.eq(1 << (dst % bpt) if bpt > 1 else 1)]
            with m.Case(isa.BUF_PRM):
                bpp = c.beats_per_prm
                m.d.comb += [self.prm_w.addr.eq(dst // bpp if bpp > 1 else dst),
                             self.prm_w.data.eq(Cat(*[data] * bpp)),
                             self.prm_w.en.eq(1 << (dst % bpp) if bpp > 1 else 1)]
            with m.Case(isa.BUF_TBL):
                word_bytes, rows = table_geometry(bus_bytes=c.bus_bytes,
                                                  table_slots=c.table_slots)
                if c.table_writes_per_beat > 1:  # written from the queue, a word per cycle
                    m.d.comb += [ubq.w_en.eq(1), ubq.w_data.eq(Cat(dst[:ubb], data))]
                else:
                    m.d.comb += [self.tbl_w.addr.eq(dst[:ceil_log2(rows)]),
                                 self.tbl_w.data.eq(data[:word_bytes * 8]), self.tbl_w.en.eq(1)]


class RefDma:
    """Reference model of :class:`Dma`'s function (not its timing): what a sequence of LOAD and
    STORE instructions leaves in the buffers and in external memory.

    Buffers are addressed in beats (the UB in beats of ``words_per_beat`` words, the weight and
    parameter buffers in beats of their words, the tables in beats of ``table_writes_per_beat``
    table words), external memory is a dict ``beat -> int``; :meth:`run` applies one
    instruction (an :class:`isa.Instr`).
    """

    def __init__(self, cfg: AccelConfig, dram: dict[int, int]):
        self.cfg = cfg
        self.dram = dict(dram)
        self.ub: dict[int, int] = {}  # UB beat -> data
        self.wgt: dict[int, int] = {}  # weight buffer beat (tile * beats_per_tile + part)
        self.prm: dict[int, int] = {}
        self.tbl: dict[int, int] = {}  # table word -> data
        self.tokens = 0  # "data loaded" tokens given

    def _beats(self, ins):
        for r in range(ins["rows"]):
            for col in range(ins["row_beats"]):
                yield ins["dram"] + r * ins["stride"] + col

    def run(self, ins) -> None:
        c = self.cfg
        ub_beats = c.ub_words // c.words_per_beat
        if ins.op == "LOAD":
            word_bytes, rows = table_geometry(bus_bytes=c.bus_bytes, table_slots=c.table_slots)
            T = c.table_writes_per_beat
            if ins["dst"] == isa.BUF_TBL:  # beat b is table words b * T .. b * T + T - 1
                mask = (1 << (8 * word_bytes)) - 1
                for i, a in enumerate(self._beats(ins)):
                    b = (ins["buf"] + i) % (rows // T)
                    for s in range(T):
                        self.tbl[b * T + s] = self.dram.get(a, 0) >> (8 * word_bytes * s) & mask
                self.tokens += ins["signal"]
                return
            buf = {isa.BUF_UB: (self.ub, ub_beats),
                   isa.BUF_WGT: (self.wgt, c.wgt_tiles * c.beats_per_tile),
                   isa.BUF_PRM: (self.prm, c.prm_words * c.beats_per_prm)}[ins["dst"]]
            for i, a in enumerate(self._beats(ins)):
                buf[0][(ins["buf"] + i) % buf[1]] = self.dram.get(a, 0)
        else:
            for i, a in enumerate(self._beats(ins)):
                self.dram[a] = self.ub.get((ins["buf"] + i) % ub_beats, 0)
        self.tokens += ins["signal"]
