"""The cocotb side of a whole-network run (``hfaccel hw-sim``): start the engine and wait.

The memory image, the recorders and the clockwork are in the HDL (``sim/tb/tb_top.v``); this
test only starts a clock, pulses ``start`` and waits for ``done`` under a cycle budget, then
writes the engine's status and counters to the JSON file named by ``HFACCEL_RESULT``. Python
never runs in the per-cycle loop.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer

PERIOD_NS = 10


@cocotb.test()
async def run_program(dut):
    budget = int(os.environ.get("HFACCEL_MAX_CYCLES", "10000000"))
    result_path = os.environ["HFACCEL_RESULT"]
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.rst.value = 1
    dut.start.value = 0
    dut.prog.value = 0  # the compiler places the program at beat 0 of the image
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 1)
    dut.start.value = 1
    await ClockCycles(dut.clk, 1)
    dut.start.value = 0
    t0 = time.perf_counter()
    timeout = Timer(budget * PERIOD_NS, unit="ns")
    fired = await First(RisingEdge(dut.done), timeout)
    wall = time.perf_counter() - t0
    await ClockCycles(dut.clk, 2)  # let the recorders flush
    res = {"timed_out": fired is timeout, "budget_cycles": budget, "run_wall_s": wall}
    for name in ("status", "cycles", "cmp_busy", "cmp_wait", "ld_busy", "mac_cycles", "instrs",
                 "busy", "done"):
        res[name] = int(getattr(dut, name).value)
    with open(result_path, "w") as f:
        json.dump(res, f, indent=2)
