"""cocotb tests of ``hfaccel_axi_top`` with models no one here wrote: cocotbext-axi's ``AxiRam``
(random back-pressure and latency on every channel through its pause generators; it asserts
that no burst crosses 4 KiB) as the memory and ``AxiLiteMaster`` as the host, driven by the
host runtime (:class:`hfaccel.accel.runtime.Runtime`) on the shipped simulated device
(:mod:`hfaccel.sim.axi_device`).

``HFACCEL_AXI_CASES`` names a pickle of ``{test name: case}`` written by ``tests/test_axi.py``
(the compiled program, its input, the base address, the scenario); each test writes its
observations to ``<name>.json`` in ``HFACCEL_AXI_OUT``, and the pytest side asserts on them.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from hfaccel.accel import regs
from hfaccel.accel.runtime import DeviceError, DeviceMismatch, Runtime
from hfaccel.sim.axi_device import setup


async def _setup(dut, case: dict):
    return await setup(dut, pause=case.get("pause", 0.3), seed=case.get("seed", 0))


def _case(name: str) -> dict:
    with open(os.environ["HFACCEL_AXI_CASES"], "rb") as f:
        return pickle.load(f)[name]


def _save(name: str, res: dict) -> None:
    Path(os.environ["HFACCEL_AXI_OUT"], f"{name}.json").write_text(json.dumps(res, indent=1))


async def _perf_port(dut, out: list) -> None:
    """What tb_top.v writes to perf.txt: the perf port's fields in every cycle it is valid
    (reset by a start, like the records)."""
    while True:
        await RisingEdge(dut.aclk)
        if dut.perf_valid.value:
            out.append([int(getattr(dut, f"perf_{w}").value)
                        for w in ("layer", "t", "wait", "busy", "mac")])


async def _run_case(dut, name: str) -> None:
    case = _case(name)
    ram, lite, dev = await _setup(dut, case)
    port: list = []
    cocotb.start_soon(_perf_port(dut, port))
    rt = Runtime(dev)
    prog = case["prog"]
    res: dict = {}
    if case.get("bad_read_from") is not None:  # SLVERR on reads of one address range
        lo, hi = case["bad_read_from"], case["bad_read_to"]
        good = ram.read_if._read

        async def bad_read(address, length):
            if lo <= address < hi:
                raise OSError("injected read error")
            return await good(address, length)

        ram.read_if._read = bad_read
    if case.get("bad_write"):  # SLVERR on every write
        async def bad_write(address, data):
            raise OSError("injected write error")

        ram.write_if._write = bad_write
    try:
        await rt.load(prog, case["base"])
    except DeviceMismatch as e:
        res["mismatch"] = str(e)
        _save(name, res)
        return
    await rt.write_input(case["x"])
    await rt.start()
    if case.get("soft_reset"):  # reset the engine mid-run, wait for the bus, start again
        await ClockCycles(dut.aclk, case["soft_reset"])
        await rt.write("control", regs.pack("control", soft_reset=1))
        for _ in range(1000):
            st = regs.unpack("status", await rt.read("status"))
            if not st["busy"]:
                break
        res["status_after_reset"] = st
        port.clear()
        await rt.start()
    if case.get("restart"):  # start again while busy: ignored, status.rejected
        await rt.write("control", regs.pack("control", start=1, irq_enable=1))
        res["status_after_restart"] = regs.unpack("status", await rt.read("status"))
    try:
        res["counters"] = await rt.wait(timeout_s=case.get("timeout_s", 20.0))
        res["output"] = [int(v) for v in (await rt.read_output()).ravel()]
        res["perf"] = [[getattr(r, w) for w in regs.PERF_RECORD]
                       for r in (await rt.read_perf()).records]
        res["perf_port"] = port
        if case.get("raw_out"):
            res["raw"] = ram.read(case["base"] + case["raw_out"][0],
                                  case["raw_out"][1]).hex()
    except DeviceError as e:
        res["error"] = str(e)
    res["status"] = regs.unpack("status", await rt.read("status"))
    res["bus_error"] = regs.unpack("bus_error", await rt.read("bus_error"))
    res["irq_status_after_clear"] = await rt.read("irq_status")
    res["irq_after_clear"] = int(dut.irq.value)
    await ClockCycles(dut.aclk, 5)
    res["idle_after"] = not regs.unpack("status", await rt.read("status"))["busy"]
    _save(name, res)


def _make(name: str):
    async def test(dut):
        await _run_case(dut, name)

    test.__name__ = test.__qualname__ = f"test_{name}"
    return cocotb.test()(test)


# one cocotb test per case the pytest side may write (it selects them with ``testcase``)
for _name in ("network", "spill", "based", "slverr_read", "slverr_write", "hash", "restart",
              "reset"):
    globals()[f"test_{_name}"] = _make(_name)
