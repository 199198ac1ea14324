"""On-chip memories of the accelerator, one Verilog module per memory kind.

Each memory of the engine's units is an :class:`SRAM`: a small Elaboratable around one
:class:`amaranth.lib.memory.Memory` whose ports are named explicitly (``rd_a``, ``wr0``, ...), so
that Amaranth emits it as a module of its own with a stable port list
(``<port>__addr``, ``<port>__data``, ``<port>__en``). :func:`hfaccel.rtl.verilog.generate_verilog`
then merges the identical modules of one kind into a single module ``hfaccel_mem_<kind>``
(the 32 banks of the unified buffer become 32 instances of ``hfaccel_mem_ub_bank``) and guards
every memory module with ``ifndef HFACCEL_NO_MEM_MODELS``: an ASIC flow defines the macro and
supplies its own modules of the same names and ports around SRAM macros; FPGA tools infer block
or distributed RAM from the behavioural models as they are.

Semantics of every behavioural model (what a replacement must keep):

* synchronous read port (``rd_*``): ``data`` shows the word at the ``addr`` of the previous
  clock edge (one cycle of latency, always enabled); a read of a word being written in the
  same cycle returns the **old** word (read-first / no write-through);
* combinational read port (``rc*``): ``data`` is the word at ``addr`` in the same cycle
  (LUT RAM or flip-flops on an FPGA; a latch/flop array, not an SRAM macro, on an ASIC);
* write port (``wr*``): at the clock edge, the word at ``addr`` takes ``data`` where ``en`` is
  set; with a granularity, ``en`` has one bit per ``granularity`` bits of the word (bit *i*
  writes bits ``[i*g, (i+1)*g)``), else one bit;
* the contents start at zero (a power-on initialisation that FPGA block RAMs provide; the
  simulations and tests run with it, an SRAM macro powers up with arbitrary contents);
* no reset: ``rst`` is not connected inside.

With ``styles`` (one per synchronous read port, in the order the ports are requested) the model
keeps a copy of the contents per read port, each written alike and tagged with a Yosys/Vivado
``ram_style`` (``block``, ``ultra``, ``distributed``): a memory with two read ports is two
copies on an FPGA anyway, and this says where each goes (``AccelConfig.ub_uram``: the UB's wide
port in UltraRAM, its narrow one in block RAM). The same ports and semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth import Elaboratable, Module, unsigned
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.utils import ceil_log2

__all__ = ["KINDS", "SRAM", "PortSpec"]

# kind -> what it holds (the package README prints it)
KINDS = {
    "ub_bank": "one bank of the unified activation buffer (UB): words of `lanes` int8 channels; "
               "the engine reads `ub_banks` consecutive words per cycle across the banks "
               "(port rd_a), one word for residual/gate/store reads (rd_b), and writes up to "
               "`ub_banks` consecutive words per cycle (wr)",
    "wgt_buf": "weight buffer: one `lanes` x `lanes` int8 tile per word (byte co*lanes+ci), "
               "written one bus beat at a time (one enable bit per beat), two ping-pong halves",
    "prm_buf": "parameter buffer: per output channel an int32 bias, an int8 shift and 3 bytes "
               "of padding (64 bits a channel, `lanes` channels a word), written a bus beat at a "
               "time",
    "tbl_lut": "one post-processing lane's copy of the two 256-entry int8 activation tables "
               "(entry slot*256+code+128), in words of a bus beat or 16 entries, the smaller: "
               "one write port (a word per cycle, every copy written alike) and one "
               "combinational read port "
               "(distributed/LUT RAM on an FPGA, a small register file on an ASIC)",
    "tbl_word": "the activation tables shared by the lanes of one post-processing word "
                "(config shared_tables=1, for ASICs): one write port (a word per cycle) and one "
                "combinational read port per lane (rc0, rc1, ...): a register file or latch "
                "array, not an SRAM macro",
    "gate_mem": "squeeze-excitation gate words of the current GEMM (one word of `lanes` int8 "
                "gates per input-channel tile), combinational read (distributed RAM)",
}


@dataclass
class PortSpec:
    name: str
    kind: str  # "sync" | "comb" | "write"
    granularity: int | None = None


@dataclass
class _Info:
    kind: str
    width: int
    depth: int
    ports: list[PortSpec] = field(default_factory=list)


class SRAM(Elaboratable):
    """One memory of ``width`` bits x ``depth`` words, as its own Verilog module.

    Ports are requested (before elaboration, like :class:`Memory`'s) with a name that becomes
    the prefix of the module's port names: ``read_port("rd_a")`` gives ``rd_a__addr`` and
    ``rd_a__data``. The returned objects are ordinary :class:`Memory` ports.
    """

    STYLES = ("block", "ultra", "distributed")

    def __init__(self, kind: str, *, width: int, depth: int,
                 styles: tuple[str, ...] | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown memory kind {kind!r}")
        if styles is not None and (not styles or any(s not in self.STYLES for s in styles)):
            raise ValueError(f"styles must be a non-empty tuple of {', '.join(self.STYLES)}, "
                             f"not {styles!r}")
        self.info = _Info(kind, width, depth)
        self.styles = tuple(styles) if styles else ()
        # copy i holds the contents for the i-th synchronous read port (one copy without styles)
        self.copies = [self._memory(s) for s in self.styles] or [self._memory(None)]
        self.memory = self.copies[0]

    def _memory(self, style: str | None) -> Memory:
        attrs = {"hfaccel_mem": self.info.kind}
        if style:
            attrs["ram_style"] = style
        return Memory(shape=unsigned(self.info.width), depth=self.info.depth, init=[],
                      attrs=attrs)

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def addr_width(self) -> int:
        return ceil_log2(self.info.depth)

    def read_port(self, name: str, *, domain: str = "sync") -> ReadPort:
        sig = ReadPort.Signature(shape=unsigned(self.info.width), addr_width=self.addr_width)
        mem = self.memory
        if self.styles and domain != "comb":
            nth = sum(p.kind == "sync" for p in self.info.ports)  # this port's copy
            if nth >= len(self.copies):
                raise ValueError(f"{self.info.kind}: {len(self.styles)} styles for more "
                                 "synchronous read ports")
            mem = self.copies[nth]
        self.info.ports.append(PortSpec(name, "comb" if domain == "comb" else "sync"))
        return ReadPort(sig, memory=mem, domain=domain, path=(name,))

    def write_port(self, name: str, *, granularity: int | None = None) -> WritePort:
        sig = WritePort.Signature(shape=unsigned(self.info.width), addr_width=self.addr_width,
                                  granularity=granularity)
        self.info.ports.append(PortSpec(name, "write", granularity))
        return WritePort(sig, memory=self.memory, domain="sync", path=(name,))

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = self.memory
        names = [p.name for p in self.info.ports if p.kind == "write"]
        for i, mem in enumerate(self.copies[1:], 1):
            m.submodules[f"mem{i}"] = mem
            # every copy takes the writes of the first one's ports
            for name, src in zip(names, self.memory.write_ports, strict=True):
                dst = WritePort(src.signature, memory=mem, domain="sync",
                                path=(f"{name}_copy{i}",))
                m.d.comb += [dst.addr.eq(src.addr), dst.data.eq(src.data), dst.en.eq(src.en)]
        return m
