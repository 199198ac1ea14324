"""The fetch unit: reads the program in order and queues its instructions for the units.

From beat ``prog`` on, the unit reads an instruction (``instr_bytes / bus_bytes`` beats,
requests one after the other, responses in order), decodes its opcode (the header of
:func:`hfaccel.accel.isa.header_layout`) and passes it on: LOAD and STORE to the load queue,
GEMM, DW and GAP to the compute queue (waiting while that queue is full), NOP nowhere; END stops
fetching (``end``). An unknown opcode raises :attr:`~hfaccel.accel.isa.Status.BAD_OPCODE`.
The next instruction's reads start once the current one has been passed on.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.isa import Status
from hfaccel.rtl.ports import BusRequest

__all__ = ["Fetch"]


class Fetch(wiring.Component):
    """The fetch unit of one :class:`AccelConfig` (see the module docstring).

    Members
    -------
    start : ``In(1)``
        Start the program at ``prog`` (``In(32)``, a beat address).
    running, stop : ``In(1)``
        The engine runs; it has stopped on an error (no more requests or queue writes).
    bus : ``Out(BusRequest(32, bus_bytes * 8))``
        The external memory port (reads only).
    load_q, compute_q : ``Out(stream.Signature(isa.INSTR_BITS))``
        Instructions for the load unit and for the compute units.
    end : ``Out(1)``
        END has been fetched (until the next ``start``).
    error : ``Out(8)``
        A :class:`~hfaccel.accel.isa.Status` code in the cycle an unknown opcode is decoded.
    active : ``Out(1)``
        A request, a response or a queue write this cycle (the watchdog's notion of progress).
    """

    def __init__(self, *, cfg: AccelConfig):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        self.cfg = cfg
        super().__init__({
            "start": In(1), "prog": In(32), "running": In(1), "stop": In(1),
            "bus": Out(BusRequest(addr_width=32, data_width=cfg.bus_bytes * 8)),
            "load_q": Out(stream.Signature(isa.INSTR_BITS)),
            "compute_q": Out(stream.Signature(isa.INSTR_BITS)),
            "end": Out(1), "error": Out(8), "active": Out(1),
        })

    def elaborate(self, platform):
        c = self.cfg
        m = Module()
        BB = c.bus_bytes * 8
        IB = c.instr_bytes // c.bus_bytes if c.bus_bytes <= c.instr_bytes else 1  # beats
        bus, ldq, cmq = self.bus, self.load_q, self.compute_q
        pc = Signal(32)
        issued = Signal(range(IB + 1))
        recv = Signal(range(IB + 1))
        buf = Signal(isa.INSTR_BITS)
        end = Signal()
        head = Signal(isa.header_layout())
        m.d.comb += head.eq(buf)
        m.d.comb += [bus.valid.eq(self.running & ~end & (issued < IB)),
                     bus.addr.eq(pc + issued)]
        with m.If(bus.grant):
            m.d.sync += issued.eq(issued + 1)
        with m.If(bus.rsp_valid):
            if IB > 1:
                m.d.sync += buf.word_select(recv, BB).eq(bus.rsp_data)
            else:
                m.d.sync += buf.eq(bus.rsp_data[:isa.INSTR_BITS])
            m.d.sync += recv.eq(recv + 1)
        full = Signal()
        m.d.comb += full.eq(recv == IB)
        m.d.comb += [ldq.payload.eq(buf), cmq.payload.eq(buf)]
        OP = isa.OPCODES
        with m.If(self.running & full & ~self.stop):
            advance = Signal()
            with m.Switch(head.op):
                with m.Case(OP["LOAD"], OP["STORE"]):
                    m.d.comb += [ldq.valid.eq(1), advance.eq(ldq.ready)]
                with m.Case(OP["GEMM"], OP["DW"], OP["GAP"]):
                    m.d.comb += [cmq.valid.eq(1), advance.eq(cmq.ready)]
                with m.Case(OP["NOP"]):
                    m.d.comb += advance.eq(1)
                with m.Case(OP["END"]):
                    m.d.sync += end.eq(1)
                    m.d.comb += advance.eq(1)
                with m.Default():
                    m.d.comb += self.error.eq(Status.BAD_OPCODE)
            with m.If(advance):
                m.d.sync += [pc.eq(pc + IB), issued.eq(0), recv.eq(0)]
        with m.If(self.start):
            m.d.sync += [pc.eq(self.prog), issued.eq(0), recv.eq(0), end.eq(0)]
        m.d.comb += [self.end.eq(end),
                     self.active.eq(bus.grant | bus.rsp_valid | (ldq.valid & ldq.ready)
                                    | (cmq.valid & cmq.ready))]
        return m
