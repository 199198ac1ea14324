"""The control/status register map of the AXI integration: one description, four views.

:data:`REGISTERS` is the only place where an offset, a field position, an access type or a reset
value is written down. Everything else is generated from it:

* the AXI4-Lite slave's decode in RTL (:class:`hfaccel.rtl.axil.AxilRegs` builds its ports and
  its read/write logic from the fields),
* the C header of the bare-metal driver (:func:`c_header`),
* the Python runtime's view (:func:`offset`, :func:`field`, :func:`pack`, :func:`unpack`),
* the Markdown table of the Verilog package README and the docs (:func:`markdown_table`).

Registers are 32 bits wide at word-aligned byte offsets. Field access types:

``rw``
    read/write, stored in the register file (``reset`` after reset);
``ro``
    read-only, the value the hardware presents (a write is ignored);
``w1s``
    write-1 pulse: writing 1 raises a one-cycle pulse to the hardware; reads as 0;
``w1c``
    sticky status: the hardware sets a bit with a pulse, writing 1 clears it (write 0: no
    change); reads the bit.

:func:`config_hash` is the hardware configuration's identity (the ``cfg_hash`` register): a
runtime refuses a program compiled for a configuration with another hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hfaccel.accel.config import AccelConfig
from hfaccel.accel.isa import ERRORS, Status

__all__ = ["ACCESS", "Field", "MAGIC", "PERF_RECORD", "PERF_RECORD_BYTES", "REGISTERS",
           "Register", "c_header", "config_hash", "field", "markdown_table", "offset", "pack",
           "perf_records", "perf_stride", "register", "unpack"]

ACCESS = ("rw", "ro", "w1s", "w1c")
# A perf record (one per compute instruction, written by the shell to base + perf_addr beats):
# little-endian 32-bit words in this order, zero-padded to PERF_RECORD_BYTES; consecutive
# records are perf_stride(bus_bytes) bytes apart (a wide bus pads a record to its beat). The
# words are the engine's perf port: its hardware op (layer), the cycle since start its
# instruction ended, the cycles compute waited for loads, was busy, and the PE array computed.
PERF_RECORD = ("layer", "end", "wait", "busy", "mac")
PERF_RECORD_BYTES = 32
MAGIC = 0x48464143  # "HFAC": the id register, so that a driver knows it found the engine


@dataclass(frozen=True)
class Field:
    """Bits ``[lsb, lsb + bits)`` of a register."""

    name: str
    lsb: int
    bits: int
    access: str
    doc: str
    reset: int = 0

    def __post_init__(self):
        if self.access not in ACCESS:
            raise ValueError(f"field {self.name}: access {self.access!r} not in {ACCESS}")
        if not (0 <= self.lsb and self.bits >= 1 and self.lsb + self.bits <= 32):
            raise ValueError(f"field {self.name}: bits [{self.lsb}, {self.lsb + self.bits}) "
                             "do not fit 32")
        if not 0 <= self.reset < (1 << self.bits):
            raise ValueError(f"field {self.name}: reset {self.reset} does not fit {self.bits} "
                             "bits")

    @property
    def mask(self) -> int:
        return ((1 << self.bits) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    """A 32-bit register at byte ``offset`` with its fields."""

    name: str
    offset: int
    doc: str
    fields: tuple[Field, ...]

    def __post_init__(self):
        if self.offset % 4 or not 0 <= self.offset < 4096:
            raise ValueError(f"register {self.name}: offset {self.offset:#x} is not a word "
                             "offset below 4 KiB")
        used = 0
        for f in self.fields:
            if used & f.mask:
                raise ValueError(f"register {self.name}: field {f.name} overlaps another")
            used |= f.mask

    @property
    def access(self) -> str:
        """``rw`` / ``ro`` / ``w1s`` / ``w1c`` when every field has it, else ``mixed``."""
        kinds = {f.access for f in self.fields}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def reset(self) -> int:
        return sum(f.reset << f.lsb for f in self.fields)


def _word(name: str, offset: int, access: str, doc: str, reset: int = 0) -> Register:
    """A register that is one 32-bit field of its own name."""
    return Register(name, offset, doc, (Field(name, 0, 32, access, doc, reset),))


_STATUS_CODES = "; ".join(f"{k} {v}" for k, v in ERRORS.items())

REGISTERS: tuple[Register, ...] = (
    _word("id", 0x00, "ro", f"constant {MAGIC:#010x} ('HFAC'): the engine is there"),
    _word("cfg_hash", 0x04, "ro", "hash of the hardware configuration (config_hash): a runtime "
                                  "refuses a program compiled for another one"),
    Register("control", 0x08, "control", (
        Field("start", 0, 1, "w1s", "write 1: run the program at base + prog * bus_bytes; "
                                    "ignored (status.rejected) while busy"),
        Field("soft_reset", 1, 1, "w1s", "write 1: reset the engine (not the register file, "
                                         "not the AXI master's outstanding transactions)"),
        Field("irq_enable", 2, 1, "rw", "drive `irq` while irq_status.done is set"),
    )),
    Register("status", 0x0C, "status", (
        Field("busy", 0, 1, "ro", "the engine runs or the AXI master has transactions in "
                                  "flight"),
        Field("done", 1, 1, "ro", "the program has finished (every write answered) or stopped "
                                  "on an error; until the next start"),
        Field("rejected", 2, 1, "ro", "the last write of control.start came while busy and "
                                      "was ignored; cleared by an accepted start"),
        Field("error", 8, 8, "ro", f"0 or the code that stopped the engine: {_STATUS_CODES}"),
    )),
    Register("irq_status", 0x10, "interrupt status (write 1 to clear)", (
        Field("done", 0, 1, "w1c", "set when status.done rises; irq = done & irq_enable"),
    )),
    Register("bus_error", 0x14, "the first error response of the AXI master (since start)", (
        Field("resp", 0, 2, "ro", "its RRESP/BRESP (2 SLVERR, 3 DECERR)"),
        Field("write", 2, 1, "ro", "it was a write response (B), else a read (R)"),
    )),
    _word("base_lo", 0x18, "rw", "program image base, byte address bits 31:0 (aligned to "
                                 "bus_bytes): every address of the program is relative to it"),
    _word("base_hi", 0x1C, "rw", "program image base, bits 63:32"),
    _word("prog", 0x20, "rw", "beat offset of the first instruction from base (the compiler "
                              "puts it at 0)"),
    _word("perf_addr", 0x24, "rw", "beat offset from base of the per-instruction perf "
                                   "records (PERF_RECORD_BYTES each, at most perf_cap); 0: "
                                   "no records"),
    _word("perf_cap", 0x28, "rw", "records the area at perf_addr holds: later ones are not "
                                  "written"),
    _word("cycles", 0x40, "ro", "cycles since start while running"),
    _word("cmp_busy", 0x44, "ro", "cycles the compute unit was busy"),
    _word("cmp_wait", 0x48, "ro", "cycles the compute unit waited for loads"),
    _word("ld_busy", 0x4C, "ro", "cycles the load/store unit was busy"),
    _word("mac_cycles", 0x50, "ro", "cycles the PE array computed"),
    _word("instrs", 0x54, "ro", "compute instructions finished"),
    _word("perf_count", 0x58, "ro", "perf records written since start (each answered by the "
                                    "memory before status.done)"),
)


def _check(regs) -> None:
    seen: dict[int, str] = {}
    names = set()
    for r in regs:
        if r.offset in seen:
            raise ValueError(f"registers {seen[r.offset]} and {r.name} share offset "
                             f"{r.offset:#x}")
        if r.name in names:
            raise ValueError(f"register name {r.name} twice")
        seen[r.offset] = r.name
        names.add(r.name)


_check(REGISTERS)
_BY_NAME = {r.name: r for r in REGISTERS}


def register(name: str) -> Register:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no register {name!r}; registers: {', '.join(_BY_NAME)}") from None


def offset(name: str) -> int:
    """Byte offset of register ``name``."""
    return register(name).offset


def field(reg: str, name: str) -> Field:
    for f in register(reg).fields:
        if f.name == name:
            return f
    raise KeyError(f"register {reg} has no field {name!r}")


def unpack(reg: str, value: int) -> dict[str, int]:
    """The fields of a value read from ``reg``."""
    return {f.name: (value >> f.lsb) & ((1 << f.bits) - 1) for f in register(reg).fields}


def pack(reg: str, **fields: int) -> int:
    """The value to write to ``reg`` with the given fields (others 0)."""
    v = 0
    for k, x in fields.items():
        f = field(reg, k)
        if not 0 <= x < (1 << f.bits):
            raise ValueError(f"{reg}.{k}={x} does not fit {f.bits} bits")
        v |= x << f.lsb
    return v


def perf_stride(bus_bytes: int) -> int:
    """Bytes from one perf record to the next on a ``bus_bytes`` bus (whole beats)."""
    return max(PERF_RECORD_BYTES, bus_bytes)


def perf_records(raw: bytes, bus_bytes: int) -> list[dict[str, int]]:
    """The perf records in ``raw`` (read from ``base + perf_addr * bus_bytes``)."""
    st = perf_stride(bus_bytes)
    if len(raw) % st:
        raise ValueError(f"{len(raw)} bytes of perf records is not a multiple of the "
                         f"{st}-byte stride")
    n = len(PERF_RECORD)
    return [dict(zip(PERF_RECORD, (int.from_bytes(raw[i + 4 * k:i + 4 * k + 4], "little")
                                   for k in range(n)), strict=True))
            for i in range(0, len(raw), st)]


def config_hash(cfg: AccelConfig) -> int:
    """32-bit identity of a hardware configuration (of every field, the name excluded: two
    names for one hardware are the same hardware)."""
    d = cfg.as_dict()
    d.pop("name")
    return int.from_bytes(hashlib.sha256(repr(sorted(d.items())).encode()).digest()[:4],
                          "little")


# ------------------------------------------------------------------------------ generated views
def c_header(cfg: AccelConfig | None = None) -> str:
    """The C header of the register map (offsets, field shifts and masks; with ``cfg``, its
    hash and bus width)."""
    o = ["/* hfaccel register map: generated by hfaccel.accel.regs; do not edit. */",
         "#ifndef HFACCEL_REGS_H", "#define HFACCEL_REGS_H", "", "#include <stdint.h>", "",
         f"#define HFACCEL_MAGIC 0x{MAGIC:08x}u"]
    if cfg is not None:
        o += [f"#define HFACCEL_CFG_HASH 0x{config_hash(cfg):08x}u  /* '{cfg.name}' */",
              f"#define HFACCEL_BUS_BYTES {cfg.bus_bytes}u",
              f"#define HFACCEL_PERF_STRIDE {perf_stride(cfg.bus_bytes)}u  /* bytes a record"
              " */"]
    o.append(f"#define HFACCEL_PERF_RECORD_BYTES {PERF_RECORD_BYTES}u")
    for i, w in enumerate(PERF_RECORD):
        o.append(f"#define HFACCEL_PERF_{w.upper()} {i}u  /* 32-bit word of a perf record */")
    for st in Status:
        o.append(f"#define HFACCEL_ERR_{st.name} {int(st)}u  /* {ERRORS[int(st)]} */")
    o.append("")
    for r in REGISTERS:
        R = f"HFACCEL_REG_{r.name.upper()}"
        o.append(f"#define {R} 0x{r.offset:03x}u  /* {r.doc} */")
        if len(r.fields) > 1 or r.fields[0].name != r.name:
            for f in r.fields:
                F = f"{R}_{f.name.upper()}"
                o += [f"#define {F}_SHIFT {f.lsb}u",
                      f"#define {F}_MASK 0x{f.mask:08x}u  /* {f.access}: {f.doc} */"]
    o += ["", "#endif /* HFACCEL_REGS_H */", ""]
    return "\n".join(o)


def markdown_table() -> str:
    """The register map as a Markdown table (the Verilog package README and docs)."""
    o = ["| offset | register | field | bits | access | reset | meaning |",
         "| --: | --- | --- | --- | --- | --: | --- |"]
    for r in REGISTERS:
        for i, f in enumerate(r.fields):
            bits = f"{f.lsb + f.bits - 1}:{f.lsb}" if f.bits > 1 else f"{f.lsb}"
            name = f"`{f.name}`" if f.name != r.name else ""
            o.append(f"| {f'0x{r.offset:02x}' if i == 0 else ''} | "
                     f"{f'`{r.name}`' if i == 0 else ''} | {name} | {bits} | {f.access} | "
                     f"{f.reset:#x} | {f.doc} |")
    return "\n".join(o) + "\n"
