"""Compute dispatch: issues the compute queue's instructions to the GEMM, DW and GAP units, one
at a time, and counts their cycles.

The head of the compute queue starts once the previous compute instruction has finished (its
unit is idle again) and, if it has ``wait``, a "data loaded" token is available (taken as it
starts; the cycles spent waiting for it are the instruction's *wait* cycles, memory stalls).
The instruction goes to its unit as a one-cycle command; when the unit is idle again the
instruction ends: a ``signal`` gives a "buffer freed" token to the load unit, and ``perf``
pulses with the instruction's layer, the cycle count, and its wait, busy and MAC cycles.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hfaccel.accel import isa

__all__ = ["Dispatch", "perf_signature"]

ENGINES = ("GEMM", "DW", "GAP")


def perf_signature() -> wiring.Signature:
    """The per-instruction performance record: ``valid`` for one cycle at its end, its
    ``layer``, the cycle count ``t`` then, its ``wait``, ``busy`` and ``mac`` cycles."""
    return wiring.Signature({"valid": Out(1), "layer": Out(16), "t": Out(32), "wait": Out(32),
                             "busy": Out(32), "mac": Out(32)})


class Dispatch(wiring.Component):
    """The compute dispatch (see the module docstring).

    Members
    -------
    start, running, stop : ``In(1)``
        The engine starts (clears the counters), runs, has stopped on an error.
    cycles : ``In(32)``
        The engine's cycle count (for ``perf.t``).
    instr : ``In(stream.Signature(isa.INSTR_BITS))``
        The compute queue.
    ready_avail : ``In(1)``
        A "data loaded" token is available; ``take_ready`` : ``Out(1)`` takes one.
    give_free : ``Out(1)``
        Gives a "buffer freed" token (an instruction with ``signal`` has ended).
    gemm, dw, gap : ``Out(stream.Signature(isa.amaranth_layout(op), always_ready=True))``
        The units' commands.
    engine_busy : ``In(1)``
        Some compute unit is busy.
    mac : ``In(1)``
        The PE array computes this cycle.
    busy : ``Out(1)``
        An instruction is in progress.
    layer : ``Out(16)``
        Its layer id.
    perf : ``Out(perf_signature())``
        The record of each instruction, at its end.
    cmp_busy, cmp_wait, mac_cycles, instrs : ``Out(32)``
        Since ``start``: cycles an instruction was in progress, cycles the head waited for a
        token, PE array cycles, instructions ended.
    active : ``Out(1)``
        An instruction starts this cycle (the watchdog's notion of progress).
    """

    def __init__(self):
        cmds = {op.lower(): Out(stream.Signature(isa.amaranth_layout(op), always_ready=True))
                for op in ENGINES}
        super().__init__({
            "start": In(1), "running": In(1), "stop": In(1), "cycles": In(32),
            "instr": In(stream.Signature(isa.INSTR_BITS)),
            "ready_avail": In(1), "take_ready": Out(1), "give_free": Out(1),
            **cmds,
            "engine_busy": In(1), "mac": In(1),
            "busy": Out(1), "layer": Out(16), "perf": Out(perf_signature()),
            "cmp_busy": Out(32), "cmp_wait": Out(32), "mac_cycles": Out(32), "instrs": Out(32),
            "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        stop = self.stop
        head = Signal(isa.header_layout())
        m.d.comb += head.eq(self.instr.payload)
        busy, signal, layer = Signal(), Signal(), Signal(16)
        t_busy, t_wait, t_mac = Signal(32), Signal(32), Signal(32)  # of the instruction
        busy_cnt, wait_cnt, mac_cnt, instr_cnt = (Signal(32), Signal(32), Signal(32),
                                                  Signal(32))
        go = Signal()
        engine_done = Signal()
        with m.If(self.start):
            m.d.sync += [busy_cnt.eq(0), wait_cnt.eq(0), mac_cnt.eq(0), instr_cnt.eq(0),
                         busy.eq(0), t_wait.eq(0)]
        with m.If(self.mac & ~stop):
            m.d.sync += [t_mac.eq(t_mac + 1), mac_cnt.eq(mac_cnt + 1)]
        with m.If(~busy & self.instr.valid & self.running & ~stop):
            with m.If(head.wait & ~self.ready_avail):
                m.d.sync += [t_wait.eq(t_wait + 1), wait_cnt.eq(wait_cnt + 1)]
            with m.Else():
                m.d.comb += [self.instr.ready.eq(1), self.take_ready.eq(head.wait), go.eq(1)]
                m.d.sync += [busy.eq(1), layer.eq(head.layer), signal.eq(head.signal),
                             t_busy.eq(1), t_mac.eq(0)]
        for op in ENGINES:
            cmd = getattr(self, op.lower())
            m.d.comb += [cmd.payload.eq(self.instr.payload),
                         cmd.valid.eq(go & (head.op == isa.OPCODES[op]))]
        with m.If(busy & ~stop):
            m.d.sync += [t_busy.eq(t_busy + 1), busy_cnt.eq(busy_cnt + 1)]
            with m.If(engine_done):
                m.d.sync += [busy.eq(0), t_wait.eq(0), instr_cnt.eq(instr_cnt + 1)]
                m.d.comb += [self.give_free.eq(signal), self.perf.valid.eq(1)]
        # a command's unit reports busy from the cycle after it: wait one cycle for it
        started = Signal()
        m.d.sync += started.eq(self.gemm.valid | self.dw.valid | self.gap.valid)
        m.d.comb += engine_done.eq(busy & ~self.engine_busy & ~started)
        m.d.comb += [self.busy.eq(busy), self.layer.eq(layer),
                     self.perf.layer.eq(layer), self.perf.t.eq(self.cycles),
                     self.perf.wait.eq(t_wait), self.perf.busy.eq(t_busy),
                     self.perf.mac.eq(t_mac),
                     self.cmp_busy.eq(busy_cnt), self.cmp_wait.eq(wait_cnt),
                     self.mac_cycles.eq(mac_cnt), self.instrs.eq(instr_cnt),
                     self.active.eq(self.instr.ready)]
        return m
