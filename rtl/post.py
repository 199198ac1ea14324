"""Post-processing of one output word: per lane bias, RNE shift, saturation and table lookup.

Lane ``j`` of a word computes, per the numeric contract (``docs/numerics.md``)::

    q[j] = sat8(round_shift(acc[j] + bias[j], shift[j]))     # bias_requant8 (0..255 if qu)
    a[j] = table[tslot][q[j]] if tbl else q[j]               # the activation table

where ``bias[j]`` is the int32 in bits ``[64 j, 64 j + 32)`` of the parameter word and
``shift[j]`` the int8 in bits ``[64 j + 32, 64 j + 40)``. The GEMM unit post-processes one word
per cycle, the GAP one (bias 0, its shift in every lane, no table), the depthwise write-back
``writeback_words(cfg)`` (:func:`~hfaccel.rtl.dw.writeback_words`). One compute instruction
runs at a time, so the engine's first word is shared (``rtl/top.py``): the GEMM, the GAP and
the write-back's first word drive it through a :func:`post_port`, and the depthwise unit holds
only its other ``writeback_words(cfg) - 1`` words. A word costs about 340 LUTs a lane on
UltraScale+ (its table copies included); sharing saved a word and the GAP's requantization
lanes for a select of a LUT a bit (``docs/fpga.md``, Area work, run 6).

The activation tables (``table_slots`` tables of 256 int8 entries, entry ``slot * 256 + code +
128``) are stateful, in words of ``table_word_bytes`` entries that take a word per cycle from the
DMA (``tables``: the write port's signature, :class:`amaranth.lib.memory.WritePort.Signature`):
a bus beat, at most 16 entries (:func:`table_geometry`), so that a lane's copy is LUT RAM as deep
as its primitives (32 rows) and its read leaves a 16:1 byte select, not a 64:1 one.
Two structures compute the same function (``shared_tables``):

* one copy per lane (the default: FPGAs): a ``tbl_lut`` :class:`~hfaccel.rtl.sram.SRAM` with one
  combinational read port per lane, every copy taking the same writes. No FPGA RAM has a read
  port per lane: one shared table became flip-flops and a 512:1 multiplexer per lane (~2,900
  LUTs a lane on xc7), while a copy of 16-byte words is distributed RAM and a byte select.
* one copy per word (ASICs): a ``tbl_word`` memory with a combinational read port per lane, a
  register file whose storage the lanes share; per lane it costs the read multiplexer only.
  As lane copies built from flip-flops, the tables are half of ``small``'s gate area.

:func:`ref_post_word` is the reference model (``tests/test_units.py`` holds the unit to it).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hfaccel.accel.config import TABLE_WORD_BYTES, AccelConfig
from hfaccel.rtl.arith import bias_requant8
from hfaccel.rtl.sram import SRAM

__all__ = ["PRM_LANE_BITS", "PRM_USED_BITS", "PostWord", "lane_params", "post_port", "post_word",
           "ref_post_word", "table_geometry", "table_port"]

# a lane's field of the parameter word (AccelConfig.prm_lane_bytes, written by accel/compiler.py
# ``_prm_words``): int32 bias, int8 shift, zero bytes; a word reads the low PRM_USED_BITS of each
PRM_LANE_BITS, PRM_USED_BITS = AccelConfig.prm_lane_bytes * 8, 32 + 8


def lane_params(bias, shift):
    """A lane's field of a parameter word: ``bias`` (32 bits), ``shift`` (8 bits), zeros."""
    return Cat(Value.cast(bias)[:32], Value.cast(shift)[:8],
               Const(0, PRM_LANE_BITS - PRM_USED_BITS))


def table_geometry(*, bus_bytes: int, table_slots: int) -> tuple[int, int]:
    """``(word_bytes, rows)`` of a table copy: a bus beat, at most
    :data:`~hfaccel.accel.config.TABLE_WORD_BYTES` entries (the DMA writes a beat's words one
    per cycle), at most the whole tables."""
    word_bytes = min(bus_bytes, TABLE_WORD_BYTES, table_slots * 256)
    return word_bytes, table_slots * 256 // word_bytes


def table_port(cfg) -> WritePort.Signature:
    """The activation tables' write port for an :class:`~hfaccel.accel.config.AccelConfig`:
    a word of ``table_geometry`` per write, every table copy takes the same writes."""
    word_bytes, rows = table_geometry(bus_bytes=cfg.bus_bytes, table_slots=cfg.table_slots)
    return WritePort.Signature(addr_width=ceil_log2(rows), shape=unsigned(word_bytes * 8))


def post_port(lanes: int) -> wiring.Signature:
    """A compute unit's side of a post-processing word that it drives but does not hold (the
    engine's shared word, :class:`PostWord`'s members flipped, without the table writes):
    ``acc``, ``params``, ``tbl``, ``tslot``, ``qu`` out, ``q`` and ``a`` in."""
    return wiring.Signature({"acc": Out(signed(32)).array(lanes),
                             "params": Out(lanes * PRM_LANE_BITS),
                             "tbl": Out(1), "tslot": Out(1), "qu": Out(1),
                             "q": In(lanes * 8), "a": In(lanes * 8)})


def post_word(cfg) -> PostWord:
    """A :class:`PostWord` of an :class:`~hfaccel.accel.config.AccelConfig`: its lanes, tables
    and table structure."""
    return PostWord(lanes=cfg.lanes, table_slots=cfg.table_slots,
                    table_word_bytes=table_geometry(bus_bytes=cfg.bus_bytes,
                                                    table_slots=cfg.table_slots)[0],
                    shared_tables=bool(cfg.shared_tables))


class PostWord(wiring.Component):
    """``lanes`` post-processing lanes with their table copies (see the module docstring).

    Parameters
    ----------
    lanes : int
        Lanes (int8 channels) of a word.
    table_slots : int
        Activation tables (256 entries each).
    table_word_bytes : int
        Entries per table word (the DMA's bus beat); divides ``table_slots * 256``.
    shared_tables : bool
        One table copy read by every lane (``tbl_word``) instead of a copy per lane
        (``tbl_lut``); see the module docstring.

    Members
    -------
    acc : ``In(signed(32)).array(lanes)``
        The accumulators.
    params : ``In(lanes * 64)``
        The parameter word: per lane an int32 bias, an int8 shift and 3 bytes of padding.
    tbl, tslot : ``In(1)``
        Look ``q`` up in table ``tslot`` (``tbl`` = 1) or pass it on.
    qu : ``In(1)``
        ``q`` is a uint8 code: saturate to 0..255 (not -128..127) and index the table by the
        code itself (not code + 128).
    q, a : ``Out(lanes * 8)``
        Lane ``j`` in bits ``[8 j, 8 j + 8)``: the requantized code and the code after the
        table. Combinational from the inputs and the tables' contents.
    tables : ``Out(WritePort.Signature(addr_width=ceil_log2(rows), shape=unsigned(8 *
    table_word_bytes)))``
        Table writes (inputs): where ``en``, word ``addr`` of every copy takes ``data`` at the
        clock edge; a lookup in the same cycle sees the old word.
    """

    def __init__(self, *, lanes: int, table_slots: int, table_word_bytes: int,
                 shared_tables: bool = False):
        for name, v in (("lanes", lanes), ("table_slots", table_slots),
                        ("table_word_bytes", table_word_bytes)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        if table_slots * 256 % table_word_bytes or table_word_bytes & (table_word_bytes - 1):
            raise ValueError(f"table_word_bytes must be a power of two dividing "
                             f"{table_slots * 256}, not {table_word_bytes}")
        if not isinstance(shared_tables, bool):
            raise ValueError(f"shared_tables must be a bool, not {shared_tables!r}")
        self.lanes, self.table_slots, self.word_bytes = lanes, table_slots, table_word_bytes
        self.shared_tables = shared_tables
        self.rows = table_slots * 256 // table_word_bytes
        width = table_word_bytes * 8
        if shared_tables:
            mem = SRAM("tbl_word", width=width, depth=self.rows)
            self.memories = {"tbl_shared": mem}  # not "tbl": the lookup-enable input
            self._rd = [mem.read_port(f"rc{j}", domain="comb") for j in range(lanes)]
            self._wr = [mem.write_port("wr")]
        else:
            self.memories = {f"tbl{j}": SRAM("tbl_lut", width=width, depth=self.rows)
                             for j in range(lanes)}
            self._rd = [mem.read_port("rc", domain="comb") for mem in self.memories.values()]
            self._wr = [mem.write_port("wr") for mem in self.memories.values()]
        super().__init__({
            **post_port(lanes).flip().members,  # acc, params, tbl, tslot, qu in; q, a out
            "tables": Out(WritePort.Signature(addr_width=ceil_log2(self.rows),
                                              shape=unsigned(table_word_bytes * 8))),
        })

    def elaborate(self, platform):
        m = Module()
        sel = ceil_log2(self.word_bytes)  # entry bits within a word
        qs, as_ = [], []
        for name, mem in self.memories.items():
            m.submodules[name] = mem
        for wr in self._wr:
            m.d.comb += [wr.addr.eq(self.tables.addr), wr.data.eq(self.tables.data),
                         wr.en.eq(self.tables.en)]
        for j in range(self.lanes):
            rd = self._rd[j]
            field = self.params.word_select(j, PRM_LANE_BITS)
            bias, sh = field[:32].as_signed(), field[32:PRM_USED_BITS].as_signed()
            q = bias_requant8(m, self.acc[j], bias, sh, name=f"l{j}", unsigned=self.qu)
            idx = Signal(9, name=f"tbl{j}_idx")  # slot * 256 + code (+ 128: flip the sign bit)
            m.d.comb += [idx.eq(Cat(q[:7], q[7] ^ ~self.qu, self.tslot)), rd.addr.eq(idx >> sel)]
            looked = rd.data.word_select(idx[:sel], 8) if sel else rd.data
            a = Signal(8, name=f"a{j}")
            m.d.comb += a.eq(Mux(self.tbl, looked, q))
            qs.append(q)
            as_.append(a)
        m.d.comb += [self.q.eq(Cat(*qs)), self.a.eq(Cat(*as_))]
        return m


def ref_post_word(acc, prm_lanes, tables, tbl: bool, tslot: int, qu: bool = False):
    """The reference: ``(q, a)`` lists of codes for accumulators ``acc`` (ints), per-lane
    ``(bias, shift)`` pairs ``prm_lanes`` and ``tables`` (``table_slots`` lists of 256 codes,
    indexed by ``code + 128``, by ``code`` where ``qu``); int8 codes, uint8 for ``q`` where
    ``qu`` (a table holds whichever its consumer reads)."""
    from hfaccel.quant import intops

    q = [int(intops.requantize(int(x) + int(b), int(s), qu)) for x, (b, s) in zip(acc, prm_lanes)]
    a = [int(tables[tslot][v + (0 if qu else 128)]) if tbl else v for v in q]
    return q, a
