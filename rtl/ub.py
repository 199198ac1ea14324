"""The unified buffer (UB): the activation memory in banks, with its read and write crossbars.

Word ``a`` (``word_bits`` wide: ``lanes`` int8 channels of one pixel) lies in bank
``a mod banks`` at row ``a div banks``; every bank is a ``ub_bank``
:class:`~hfaccel.rtl.sram.SRAM` with two synchronous read ports and one write port. Addresses
wrap modulo the buffer's ``banks * depth`` words.

* Port A (``rd_a``, wide): the ``banks`` consecutive words from any address, one cycle after
  the address (the depthwise window, the GAP sums, the GEMM's input word 0).
* Port B (``rd_b``, narrow): one word, one cycle later (the GEMM's gates and residual inputs,
  the DMA's stores).
* Compute writes (``wr_c``): up to ``write_words`` consecutive words a cycle, always taken.
* DMA writes (``wr_d``): a beat of ``beat_words`` words at word ``beat * beat_words``; taken
  (``ready``) in a cycle in which the compute write uses none of its banks, so that compute
  never stalls and both write in one cycle when their banks differ.

A read of a word being written in the same cycle returns the old word. :class:`RefUnifiedBuffer`
is the cycle-level reference model (``tests/test_units.py`` holds the unit to it).
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hfaccel.rtl.ports import ReadRequest, WriteRequest
from hfaccel.rtl.rotator import Rotator
from hfaccel.rtl.sram import SRAM

__all__ = ["RefUnifiedBuffer", "UnifiedBuffer", "beat_layout", "ub_addr_width"]


def ub_addr_width(cfg) -> int:
    """Bits of a UB word address for an :class:`~hfaccel.accel.config.AccelConfig`."""
    return max(1, ceil_log2(cfg.ub_words))


def beat_layout(*, beat_addr_width: int, beat_bits: int) -> data.StructLayout:
    """A DMA beat for the UB: its beat address and its words (word 0 in the low bits)."""
    return data.StructLayout({"beat": unsigned(beat_addr_width), "data": unsigned(beat_bits)})


class UnifiedBuffer(wiring.Component):
    """The banked activation buffer and its crossbars (see the module docstring).

    Parameters
    ----------
    banks : int
        Banks (a power of two).
    depth : int
        Words per bank (a power of two).
    word_bits : int
        Bits of a word.
    write_words : int
        Words of a compute write (at most ``banks``).
    beat_words : int
        Words of a DMA beat (at most ``banks``, a power of two).
    ram_styles : tuple of two str, optional
        Where an FPGA tool should build each bank's copy for port A and for port B
        (:class:`~hfaccel.rtl.sram.SRAM` ``styles``, e.g. ``("ultra", "block")``); without it,
        the tool's choice.

    Members
    -------
    rd_a : ``In(ReadRequest(addr_width, word_bits, words=banks, enable=False))``
        Wide read: ``data[i]`` is word ``addr + i`` of the previous cycle's ``addr``.
    rd_b : ``In(ReadRequest(addr_width, word_bits, enable=False))``
        Narrow read.
    wr_c : ``In(WriteRequest(addr_width, word_bits, write_words))``
        Compute writes.
    wr_d : ``In(stream.Signature(beat_layout(...)))``
        DMA beats; ``ready`` (combinational from ``wr_c`` and the beat's address) when no bank
        of the beat is written by ``wr_c`` this cycle.
    active : ``Out(1)``
        Something is written this cycle (the watchdog's notion of progress).
    """

    def __init__(self, *, banks: int, depth: int, word_bits: int, write_words: int,
                 beat_words: int, ram_styles: tuple[str, str] | None = None):
        if ram_styles is not None and len(ram_styles) != 2:
            raise ValueError(f"ram_styles must be two styles (port A's copy, port B's), not "
                             f"{ram_styles!r}")
        for name, v in (("banks", banks), ("depth", depth), ("beat_words", beat_words)):
            if not isinstance(v, int) or v < 1 or v & (v - 1):
                raise ValueError(f"{name} must be a power of two, not {v!r}")
        if not isinstance(word_bits, int) or word_bits < 1:
            raise ValueError(f"word_bits must be a positive integer, not {word_bits!r}")
        for name, v in (("write_words", write_words), ("beat_words", beat_words)):
            if not isinstance(v, int) or not 1 <= v <= banks:
                raise ValueError(f"{name} must be 1 .. banks ({banks}), not {v!r}")
        self.banks, self.depth, self.word_bits = banks, depth, word_bits
        self.write_words, self.beat_words = write_words, beat_words
        self.words = banks * depth
        self.addr_width = max(1, ceil_log2(self.words))
        self.beat_addr_width = max(1, ceil_log2(self.words // beat_words))
        self.memories = {f"bank{b}": SRAM("ub_bank", width=word_bits, depth=depth,
                                          styles=ram_styles)
                         for b in range(banks)}
        A = self.addr_width
        super().__init__({
            "rd_a": In(ReadRequest(addr_width=A, data_width=word_bits, words=banks,
                                   enable=False)),
            "rd_b": In(ReadRequest(addr_width=A, data_width=word_bits, enable=False)),
            "wr_c": In(WriteRequest(addr_width=A, word_bits=word_bits, words=write_words)),
            "wr_d": In(stream.Signature(beat_layout(beat_addr_width=self.beat_addr_width,
                                                    beat_bits=beat_words * word_bits))),
            "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        NB, W = self.banks, self.word_bits
        nb_log2 = ceil_log2(NB)
        rd_a, rd_b, wr = [], [], []
        for b in range(NB):
            mem = self.memories[f"bank{b}"]
            m.submodules[f"bank{b}"] = mem
            rd_a.append(mem.read_port("rd_a"))
            rd_b.append(mem.read_port("rd_b"))
            wr.append(mem.write_port("wr"))

        def split(addr):
            """(bank of the first word, row) of a word address."""
            return (addr[:nb_log2] if nb_log2 else Const(0, 1)), addr[nb_log2:]

        # port A: bank b serves word (b - lo) mod NB: the row after hi for the banks before lo
        # (the last bank never wraps: no constant comparison for it)
        lo, hi = split(self.rd_a.addr)
        for b in range(NB):
            m.d.comb += rd_a[b].addr.eq(hi + (b < lo) if b < NB - 1 else hi)
        lo_a = Signal(max(1, nb_log2))  # the address's bank, one cycle later with the data
        m.d.sync += lo_a.eq(lo)
        # word i comes from bank (lo + i) mod NB: the rotator (rtl/rotator.py, a module of its
        # own for synthesis)
        if NB > 1:
            m.submodules.rotator = rot = Rotator(words=NB, width=W)
            m.d.comb += rot.amount.eq(lo_a)
            for b in range(NB):
                m.d.comb += [rot.i[b].eq(rd_a[b].data), self.rd_a.data[b].eq(rot.o[b])]
        else:
            m.d.comb += self.rd_a.data[0].eq(rd_a[0].data)
        # port B
        for b in range(NB):
            m.d.comb += rd_b[b].addr.eq(self.rd_b.addr[nb_log2:])
        lo_b = Signal(max(1, nb_log2))
        m.d.sync += lo_b.eq(self.rd_b.addr[:nb_log2] if nb_log2 else 0)
        m.d.comb += self.rd_b.data.eq(Array(p.data for p in rd_b)[lo_b] if NB > 1
                                      else rd_b[0].data)

        # writes: each request spread over the banks from its first word's bank. Bank b takes
        # word i = (b - lo) mod NB of a request when i < n; where i >= n it writes nothing, so
        # its data need only i's low bits, which depend on b only through b mod 2**sel_bits:
        # one write_words:1 multiplexer per residue, shared by its banks (one per bank cost a
        # LUT per bank bit more: docs/fpga.md), not an NB:1 one with zeros. A DMA beat, whose
        # first word's bank is a multiple of its words, gives bank b its word b mod beat_words:
        # no multiplexer at all
        def spread(addr, n, tag):
            """Per bank: (row, index of its word in the request, enable) of ``n`` words from
            ``addr``."""
            lo, hi = split(addr)
            out = []
            for b in range(NB):
                i = Signal(range(NB), name=f"{tag}_idx{b}")
                m.d.comb += i.eq((b - lo)[:nb_log2] if NB > 1 else 0)
                en = Signal(name=f"{tag}_en{b}")
                m.d.comb += en.eq(i < n)
                out.append((hi + (b < lo) if b < NB - 1 else hi, i, en))
            return out

        sel_bits = ceil_log2(self.write_words)
        c_words = Array(list(self.wr_c.data)
                        + [Const(0, W)] * ((1 << sel_bits) - self.write_words))
        c_slot = [self.wr_c.data[0]]  # the word of the banks b with b mod 2**sel_bits == t
        if sel_bits:
            lo_c = self.wr_c.addr[:sel_bits]
            c_slot = [Signal(W, name=f"cwr_slot{t}") for t in range(1 << sel_bits)]
            for t, word in enumerate(c_slot):
                m.d.comb += word.eq(c_words[(t - lo_c)[:sel_bits]])
        c_banks = [(row, c_slot[b % len(c_slot)], en)
                   for b, (row, _, en) in enumerate(spread(self.wr_c.addr, self.wr_c.n, "cwr"))]
        R = self.beat_words
        beat = self.wr_d.payload
        d_addr = Signal(self.addr_width)
        m.d.comb += d_addr.eq(beat.beat * R)
        d_banks = [(row, beat.data.word_select(b % R, W), en) for b, (row, _, en)
                   in enumerate(spread(d_addr, Mux(self.wr_d.valid, R, 0), "dwr"))]
        clash = Signal()  # the DMA's beat shares a bank with the compute write
        m.d.comb += clash.eq(Cat(*[ce & de for (_, _, ce), (_, _, de)
                                   in zip(c_banks, d_banks)]).any())
        d_take = Signal()
        m.d.comb += [self.wr_d.ready.eq(~clash), d_take.eq(self.wr_d.valid & self.wr_d.ready)]
        for b in range(NB):
            (ca, cd, ce), (da, dd, de) = c_banks[b], d_banks[b]
            m.d.comb += [wr[b].addr.eq(Mux(ce, ca, da)), wr[b].data.eq(Mux(ce, cd, dd)),
                         wr[b].en.eq(ce | (de & d_take))]
        m.d.comb += self.active.eq((self.wr_c.n != 0) | d_take)
        return m


class RefUnifiedBuffer:
    """Cycle-level reference model of :class:`UnifiedBuffer` (same parameters).

    Call :meth:`cycle` once per clock with the cycle's inputs; it returns what the unit's
    outputs show in that cycle (``rd_a``/``rd_b`` data of the previous cycle's addresses,
    ``ready``) and then applies the cycle's writes.
    """

    def __init__(self, *, banks: int, depth: int, word_bits: int, write_words: int,
                 beat_words: int):
        self.banks, self.depth, self.words = banks, depth, banks * depth
        self.word_bits, self.write_words, self.beat_words = word_bits, write_words, beat_words
        self.mem = [0] * self.words
        self._a = [0] * banks  # the words port A shows (read at the last edge)
        self._b = 0

    def cycle(self, *, rd_a: int, rd_b: int, wr_c: tuple[int, list[int]] | None,
              wr_d: tuple[int, list[int]] | None) -> dict:
        """``wr_c``: (address, words) of the compute write or None; ``wr_d``: (beat, words) of
        a valid DMA beat or None. Returns ``{"rd_a": [...], "rd_b": w, "ready": bool}``."""
        W = self.words
        c_banks = set()
        if wr_c is not None:
            addr, words = wr_c
            c_banks = {(addr + i) % self.banks for i in range(len(words))}
        ready = True
        if wr_d is not None:
            beat, words = wr_d
            d_banks = {(beat * self.beat_words + i) % self.banks for i in range(len(words))}
            ready = not (c_banks & d_banks)
        out = {"rd_a": list(self._a), "rd_b": self._b, "ready": ready}
        # reads at this edge see the memory before this cycle's writes
        self._a = [self.mem[(rd_a + i) % W] for i in range(self.banks)]
        self._b = self.mem[rd_b % W]
        if wr_c is not None:
            for i, w in enumerate(wr_c[1]):
                self.mem[(wr_c[0] + i) % W] = w
        if wr_d is not None and ready:
            for i, w in enumerate(wr_d[1]):
                self.mem[(wr_d[0] * self.beat_words + i) % W] = w
        return out
