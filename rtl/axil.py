"""The AXI4-Lite slave register file, generated from the register map
(:data:`hfaccel.accel.regs.REGISTERS`).

Every field of the map becomes ports of :class:`AxilRegs` named after it (``<reg>`` for a
register that is one field of its own name, else ``<reg>_<field>``):

* ``rw``: ``Out(bits)``, the stored value;
* ``ro``: ``In(bits)``, the value a read returns;
* ``w1s``: ``Out(bits)``, one-cycle pulses of the bits written as 1;
* ``w1c``: ``In(bits)`` ``<name>_set`` (pulses that set bits) and ``Out(bits)`` ``<name>`` (the
  sticky bits; a write of 1 clears one, a set in the same cycle wins).

Protocol: a write is taken when ``awvalid`` and ``wvalid`` are both up and no write response
is pending (``awready = wready`` for one cycle), its byte strobes ``wstrb`` select the bytes it
changes, and ``bvalid`` follows in the next cycle with OKAY; a read is taken when no read
response is pending and returns the register's value in the next cycle with OKAY. An address
outside the map reads 0 and ignores writes (OKAY: the map leaves room to grow). Only address
bits ``[addr_width-1:2]`` are decoded. :class:`RefAxilRegs` is the reference model.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hfaccel.accel.regs import REGISTERS, Field, Register
from hfaccel.rtl.axi import AxiLite

__all__ = ["AxilRegs", "RefAxilRegs", "port_name"]


def port_name(reg: Register, f: Field) -> str:
    """The port of field ``f`` of ``reg``: ``reg`` for a one-field register of its own name."""
    return reg.name if (len(reg.fields) == 1 and f.name == reg.name) else f"{reg.name}_{f.name}"


class AxilRegs(wiring.Component):
    """The register file of ``regs`` behind an AXI4-Lite slave (see the module docstring).

    Parameters
    ----------
    regs : tuple of :class:`~hfaccel.accel.regs.Register`
        The map (default: :data:`hfaccel.accel.regs.REGISTERS`).
    addr_width : int
        Bits of ``bus.awaddr`` / ``bus.araddr`` (at least 3; the map must fit).

    Members
    -------
    bus : ``In(AxiLite(addr_width=addr_width, data_width=32))``
        The slave port.
    <field ports> : as in the module docstring.
    """

    def __init__(self, *, regs: tuple[Register, ...] = REGISTERS, addr_width: int = 12):
        if not isinstance(addr_width, int) or addr_width < 3:
            raise TypeError(f"addr_width must be an integer >= 3, not {addr_width!r}")
        top = max(r.offset for r in regs)
        if top >= 1 << addr_width:
            raise ValueError(f"register offset {top:#x} does not fit addr_width={addr_width}")
        self.regs, self.addr_width = tuple(regs), addr_width
        members = {"bus": In(AxiLite(addr_width=addr_width, data_width=32))}
        for r in self.regs:
            for f in r.fields:
                name = port_name(r, f)
                if f.access in ("rw", "w1s"):
                    members[name] = Out(f.bits, init=f.reset) if f.access == "rw" \
                        else Out(f.bits)
                elif f.access == "ro":
                    members[name] = In(f.bits)
                else:  # w1c
                    members[name] = Out(f.bits, init=f.reset)
                    members[f"{name}_set"] = In(f.bits)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        b = self.bus
        # write channel: address and data together, one response at a time
        take_w = Signal()
        m.d.comb += [take_w.eq(b.awvalid & b.wvalid & ~b.bvalid),
                     b.awready.eq(take_w), b.wready.eq(take_w), b.bresp.eq(0)]
        with m.If(take_w):
            m.d.sync += b.bvalid.eq(1)
        with m.Elif(b.bready):
            m.d.sync += b.bvalid.eq(0)
        strobe = Signal(32)  # bit mask of the written bytes
        m.d.comb += strobe.eq(Cat(*[b.wstrb[i].replicate(8) for i in range(4)]))
        wsel = b.awaddr[2:]
        # read channel: data registered at the address handshake
        take_r = Signal()
        m.d.comb += [take_r.eq(b.arvalid & ~b.rvalid), b.arready.eq(take_r), b.rresp.eq(0)]
        with m.If(take_r):
            m.d.sync += b.rvalid.eq(1)
        with m.Elif(b.rready):
            m.d.sync += b.rvalid.eq(0)
        rsel = b.araddr[2:]
        with m.If(take_r):
            m.d.sync += b.rdata.eq(0)  # unmapped addresses
        for r in self.regs:
            hit_w = take_w & (wsel == r.offset >> 2)
            value = Signal(32, name=f"{r.name}_value")
            for f in r.fields:
                port = getattr(self, port_name(r, f))
                sl = slice(f.lsb, f.lsb + f.bits)
                if f.access != "w1s":  # a pulse reads as 0
                    m.d.comb += value[sl].eq(port)
                wd, ws = b.wdata[sl], strobe[sl]
                if f.access == "rw":
                    with m.If(hit_w):
                        m.d.sync += port.eq((port & ~ws) | (wd & ws))
                elif f.access == "w1s":
                    with m.If(hit_w):
                        m.d.comb += port.eq(wd & ws)
                elif f.access == "w1c":
                    setp = getattr(self, f"{port_name(r, f)}_set")
                    clear = Signal(f.bits, name=f"{port_name(r, f)}_clear")
                    with m.If(hit_w):
                        m.d.comb += clear.eq(wd & ws)
                    m.d.sync += port.eq((port & ~clear) | setp)
            with m.If(take_r & (rsel == r.offset >> 2)):
                m.d.sync += b.rdata.eq(value)
        return m


class RefAxilRegs:
    """Reference model of :class:`AxilRegs`: ``write(addr, data, strb)``, ``read(addr)``; ``ro``
    fields read from ``inputs`` (a dict port -> value), ``w1c`` bits set by :meth:`set`.
    ``pulses`` holds the ``w1s`` pulses of the last write."""

    def __init__(self, regs: tuple[Register, ...] = REGISTERS, addr_width: int = 12):
        self.regs, self.addr_width = regs, addr_width
        self.state = {port_name(r, f): f.reset for r in regs for f in r.fields
                      if f.access in ("rw", "w1c")}
        self.inputs: dict[str, int] = {}
        self.pulses: dict[str, int] = {}

    def _find(self, addr: int):
        word = (addr % (1 << self.addr_width)) >> 2
        return next((r for r in self.regs if r.offset >> 2 == word), None)

    def set(self, port: str, bits: int) -> None:
        self.state[port] |= bits

    def write(self, addr: int, data: int, strb: int = 0xF) -> None:
        self.pulses = {}
        r = self._find(addr)
        if r is None:
            return
        mask = sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)
        for f in r.fields:
            p = port_name(r, f)
            fm = (1 << f.bits) - 1
            wd, ws = (data >> f.lsb) & fm, (mask >> f.lsb) & fm
            if f.access == "rw":
                self.state[p] = (self.state[p] & ~ws) | (wd & ws)
            elif f.access == "w1s":
                self.pulses[p] = wd & ws
            elif f.access == "w1c":
                self.state[p] &= ~(wd & ws)

    def read(self, addr: int) -> int:
        r = self._find(addr)
        if r is None:
            return 0
        v = 0
        for f in r.fields:
            p = port_name(r, f)
            x = (self.state[p] if f.access in ("rw", "w1c")
                 else self.inputs.get(p, 0) if f.access == "ro" else 0)
            v |= (x & ((1 << f.bits) - 1)) << f.lsb
        return v
