"""The host runtime's simulated device: ``hfaccel_axi_top`` in RTL behind its AXI ports.

:class:`SimDevice` implements :class:`hfaccel.accel.runtime.Device` inside a cocotb test:
registers through cocotbext-axi's ``AxiLiteMaster`` on ``s_axi``, the DMA buffer as its
``AxiRam`` on ``m_axi`` (optionally with random back-pressure on every channel), the interrupt
on ``irq``. :func:`run_on_sim` is the host side: it builds the AXI top's simulator (cached under
``build/axisim/<hw>-<sim>``), runs the runtime's whole sequence (load, write the input, start,
wait for the interrupt, read the logits, counters and perf records) once per input and
returns the results.
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

from hfaccel.accel.regs import PERF_RECORD
from hfaccel.accel.runtime import DeviceError, DeviceMismatch, Runtime
from hfaccel.errors import HfaccelError

__all__ = ["SimDevice", "pauses", "setup", "run_on_sim"]

PERIOD_NS = 10


def pauses(seed: int, p: float):
    """A pause generator for cocotbext-axi channels: stall with probability ``p``."""
    rng = random.Random(seed)
    while True:
        yield rng.random() < p


class SimDevice:
    """The runtime's Device on the simulated AXI ports."""

    def __init__(self, dut, ram, lite):
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


async def setup(dut, *, pause: float = 0.3, seed: int = 0):
    """Clock, reset, the RAM (every channel stalled with probability ``pause``) and the host;
    returns ``(ram, lite, SimDevice)``."""
    from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

    cocotb.start_soon(Clock(dut.aclk, PERIOD_NS, unit="ns").start())
    # the master's address space (a sparse memory: only what is written exists), so that a
    # program runs at a base anywhere in it; capped at 2**62 because the model's len() must fit
    # a Python index (a 64-bit master's top quarter is out of the simulation's reach)
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.aclk, dut.aresetn,
                 reset_active_level=False, size=1 << min(len(dut.m_axi_araddr), 62))
    lite = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi"), dut.aclk, dut.aresetn,
                         reset_active_level=False)
    for bus in ("m_axi", "s_axi"):  # the models log every burst at INFO: slow and noisy
        logging.getLogger(f"cocotb.{dut._name}.{bus}").setLevel(logging.WARNING)
    if pause:
        for i, ch in enumerate((ram.write_if.aw_channel, ram.write_if.w_channel,
                                ram.write_if.b_channel, ram.read_if.ar_channel,
                                ram.read_if.r_channel)):
            ch.set_pause_generator(pauses(seed * 10 + i, pause))
    dut.aresetn.value = 0
    await ClockCycles(dut.aclk, 4)
    dut.aresetn.value = 1
    await ClockCycles(dut.aclk, 2)
    return ram, lite, SimDevice(dut, ram, lite)


@cocotb.test()
async def run_host(dut):
    """The runtime's sequence on every input of the job ``HFACCEL_RUN_JOB`` names (a pickle of
    the program, the inputs, the base address and the stall probability); writes
    ``HFACCEL_RUN_OUT`` (JSON: per input the logits and counters, or the error)."""
    with open(os.environ["HFACCEL_RUN_JOB"], "rb") as f:
        job = pickle.load(f)
    _, _, dev = await setup(dut, pause=job["pause"], seed=job.get("seed", 0))
    rt = Runtime(dev)
    out: list[dict] = []
    try:
        await rt.load(job["prog"], job["base"])
        for x in job["inputs"]:
            await rt.write_input(x)
            await rt.start()
            counters = await rt.wait(timeout_s=job["timeout_s"])
            perf = await rt.read_perf()
            out.append({"output": [int(v) for v in (await rt.read_output()).ravel()],
                        "counters": counters,
                        "perf": [[getattr(r, w) for w in PERF_RECORD] for r in perf.records]})
    except (DeviceError, DeviceMismatch, ValueError) as e:
        out.append({"error": str(e)})
    Path(os.environ["HFACCEL_RUN_OUT"]).write_text(json.dumps(out, indent=1))


def run_on_sim(prog, inputs, *, work: Path, sim: str = "icarus", base: int = 0x1000,
               stall: int = 25, timeout_s: float = 1000.0, log=print) -> list[dict]:
    """Run ``prog`` on each of ``inputs`` (C, H, W int8 codes) through the host runtime against
    the RTL of ``prog.cfg``'s AXI top; returns per input ``{"output", "counters", "perf"}``
    (``perf``: the per-instruction records, lists in ``PERF_RECORD`` order) or
    ``{"error"}`` (the runtime stops at the first error). ``timeout_s`` is simulated
    microseconds (see :meth:`SimDevice.wait_irq`)."""
    from cocotb_tools.runner import get_runner

    from hfaccel.rtl.verilog import AXI_TOP, generate_verilog
    from hfaccel.sim.hwsim import _FastVerilator, simulator_env

    if sim not in ("verilator", "icarus"):
        raise HfaccelError(f"unknown simulator {sim!r}; use verilator or icarus")
    if not 0 <= stall < 100:
        raise HfaccelError(f"stall must be a percentage from 0 to 99, not {stall}")
    work.mkdir(parents=True, exist_ok=True)
    job, res = (work / "job.pkl").resolve(), (work / "result.json").resolve()
    job.write_bytes(pickle.dumps({"prog": prog, "inputs": list(inputs), "base": base,
                                  "pause": stall / 100, "timeout_s": timeout_s}))
    res.unlink(missing_ok=True)
    top = generate_verilog(prog.cfg, log=log)
    build = Path("build/axisim") / f"{top.parent.name}-{sim}"
    # --no-timing: Amaranth's Verilog has `initial #0` (as hw-sim's build); cocotb drives the
    # clock, so no HDL delay needs Verilator's timing support
    args = (["-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-timing", "-O3"]
            if sim == "verilator" else [])
    log(f"building the {sim} simulator of {AXI_TOP} in {build} (cached) ...")
    with simulator_env(sim):
        runner = _FastVerilator() if sim == "verilator" else get_runner(sim)
        try:
            runner.build(sources=[top.resolve()], hdl_toplevel=AXI_TOP, build_dir=build,
                         build_args=args, timescale=("1ns", "1ps"), always=False,
                         log_file=build / "build.log")
        except RuntimeError as e:
            raise HfaccelError(f"building the {sim} simulator failed ({e}); see "
                               f"{build / 'build.log'}") from None
        log(f"running {len(inputs)} input(s) through the host runtime ({sim}) ...")
        runner.test(test_module="hfaccel.sim.axi_device", hdl_toplevel=AXI_TOP,
                    build_dir=build, test_dir=work,
                    extra_env={"HFACCEL_RUN_JOB": str(job), "HFACCEL_RUN_OUT": str(res)},
                    log_file=work / "sim.log")
    if not res.exists():
        raise HfaccelError(f"the simulation did not finish; see {work / 'sim.log'}")
    return json.loads(res.read_text())
