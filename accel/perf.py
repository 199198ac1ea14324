"""Analytic cycle model: replays a compiled program's schedule without simulating RTL.

Each instruction gets a duration from the tiling plan (closed forms that mirror the RTL's
loops, see the ``*_cycles`` functions), and an event loop replays fetch, the in-order load and
compute queues and the two semaphores exactly as the hardware orders them. The result predicts
per-layer and total cycles in milliseconds, and proves the schedule free of deadlock (a
deadlock is a compiler bug and raises).

Per layer, cycles are attributed the way the RTL's counters are read (:func:`attribute`): a
hardware operation owns the cycles from the end of the previous operation's last compute
instruction to the end of its own, so the per-layer numbers add up to the total.

The measured side lives here too: :class:`PerfLog` reads the RTL perf port's log (``perf.txt``
of an ``hfaccel hw-sim`` run) and attributes it the same way; :func:`roofline` gives each
operation's ideal cycles.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hfaccel.accel import isa
from hfaccel.accel.compiler import Program
from hfaccel.accel.depthwise import DwGeometry
from hfaccel.accel.isa import Instr

__all__ = ["PerfLog", "PerfRecord", "Prediction", "Roof", "attribute", "instr_cycles",
           "roofline", "simulate"]

MEM_LATENCY = 8  # the testbench memory's read latency (sim/tb/tb_top.v parameter LAT)
FIFO_LATENCY = 2  # an instruction pushed into a queue can be popped two cycles later


def gemm_cycles(i: Instr) -> int:
    # + 9: the pipeline's fill (rtl/gemm.py: read, gate multiply, its requantization, MAC,
    # pair sum, row sum, post-processing, residual add, write)
    return (i["cit"] if i["gate"] else 0) + i["cit"] * i["cot"] * i["npix"] + 9


def gap_cycles(i: Instr, banks: int) -> int:
    return i["g"] * math.ceil((1 << i["hw_log2"]) / banks) + 3


def dw_cycles(i: Instr, lanes: int, banks: int) -> int:
    geo = DwGeometry(lanes, i["k"], i["s"])
    k = geo.k
    nreads = geo.reads(banks)
    blocks = geo.blocks(i["ho"], i["wo"], bool(i["flat"]))
    windows = blocks * k  # per group: one window row per (block, ky), k MAC cycles each
    # the reader issues nreads wide reads per window row and runs one window ahead (two
    # slots). Reader and consumer at the same pace (nreads == k): the hand-over bubbles add
    # about half a cycle per window, but not in a group's first k windows, which the reader
    # fetched ahead while the group's taps and parameters loaded (RTL, HF3 on `default`: a
    # 4x4 map in 32 groups, 3 windows a group, 13.1 cycles a group, not 14.5). The reader
    # slower (nreads > k, e.g. a stride-2 3x3 window on 16 banks: 5 reads): it reads back to
    # back and the consumer's bubbles hide behind it (4.8-5.0 cycles a window row, not 5.5)
    if nreads < k:
        per_group = windows * k
    elif nreads == k:
        per_group = windows * k + 0.5 * max(0, windows - k)
    else:
        per_group = windows * nreads
    group_start = max(geo.tap_tiles + 2, nreads + 1)  # taps/params load overlaps the first window
    # + 7: the pipeline's fill and drain (rtl/dw.py: the last block's two-cycle hand-over to
    # the write-back copy and its write-back stages)
    return int(i["g"] * (group_start + per_group)) + 7


def instr_cycles(i: Instr, lanes: int, banks: int) -> int:
    if i.op == "GEMM":
        return gemm_cycles(i)
    if i.op == "GAP":
        return gap_cycles(i, banks)
    if i.op == "DW":
        return dw_cycles(i, lanes, banks)
    raise ValueError(i.op)


@dataclass
class Prediction:
    total: int
    per_op: dict[int, int]  # hw op index -> attributed cycles
    compute_busy: dict[int, int]  # hw op index -> cycles its compute instructions ran
    instr_end: dict[int, int]  # compute instruction index -> end cycle


def simulate(prog: Program, *, latency: int = MEM_LATENCY) -> Prediction:
    cfg = prog.cfg
    ib = max(1, cfg.instr_bytes // cfg.bus_bytes)
    fetch_cost = ib + latency + 2
    instrs = prog.instrs
    ldq: deque[tuple[int, int]] = deque()
    cmq: deque[tuple[int, int]] = deque()
    depth = cfg.queue_depth + 1  # the buffered FIFO's output register holds one more
    t = 0
    pc = 0
    fetch_at = fetch_cost
    end_seen = False
    ld_cur, ld_end = None, 0
    cm_cur, cm_end = None, 0
    ready = free = 0
    instr_end: dict[int, int] = {}
    compute_busy: dict[int, int] = {}
    layer_of = {i: op.index for op in prog.ops for i in op.instrs}
    while True:
        moved = True
        while moved:
            moved = False
            if ld_cur is not None and ld_end <= t:
                if instrs[ld_cur]["signal"]:
                    ready += 1
                ld_cur = None
                moved = True
            if cm_cur is not None and cm_end <= t:
                if instrs[cm_cur]["signal"]:
                    free += 1
                instr_end[cm_cur] = cm_end
                cm_cur = None
                moved = True
            if not end_seen and fetch_at <= t:
                ins = instrs[pc]
                q = ldq if ins.op in ("LOAD", "STORE") else cmq if ins.op in (
                    "GEMM", "DW", "GAP") else None
                if ins.op == "END":
                    end_seen = True
                    moved = True
                elif q is None or len(q) < depth:
                    if q is not None:
                        q.append((pc, t + FIFO_LATENCY))
                    pc += 1
                    fetch_at = t + fetch_cost
                    moved = True
            if ld_cur is None and ldq and ldq[0][1] <= t:
                ins = instrs[ldq[0][0]]
                if not ins["wait"] or free > 0:
                    free -= ins["wait"]
                    ld_cur = ldq.popleft()[0]
                    beats = ins["rows"] * ins["row_beats"]
                    if ins.op == "STORE":  # one UB word per cycle on the narrow port
                        ld_end = t + beats * cfg.words_per_beat + 3
                    elif ins["dst"] == isa.BUF_TBL:  # a table word per cycle (rtl/dma.py)
                        ld_end = t + beats * cfg.table_writes_per_beat + latency + 3
                    else:
                        ld_end = t + beats + latency + 3
                    if not end_seen:  # fetch has priority on the bus and steals about one
                        ld_end += ib  # instruction's beats per load
                    moved = True
            if cm_cur is None and cmq and cmq[0][1] <= t:
                ins = instrs[cmq[0][0]]
                if not ins["wait"] or ready > 0:
                    ready -= ins["wait"]
                    cm_cur = cmq.popleft()[0]
                    d = instr_cycles(ins, cfg.lanes, cfg.ub_banks)
                    compute_busy[layer_of[cm_cur]] = compute_busy.get(layer_of[cm_cur], 0) + d
                    cm_end = t + d + 1
                    moved = True
        if end_seen and not ldq and not cmq and ld_cur is None and cm_cur is None:
            break
        nxt = [x for x in (ld_end if ld_cur is not None else None,
                           cm_end if cm_cur is not None else None,
                           fetch_at if not end_seen else None,
                           ldq[0][1] if ldq else None, cmq[0][1] if cmq else None)
               if x is not None and x > t]
        if not nxt:
            raise RuntimeError(f"schedule deadlock at instruction {pc} ({instrs[pc]}): "
                               f"load queue {list(ldq)[:3]}, compute queue {list(cmq)[:3]}, "
                               f"tokens ready={ready} free={free}")
        t = min(nxt)
    ends = {op.index: max(instr_end[i] for i in op.instrs) for op in prog.ops}
    return Prediction(total=t + 2, per_op=attribute((op.index for op in prog.ops), ends),
                      compute_busy=compute_busy, instr_end=instr_end)


def attribute(ops: Iterable[int], ends: dict[int, int]) -> dict[int, int]:
    """Cycles per hardware op (in program order) from the end cycle of each op's last compute
    instruction: from the previous op's end to its own (0 for an op with no end)."""
    out, prev = {}, 0
    for op in ops:
        end = ends.get(op, prev)
        out[op] = end - prev
        prev = end
    return out


# ------------------------------------------------------------------------------ roofline
@dataclass(frozen=True)
class Roof:
    """One operation's roofline terms, in cycles."""

    compute: float  # MACs / lanes^2: the array fully used
    memory: int  # bus beats of its LOADs and STOREs (weights, parameters, tables, bands)

    @property
    def cycles(self) -> float:
        """The ideal cycles: the larger term."""
        return max(self.compute, self.memory)

    @property
    def bound(self) -> str:
        """``compute`` or ``memory``, the larger term; empty when both are 0."""
        if not (self.compute or self.memory):
            return ""
        return "compute" if self.compute >= self.memory else "memory"


def roofline(prog: Program) -> dict[int, Roof]:
    """Per hardware op: MACs at the full array against the bus beats of its traffic."""
    return {op.index: Roof(op.macs / prog.cfg.macs_per_cycle,
                           sum(prog.instrs[i]["rows"] * prog.instrs[i]["row_beats"]
                               for i in op.loads))
            for op in prog.ops}


# ------------------------------------------------------------------------------ measured
@dataclass(frozen=True)
class PerfRecord:
    """One compute instruction's record from the RTL perf port."""

    layer: int  # hardware op index (the instruction's layer field)
    end: int  # cycle it finished
    wait: int  # cycles it waited for a semaphore token
    busy: int  # cycles it ran
    mac: int  # cycles the PE array did MACs


@dataclass(frozen=True)
class PerfLog:
    """The RTL perf port's log: ``perf.txt`` of a run, one line ``layer end wait busy mac``
    per compute instruction (written by sim/tb/tb_top.v and sim/amaranth_run.py)."""

    records: tuple[PerfRecord, ...]

    @classmethod
    def read(cls, path: str | Path) -> PerfLog:
        """The records of ``path``; a line that is not five integers (one the simulator is
        still writing) is skipped."""
        recs = []
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) == 5 and all(p.isdigit() for p in parts):
                recs.append(PerfRecord(*map(int, parts)))
        return cls(tuple(recs))

    def _sum(self, what: str) -> dict[int, int]:
        out: dict[int, int] = {}
        for r in self.records:
            out[r.layer] = out.get(r.layer, 0) + getattr(r, what)
        return out

    @property
    def busy(self) -> dict[int, int]:
        """Compute busy cycles per hardware op."""
        return self._sum("busy")

    @property
    def mac(self) -> dict[int, int]:
        """MAC cycles per hardware op."""
        return self._sum("mac")

    @property
    def ends(self) -> dict[int, int]:
        """End cycle of each hardware op's last compute instruction."""
        return {r.layer: r.end for r in self.records}

    def op_cycles(self, prog: Program) -> dict[int, int]:
        """Measured cycles per hardware op, attributed like :attr:`Prediction.per_op`."""
        return attribute((op.index for op in prog.ops), self.ends)
