"""The word rotator of the UB's wide read port: output word ``i`` is input word
``(i + amount) mod words``, built as ``log2(words)`` stages of 2:1 multiplexers (a stage per bit
of ``amount``), not as a ``words:1`` multiplexer per output word, which is about
``words / (2 log2 words)`` times the LUTs.

It is a module of its own so that synthesis maps it alone: Yosys' ABC maps the stages to three
LUTs per output bit (two radix-4 stages in LUT6s and a radix-2 one for 32 words), but to four
when the same multiplexers sit inside the UB's module with its write crossbars (docs/fpga.md,
"UB crossbars"). :func:`ref_rotate` is the reference model.
"""

from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["Rotator", "ref_rotate"]


def ref_rotate(words: list[int], amount: int) -> list[int]:
    """The reference: ``out[i] = words[(i + amount) % len(words)]``."""
    return words[amount:] + words[:amount]


class Rotator(wiring.Component):
    """Rotates ``words`` words of ``width`` bits left by ``amount`` words (combinational).

    Parameters
    ----------
    words : int
        Words (a power of two, at least 2).
    width : int
        Bits of a word.

    Members
    -------
    i : ``In(width).array(words)``
        The words, in bank order.
    amount : ``In(range(words))``
        The rotation: ``o[k]`` is ``i[(k + amount) mod words]``.
    o : ``Out(width).array(words)``
        The rotated words.
    """

    def __init__(self, *, words: int, width: int):
        if not isinstance(words, int) or words < 2 or words & (words - 1):
            raise ValueError(f"words must be a power of two >= 2, not {words!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        self.words, self.width = words, width
        super().__init__({"i": In(width).array(words), "amount": In(range(words)),
                          "o": Out(width).array(words)})

    def elaborate(self, platform):
        m = Module()
        n = self.words
        stage = list(self.i)
        for s in range(ceil_log2(n)):
            amt = 1 << s
            stage = [Mux(self.amount[s], stage[(k + amt) % n], stage[k]) for k in range(n)]
        for k in range(n):
            m.d.comb += self.o[k].eq(stage[k])
        return m
