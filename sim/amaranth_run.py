"""Run a compiled program on the accelerator in Amaranth's own simulator (no Verilog).

For unit tests of small programs: a Python model of the external memory answers the engine's
requests cycle by cycle (the same protocol and latency as ``sim/tb/tb_top.v``), and the trace and
perf ports are recorded in the same text format as the HDL testbench writes, so
:func:`hfaccel.sim.hwsim.compare` checks both the same way. Too slow for whole networks.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np

from hfaccel.accel.compiler import Program, pack_input

__all__ = ["run_amaranth"]


def run_amaranth(prog: Program, x_codes: np.ndarray, work: Path, *, latency: int = 8,
                 max_cycles: int = 200_000) -> dict:
    from amaranth.sim import Simulator

    from hfaccel.rtl.top import Accelerator

    cfg = prog.cfg
    bb = cfg.bus_bytes
    image = bytearray(prog.image)
    blob = pack_input(prog, x_codes)
    image[prog.input_beat * bb:prog.input_beat * bb + len(blob)] = blob
    mem = [int.from_bytes(image[i:i + bb], "little") for i in range(0, len(image), bb)]
    dut = Accelerator(cfg)
    work.mkdir(parents=True, exist_ok=True)
    trace = open(work / "trace.txt", "w")
    perf = open(work / "perf.txt", "w")
    wbits = cfg.lanes * 8
    res: dict = {}

    async def bench(ctx):
        pipe: deque = deque([None] * latency)
        ctx.set(dut.req_ready, 1)
        ctx.set(dut.prog, 0)  # the compiler places the program at beat 0 of the image
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(max_cycles):
            # respond (in order, fixed latency), then sample this cycle's request
            head = pipe.popleft()
            if head is None:
                ctx.set(dut.rsp_valid, 0)
            else:
                ctx.set(dut.rsp_valid, 1)
                ctx.set(dut.rsp_data, head[0])
                ctx.set(dut.rsp_tag, head[1])
            req = None
            if ctx.get(dut.req_valid):
                addr = ctx.get(dut.req_addr)
                if ctx.get(dut.req_we):
                    while addr >= len(mem):
                        mem.append(0)
                    mem[addr] = ctx.get(dut.req_wdata)
                else:
                    req = (mem[addr] if addr < len(mem) else 0, ctx.get(dut.req_tag))
            pipe.append(req)
            tv = ctx.get(dut.trace_valid)
            if tv:
                layer, addr = ctx.get(dut.trace_layer), ctx.get(dut.trace_addr)
                q, a, r = ctx.get(dut.trace_q), ctx.get(dut.trace_a), ctx.get(dut.trace_r)
                for k in range(len(dut.trace_valid)):
                    if tv >> k & 1:
                        sl = [(v >> (k * wbits)) & ((1 << wbits) - 1) for v in (q, a, r)]
                        h = " ".join(f"{v:0{wbits // 4}x}" for v in sl)
                        trace.write(f"r {layer} {addr + k} {h}\n")
            if ctx.get(dut.trace_g_valid):
                trace.write(f"g {ctx.get(dut.trace_layer)} {ctx.get(dut.trace_g_addr)} "
                            f"{ctx.get(dut.trace_g):0{wbits // 4}x}\n")
            if ctx.get(dut.perf_valid):
                trace.write(f"e {ctx.get(dut.perf_layer)}\n")
                perf.write(" ".join(str(ctx.get(getattr(dut, f"perf_{n}")))
                                    for n in ("layer", "t", "wait", "busy", "mac")) + "\n")
            if ctx.get(dut.done):
                break
            await ctx.tick()
        for n in ("status", "cycles", "cmp_busy", "cmp_wait", "ld_busy", "mac_cycles", "instrs",
                  "done"):
            res[n] = ctx.get(getattr(dut, n))
        res["timed_out"] = not res["done"]

    import sys

    sys.set_int_max_str_digits(0)  # wide signals (the weight buffer word) exceed the default
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    trace.close()
    perf.close()
    ow = prog.output_words
    R = cfg.words_per_beat
    out = b"".join(mem[prog.output_beat + i].to_bytes(bb, "little")
                   for i in range(-(-ow // R)))
    res["logits_words"] = np.frombuffer(out, np.int8)[:ow * cfg.lanes].reshape(ow, cfg.lanes)
    res["files"] = {"trace": str(work / "trace.txt"), "perf": str(work / "perf.txt")}
    return res
