"""cocotb tests of ``hfaccel_axi_top`` with models no one here wrote: cocotbext-axi's ``AxiRam``
(random back-pressure and latency on every channel through its pause generators; it asserts
that no burst crosses 4 KiB) as the memory and ``AxiLiteMaster`` as the host, driven by the
host runtime (:class:`hfaccel.accel.runtime.Runtime`).

``HFACCEL_AXI_CASES`` names a pickle of ``{test name: case}`` written by ``tests/test_axi.py``
(the compiled program, its input, the base address, the scenario); each test writes its
observations to ``<name>.json`` in ``HFACCEL_AXI_OUT``, and the pytest side asserts on them.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from hfaccel.accel import regs
from hfaccel.accel.runtime import DeviceError, DeviceMismatch, Runtime

PERIOD_NS = 10
RAM_BYTES = 1 << 22


def _pauses(seed: int, p: float):
    rng = random.Random(seed)
    while True:
        yield rng.random() < p


class SimDevice:
    """The runtime's Device on the simulated AXI ports."""

    def __init__(self, dut, ram: AxiRam, lite: AxiLiteMaster):
        self.dut, self.ram, self.lite = dut, ram, lite

    async def read32(self, offset: int) -> int:
        return int.from_bytes((await self.lite.read(offset, 4)).data, "little")

    async def write32(self, offset: int, value: int) -> None:
        await self.lite.write(offset, int(value).to_bytes(4, "little"))

    async def mem_write(self, addr: int, data: bytes) -> None:
        self.ram.write(addr, data)

    async def mem_read(self, addr: int, n: int) -> bytes:
        return self.ram.read(addr, n)

    async def wait_irq(self, timeout_s: float) -> bool:
        # simulated time: timeout_s stands for that many microseconds of the 100 MHz clock
        if self.dut.irq.value:
            return True
        t = Timer(int(timeout_s * 1e6), unit="ns")
        return await First(RisingEdge(self.dut.irq), t) is not t


async def _setup(dut, case: dict):
    """Clock, reset, the RAM (with back-pressure unless the case says none) and the host."""
    cocotb.start_soon(Clock(dut.aclk, PERIOD_NS, unit="ns").start())
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.aclk, dut.aresetn,
                 reset_active_level=False, size=RAM_BYTES)
    lite = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi"), dut.aclk, dut.aresetn,
                         reset_active_level=False)
    for bus in ("m_axi", "s_axi"):  # the models log every burst at INFO: slow and noisy
        logging.getLogger(f"cocotb.{dut._name}.{bus}").setLevel(logging.WARNING)
    p = case.get("pause", 0.3)
    if p:
        for i, ch in enumerate((ram.write_if.aw_channel, ram.write_if.w_channel,
                                ram.write_if.b_channel, ram.read_if.ar_channel,
                                ram.read_if.r_channel)):
            ch.set_pause_generator(_pauses(case.get("seed", 0) * 10 + i, p))
    dut.aresetn.value = 0
    await ClockCycles(dut.aclk, 4)
    dut.aresetn.value = 1
    await ClockCycles(dut.aclk, 2)
    return ram, lite, SimDevice(dut, ram, lite)


def _case(name: str) -> dict:
    with open(os.environ["HFACCEL_AXI_CASES"], "rb") as f:
        return pickle.load(f)[name]


def _save(name: str, res: dict) -> None:
    Path(os.environ["HFACCEL_AXI_OUT"], f"{name}.json").write_text(json.dumps(res, indent=1))


async def _run_case(dut, name: str) -> None:
    case = _case(name)
    ram, lite, dev = await _setup(dut, case)
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
        await rt.start()
    if case.get("restart"):  # start again while busy: ignored, status.rejected
        await rt.write("control", regs.pack("control", start=1, irq_enable=1))
        res["status_after_restart"] = regs.unpack("status", await rt.read("status"))
    try:
        res["counters"] = await rt.wait(timeout_s=case.get("timeout_s", 20.0))
        res["output"] = [int(v) for v in (await rt.read_output()).ravel()]
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
