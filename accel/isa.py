"""The accelerator's instruction set: one table of fields, used by the compiler and the RTL.

Every instruction is 64 bytes (512 bits), little-endian, fields packed from bit 0 in the order
listed. The RTL decodes with an Amaranth layout built from the same table
(:func:`amaranth_layout`), the compiler encodes with :func:`encode`; there is no second copy.

Units and synchronisation (the decoupled access/execute scheme of VTA): the fetch unit reads
instructions in order and queues LOAD/STORE for the load unit and GEMM/DW/GAP for the compute unit.
Two semaphores order them: an instruction with ``wait`` first takes one token from the other
unit (load waits on "buffer freed" tokens of compute, compute on "data loaded" tokens of load);
one with ``signal`` gives one token to the other unit when it has finished. ``END`` stops the
engine once both queues have drained.

Signedness (uint8 activations, zero point 0): ``xu`` says the input map holds uint8 codes (the
PE array and the pool sum them zero-extended, as 9-bit signed operands), ``qu`` / ``ou`` that the
result is requantized to uint8 (saturation to 0..255; a table is then indexed by the code
itself, not by code + 128). Gate and residual operands are int8 (the compiler refuses others).

Addresses: ``dram`` and ``stride`` count bus beats, ``buf`` counts beats inside the destination
buffer; activation addresses (``x``, ``out``, ``skip``, ``gaddr``) count activation words of
``lanes`` bytes; ``wgt`` counts weight tiles; ``prm`` parameter words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["FIELDS", "HEADER", "OPCODES", "Instr", "decode", "encode", "amaranth_layout",
           "header_layout", "INSTR_BITS", "BUF_UB", "BUF_WGT", "BUF_PRM", "BUF_TBL", "ERRORS",
           "Status"]

INSTR_BITS = 512
OPCODES = {"NOP": 0, "LOAD": 1, "STORE": 2, "GEMM": 3, "DW": 4, "GAP": 5, "END": 15}
BUF_UB, BUF_WGT, BUF_PRM, BUF_TBL = 0, 1, 2, 3


class Status(IntEnum):
    """Status codes of the engine (the ``status`` port, 8 bits); the RTL raises them by name."""

    OK = 0
    BAD_OPCODE = 1
    BAD_DMA = 2
    BAD_GEMM = 3
    BAD_DW = 4
    BAD_GAP = 5
    WATCHDOG = 6
    UB_COLLISION = 7  # retired: no longer raised
    BUS_ERROR = 8  # the AXI master got an error response (SLVERR or DECERR)


# code -> what it means (the Verilog package's README and error messages print it)
ERRORS = {int(Status.OK): "ok", int(Status.BAD_OPCODE): "bad opcode",
          int(Status.BAD_DMA): "bad DMA descriptor", int(Status.BAD_GEMM): "bad GEMM descriptor",
          int(Status.BAD_DW): "bad DW descriptor", int(Status.BAD_GAP): "bad GAP descriptor",
          int(Status.WATCHDOG): "watchdog: no progress",
          int(Status.UB_COLLISION): "retired (was: UB write collision; the DMA now waits for a "
                                    "free bank)",
          int(Status.BUS_ERROR): "bus error: SLVERR/DECERR response on the AXI master"}

# (name, bits, signed); the header is common to all opcodes.
HEADER = [("op", 4, False), ("wait", 1, False), ("signal", 1, False), ("layer", 16, False)]
FIELDS: dict[str, list[tuple[str, int, bool]]] = {
    "NOP": [],
    "END": [],
    "LOAD": [("dst", 2, False), ("dram", 32, False), ("buf", 24, False), ("rows", 16, False),
             ("row_beats", 16, False), ("stride", 32, False)],
    "STORE": [("dst", 2, False), ("dram", 32, False), ("buf", 24, False), ("rows", 16, False),
              ("row_beats", 16, False), ("stride", 32, False)],
    # out[cot, p] = post(sum_cit W[cot, cit] . g(x[cit, p])), p < npix
    "GEMM": [("x", 24, False), ("xcs", 24, False), ("npix", 16, False), ("cit", 8, False),
             ("cot", 8, False), ("wgt", 16, False), ("prm", 16, False), ("out", 24, False),
             ("ocs", 24, False), ("tbl", 1, False), ("tslot", 1, False), ("gate", 1, False),
             ("gaddr", 24, False), ("gshift", 8, True), ("add", 1, False), ("skip", 24, False),
             ("sa", 5, False), ("sb", 5, False), ("ashift", 8, True), ("scs", 24, False),
             ("xu", 1, False), ("qu", 1, False)],
    # depthwise k x k, stride s, zero padding pad on the left and padt on top (a row band after
    # the first has real input rows above it), over g channel groups
    "DW": [("x", 24, False), ("xcs", 24, False), ("h", 12, False), ("w", 12, False),
           ("ho", 12, False), ("wo", 12, False), ("k", 3, False), ("s", 2, False),
           ("pad", 3, False), ("g", 8, False), ("flat", 1, False), ("wo_log2", 4, False),
           ("wgt", 16, False), ("prm", 16, False), ("out", 24, False), ("ocs", 24, False),
           ("tbl", 1, False), ("tslot", 1, False), ("padt", 3, False), ("xu", 1, False),
           ("qu", 1, False)],
    # out[g] = sat(round_shift(sum_p x[g, p], shift)) over 2**hw_log2 pixels; a map streamed
    # in pieces sums across instructions: acc continues the previous GAP's sums instead of
    # starting from 0, part accumulates only (no shift, no write)
    "GAP": [("x", 24, False), ("xcs", 24, False), ("hw_log2", 5, False), ("g", 8, False),
            ("out", 24, False), ("shift", 8, True), ("acc", 1, False), ("part", 1, False),
            ("xu", 1, False), ("ou", 1, False)],
}


def _offsets(fields) -> list[tuple[str, int, int, bool]]:
    out, pos = [], 0
    for name, bits, signed in fields:
        out.append((name, pos, bits, signed))
        pos += bits
    assert pos <= INSTR_BITS, fields
    return out


OFFSETS = {op: _offsets(HEADER + FIELDS[op]) for op in FIELDS}


@dataclass
class Instr:
    """One instruction; ``fields`` holds the opcode's fields (missing ones are 0)."""

    op: str
    fields: dict

    def __getitem__(self, k):
        return self.fields.get(k, 0)

    def __repr__(self) -> str:
        nz = ", ".join(f"{k}={v}" for k, v in self.fields.items() if v)
        return f"{self.op}({nz})"


def encode(ins: Instr) -> int:
    """The 512-bit instruction word; a field that does not fit raises ValueError naming it."""
    if ins.op not in FIELDS:
        raise ValueError(f"unknown opcode {ins.op!r}")
    known = {n for n, *_ in OFFSETS[ins.op]} - {"op"}
    unknown = set(ins.fields) - known
    if unknown:
        raise ValueError(f"{ins.op}: unknown field(s) {sorted(unknown)}")
    word = OPCODES[ins.op]
    for name, pos, bits, signed in OFFSETS[ins.op][1:]:
        v = int(ins.fields.get(name, 0))
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not lo <= v <= hi:
            raise ValueError(f"{ins.op} field {name}={v} does not fit {bits} "
                             f"{'signed ' if signed else ''}bits")
        word |= (v & ((1 << bits) - 1)) << pos
    return word


def decode(word: int) -> Instr:
    opn = word & 0xF
    op = next((k for k, v in OPCODES.items() if v == opn), None)
    if op is None:
        raise ValueError(f"bad opcode {opn}")
    fields = {}
    for name, pos, bits, signed in OFFSETS[op][1:]:
        v = (word >> pos) & ((1 << bits) - 1)
        if signed and v >> (bits - 1):
            v -= 1 << bits
        fields[name] = v
    return Instr(op, fields)


def _layout(fields):
    from amaranth import signed, unsigned
    from amaranth.lib import data

    members, pos = {}, 0
    for name, p, bits, sgn in fields:
        assert p == pos
        members[name] = signed(bits) if sgn else unsigned(bits)
        pos += bits
    members["_pad"] = unsigned(INSTR_BITS - pos)
    return data.StructLayout(members)


def amaranth_layout(op: str):
    """A :class:`amaranth.lib.data.StructLayout` of the opcode's fields (with padding), the
    whole instruction word: ``INSTR_BITS`` wide."""
    return _layout(OFFSETS[op])


def header_layout():
    """The instruction word as only its common header (:data:`HEADER`: ``op``, ``wait``,
    ``signal``, ``layer``) and padding, ``INSTR_BITS`` wide: what the fetch and dispatch logic
    decode before they know the opcode."""
    return _layout(_offsets(HEADER))
