"""The perf record writer of the AXI shell: the engine's per-instruction perf port, written to
device memory as records the host runtime reads after the run.

At the end of every compute instruction the engine pulses ``perf_valid`` with the instruction's
hardware op (``layer``), the cycle it ended (``end``), and the cycles compute waited, was busy
and the PE array computed. :class:`PerfWriter` queues these records and writes record ``n`` as
the beats ``addr + n * rec_beats .. + rec_beats - 1`` (beat addresses from the base register,
so the area is relocatable like the program) through the AXI master's ``rec_*`` stream: the
words of :data:`hfaccel.accel.regs.PERF_RECORD`, little-endian, zero-padded to
:data:`~hfaccel.accel.regs.PERF_RECORD_BYTES` (one beat per record on a bus of 32 bytes or
more). ``addr == 0`` turns recording off (beat 0 is the program's first instruction); records
past ``cap`` are not written. ``count`` is the number of records written (their last beat taken
by the master: the master's ``idle`` then says when they are in memory).

The master serves the stream in cycles the engine leaves free; ``urgent`` (the queue is full)
lets it go first, so that a record is never lost: the engine's instructions are far longer than
``depth`` records' beats. :func:`ref_perf_writes` is the reference model.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hfaccel.accel.regs import PERF_RECORD, PERF_RECORD_BYTES, perf_stride

__all__ = ["PerfWriter", "ref_perf_writes"]

_REC_BITS = PERF_RECORD_BYTES * 8


def _pack(rec) -> int:
    return sum((int(v) & 0xFFFF_FFFF) << (32 * i) for i, v in enumerate(rec))


def ref_perf_writes(records, *, addr: int, cap: int, data_width: int) -> list[tuple[int, int]]:
    """The ``(beat address, beat data)`` writes of :class:`PerfWriter` for ``records`` (tuples
    in :data:`~hfaccel.accel.regs.PERF_RECORD` order), in order."""
    if addr == 0:
        return []
    bb = data_width // 8
    beats = perf_stride(bb) // bb
    out = []
    for n, rec in enumerate(records[:cap]):
        v = _pack(rec)
        for k in range(beats):
            out.append((addr + n * beats + k, (v >> (k * data_width)) & ((1 << data_width) - 1)))
    return out


class PerfWriter(wiring.Component):
    """Perf records to memory beats (see the module docstring).

    Parameters
    ----------
    data_width : int
        Bits of a beat of the master (``bus_bytes * 8``, a power of two from 8).
    depth : int
        Records queued at most.

    Members
    -------
    perf_valid, perf_layer, perf_t, perf_wait, perf_busy, perf_mac : ``In``
        The engine's perf port (``layer`` 16 bits, the others 32).
    start : ``In(1)``
        A program starts: the record count restarts at 0.
    addr, cap : ``In(32)``
        Beat offset of record 0 (0: off), records at most (the registers ``perf_addr``,
        ``perf_cap``), read when a record is queued.
    count : ``Out(32)``
        Records written since ``start``.
    rec_valid, rec_ready, rec_addr, rec_data, rec_urgent
        The write stream to :class:`~hfaccel.rtl.axi.AxiMaster`.
    idle : ``Out(1)``
        No record queued.
    """

    def __init__(self, *, data_width: int, depth: int = 4):
        if (not isinstance(data_width, int) or data_width < 8
                or data_width & (data_width - 1)):
            raise ValueError(f"data_width must be a power of two >= 8, not {data_width!r}")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        self.data_width, self.depth = data_width, depth
        self.rec_beats = perf_stride(data_width // 8) // (data_width // 8)
        super().__init__({
            "perf_valid": In(1), "perf_layer": In(16), "perf_t": In(32), "perf_wait": In(32),
            "perf_busy": In(32), "perf_mac": In(32),
            "start": In(1), "addr": In(32), "cap": In(32), "count": Out(32),
            "rec_valid": Out(1), "rec_ready": In(1), "rec_addr": Out(32),
            "rec_data": Out(data_width), "rec_urgent": Out(1), "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        DW, RB = self.data_width, self.rec_beats
        n_bits = 16 + 32 * (len(PERF_RECORD) - 1)
        m.submodules.q = q = SyncFIFO(width=n_bits + 32, depth=self.depth)  # record, beat addr

        queued = Signal(32)  # records taken since start (written or queued)
        take = Signal()
        m.d.comb += take.eq(self.perf_valid & (self.addr != 0) & (queued < self.cap) & q.w_rdy)
        m.d.comb += [q.w_en.eq(take),
                     q.w_data.eq(Cat(self.perf_layer, self.perf_t, self.perf_wait,
                                     self.perf_busy, self.perf_mac,
                                     self.addr + (queued << exact_log2(RB))))]
        with m.If(take):
            m.d.sync += queued.eq(queued + 1)

        rec = Signal(_REC_BITS)
        m.d.comb += rec.eq(Cat(q.r_data[:16], Const(0, 16), q.r_data[16:n_bits]))
        k = Signal(range(RB + 1))  # beat of the head record
        beats = [rec[i * DW:(i + 1) * DW] for i in range(RB)] if DW < _REC_BITS else [rec]
        data = Signal(DW)
        with m.Switch(k):
            for i, b in enumerate(beats):
                with m.Case(i):
                    m.d.comb += data.eq(b)
        m.d.comb += [self.rec_valid.eq(q.r_rdy), self.rec_addr.eq(q.r_data[n_bits:] + k),
                     self.rec_data.eq(data), self.rec_urgent.eq(~q.w_rdy),
                     self.idle.eq(~q.r_rdy)]
        with m.If(self.rec_valid & self.rec_ready):
            m.d.sync += k.eq(k + 1)
            with m.If(k == RB - 1):
                m.d.comb += q.r_en.eq(1)
                m.d.sync += [k.eq(0), self.count.eq(self.count + 1)]
        with m.If(self.start):  # the engine is idle and the queue empty when a start is taken
            m.d.sync += [queued.eq(0), self.count.eq(0), k.eq(0)]
        return m
