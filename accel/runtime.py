"""The host runtime of the AXI-integrated engine: load a program, write the input, run, read.

The runtime talks to a :class:`Device`, a small interface any platform can implement: 32-bit
reads and writes of the register file (``hfaccel_axi_top``'s ``s_axi`` port, offsets from
:mod:`hfaccel.accel.regs`), byte reads and writes of a DMA-able buffer at the bus addresses the
engine's AXI master sees, and a wait for the interrupt. The methods are coroutines so that a
simulator (cocotb: :mod:`hfaccel.sim.axi_device` drives the RTL through cocotbext-axi's
``AxiLiteMaster`` and ``AxiRam``) and a real platform (blocking MMIO wrapped in ``async def``)
share one runtime.

Relocation: the program image is position-independent (every address in it counts beats from
the ``base`` register), so :meth:`Runtime.load` copies it to whatever buffer address the
platform's allocator gave and writes that address to ``base_lo``/``base_hi``.

The runtime refuses (:class:`DeviceMismatch`) a device that is not the engine (``id``) or a
program compiled for a configuration whose :func:`~hfaccel.accel.regs.config_hash` differs from
the device's ``cfg_hash``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from hfaccel.accel import regs
from hfaccel.accel.compiler import Program, from_words, pack_input
from hfaccel.accel.isa import ERRORS
from hfaccel.accel.perf import PerfLog, PerfRecord
from hfaccel.errors import HfaccelError

__all__ = ["COUNTERS", "Device", "DeviceError", "DeviceMismatch", "MmapDevice", "Runtime",
           "check_base", "decode_output", "perf_area"]

COUNTERS = ("cycles", "cmp_busy", "cmp_wait", "ld_busy", "mac_cycles", "instrs")


class DeviceMismatch(HfaccelError):
    """The device is not the engine, or not the configuration the program was compiled for."""


class DeviceError(HfaccelError):
    """The engine stopped on an error, rejected a start, or did not finish in time."""


class Device(Protocol):
    """What the runtime needs of a platform."""

    async def read32(self, offset: int) -> int:
        """Read the register at byte ``offset``."""

    async def write32(self, offset: int, value: int) -> None:
        """Write the register at byte ``offset``."""

    async def mem_write(self, addr: int, data: bytes) -> None:
        """Write ``data`` to the DMA buffer at bus byte address ``addr``."""

    async def mem_read(self, addr: int, n: int) -> bytes:
        """Read ``n`` bytes of the DMA buffer at bus byte address ``addr``."""

    async def wait_irq(self, timeout_s: float) -> bool:
        """Wait until ``irq`` is high; False on timeout."""


def perf_area(prog: Program) -> tuple[int, int]:
    """``(perf_addr, perf_cap)``: the perf records' area right after the image (beats from
    base), one record for each compute instruction of ``prog``."""
    bb = prog.cfg.bus_bytes
    rec_beats = regs.perf_stride(bb) // bb
    beats = -(-len(prog.image) // bb)
    return -(-beats // rec_beats) * rec_beats, len(prog.computes)


def _footprint(prog: Program) -> int:
    """Bytes from base the device uses: the image and the perf records after it."""
    addr, cap = perf_area(prog)
    return addr * prog.cfg.bus_bytes + cap * regs.perf_stride(prog.cfg.bus_bytes)


def check_base(prog: Program, base: int) -> None:
    """ValueError unless ``prog`` can be loaded at bus address ``base``: aligned to the bus
    width, and the whole image and its perf records below ``2**axi_addr_bits``."""
    bb, ab = prog.cfg.bus_bytes, prog.cfg.axi_addr_bits
    size = _footprint(prog)
    if base + size > 1 << ab:
        raise ValueError(f"the program at base {base:#x} ({size} bytes with its perf records) "
                         f"does not fit the device's {ab}-bit AXI addresses (axi_addr_bits); "
                         f"load it below {(1 << ab) - size:#x}")
    if base < 0 or base % bb:
        raise ValueError(f"base address {base:#x} must be a bus address >= 0 aligned to the "
                         f"bus width ({bb} bytes): use a multiple of {bb}")


def decode_output(prog: Program, raw: bytes) -> np.ndarray:
    """The output codes from the ``prog.output_words * lanes`` bytes at ``output_beat``."""
    lanes = prog.cfg.lanes
    words = np.frombuffer(raw, np.int8).reshape(-1, lanes).astype(np.int64)
    if prog.graph is None:
        return words
    out = prog.graph[prog.graph.output]
    shape = out.shape if len(out.shape) == 3 else (out.shape[0],)
    return from_words(words, out.shape[0], shape, lanes)


class Runtime:
    """One engine behind a :class:`Device`."""

    def __init__(self, device: Device):
        self.dev = device
        self.base: int | None = None
        self.prog: Program | None = None

    async def read(self, reg: str) -> int:
        return await self.dev.read32(regs.offset(reg))

    async def write(self, reg: str, value: int) -> None:
        await self.dev.write32(regs.offset(reg), value)

    async def check(self, prog: Program) -> None:
        """Refuse a device that is not the engine or was built for another configuration."""
        ident = await self.read("id")
        if ident != regs.MAGIC:
            raise DeviceMismatch(f"no hfaccel engine at this register window: id reads "
                                 f"{ident:#010x}, expected {regs.MAGIC:#010x}")
        have, want = await self.read("cfg_hash"), regs.config_hash(prog.cfg)
        if have != want:
            raise DeviceMismatch(f"the program was compiled for hardware '{prog.cfg.name}' "
                                 f"(hash {want:#010x}) but the device's configuration hash is "
                                 f"{have:#010x}; recompile for the device's config.json")

    async def load(self, prog: Program, base: int) -> None:
        """Check the device, copy the image to bus address ``base`` and point ``base`` at it."""
        check_base(prog, base)
        await self.check(prog)
        await self.dev.mem_write(base, bytes(prog.image))
        await self.write("base_lo", base & 0xFFFF_FFFF)
        await self.write("base_hi", base >> 32)
        await self.write("prog", 0)  # the compiler puts the first instruction at beat 0
        addr, cap = perf_area(prog)
        await self.write("perf_addr", addr)
        await self.write("perf_cap", cap)
        self.base, self.prog = base, prog

    def _need_loaded(self) -> Program:
        if self.prog is None or self.base is None:
            raise DeviceError("no program loaded: call load(prog, base) first")
        return self.prog

    async def write_input(self, x_codes: np.ndarray) -> None:
        """The network input (C, H, W int8 codes) into the loaded image."""
        prog = self._need_loaded()
        await self.dev.mem_write(self.base + prog.input_beat * prog.cfg.bus_bytes,
                                 pack_input(prog, x_codes))

    async def start(self, *, irq: bool = True) -> None:
        """Start the loaded program; a start the engine ignores (busy) is a DeviceError."""
        self._need_loaded()
        await self.write("irq_status", regs.pack("irq_status", done=1))  # a stale one
        await self.write("control", regs.pack("control", start=1, irq_enable=int(irq)))
        st = regs.unpack("status", await self.read("status"))
        if st["rejected"]:
            raise DeviceError("the engine is busy: start ignored (wait for status.done or "
                              "write control.soft_reset)")

    async def wait(self, timeout_s: float = 60.0) -> dict[str, int]:
        """Wait for the interrupt, acknowledge it, and return the counters; an error status is
        a DeviceError naming the code."""
        if not await self.dev.wait_irq(timeout_s):
            raise DeviceError(f"no interrupt within {timeout_s} s (status "
                              f"{regs.unpack('status', await self.read('status'))})")
        await self.write("irq_status", regs.pack("irq_status", done=1))
        st = regs.unpack("status", await self.read("status"))
        if st["error"]:
            be = regs.unpack("bus_error", await self.read("bus_error"))
            raise DeviceError(f"the engine stopped with status {st['error']} "
                              f"({ERRORS.get(st['error'], 'unknown')}); bus_error {be}")
        return {n: await self.read(n) for n in COUNTERS}

    async def read_perf(self) -> PerfLog:
        """The last run's perf records (one per compute instruction, written by the engine to
        the area after the image); a DeviceError if fewer were written than instructions ran."""
        prog = self._need_loaded()
        bb = prog.cfg.bus_bytes
        n, ran = await self.read("perf_count"), await self.read("instrs")
        if n != ran:
            raise DeviceError(f"the engine wrote {n} perf records for {ran} compute "
                              f"instructions (perf_cap {await self.read('perf_cap')})")
        addr = await self.read("perf_addr")
        raw = await self.dev.mem_read(self.base + addr * bb, n * regs.perf_stride(bb))
        return PerfLog(tuple(PerfRecord(**r) for r in regs.perf_records(raw, bb)))

    async def read_output(self) -> np.ndarray:
        """The network's output codes (the classifier's logits)."""
        prog = self._need_loaded()
        cfg = prog.cfg
        raw = await self.dev.mem_read(self.base + prog.output_beat * cfg.bus_bytes,
                                      prog.output_words * cfg.lanes)
        return decode_output(prog, raw)


class MmapDevice:
    """A Linux :class:`Device` over ``mmap`` (UNTESTED ON HARDWARE: no board here has run it).

    ``regs_path`` at ``regs_offset`` is the register window (``/dev/mem`` at the ``s_axi``
    base of the address map, or a UIO device's ``/dev/uioN`` at 0), 4 KiB; ``buf_path`` at
    ``buf_offset`` is a buffer the engine's master reaches at bus address ``buf_bus`` (a
    reserved-memory region through ``/dev/mem``, a udmabuf/CMA device), ``buf_bytes`` long.
    The interrupt is polled from ``status.done`` (``irq_status``), which needs no kernel
    driver; a UIO interrupt could replace :meth:`wait_irq`. The tests exercise it on plain files.
    """

    def __init__(self, regs_path: str, buf_path: str, *, regs_offset: int = 0,
                 buf_offset: int = 0, buf_bus: int = 0, buf_bytes: int = 1 << 24,
                 poll_s: float = 1e-4):
        import mmap
        import os

        self._fds = [os.open(regs_path, os.O_RDWR | os.O_SYNC),
                     os.open(buf_path, os.O_RDWR | os.O_SYNC)]
        self.regs = mmap.mmap(self._fds[0], 4096, offset=regs_offset)
        self.buf = mmap.mmap(self._fds[1], buf_bytes, offset=buf_offset)
        self.buf_bus, self.buf_bytes, self.poll_s = buf_bus, buf_bytes, poll_s

    def close(self) -> None:
        import os

        self.regs.close()
        self.buf.close()
        for fd in self._fds:
            os.close(fd)

    def _span(self, addr: int, n: int) -> int:
        off = addr - self.buf_bus
        if off < 0 or off + n > self.buf_bytes:
            raise ValueError(f"bus address {addr:#x}+{n} is outside the DMA buffer "
                             f"[{self.buf_bus:#x}, {self.buf_bus + self.buf_bytes:#x})")
        return off

    async def read32(self, offset: int) -> int:
        return int.from_bytes(self.regs[offset:offset + 4], "little")

    async def write32(self, offset: int, value: int) -> None:
        self.regs[offset:offset + 4] = int(value).to_bytes(4, "little")

    async def mem_write(self, addr: int, data: bytes) -> None:
        off = self._span(addr, len(data))
        self.buf[off:off + len(data)] = data

    async def mem_read(self, addr: int, n: int) -> bytes:
        off = self._span(addr, n)
        return bytes(self.buf[off:off + n])

    async def wait_irq(self, timeout_s: float) -> bool:
        import asyncio
        import time

        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            if regs.unpack("irq_status", await self.read32(regs.offset("irq_status")))["done"]:
                return True
            await asyncio.sleep(self.poll_s)
        return False
