"""Combinational arithmetic of the numeric contract in Amaranth, shared by every unit.

Each function here mirrors one function of :mod:`hfaccel.quant.intops` (the golden model);
``tests/test_units.py`` checks them against it over random values and the edge cases.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed

__all__ = ["round_shift", "saturate8", "saturate_code", "requant8", "requant_code",
           "bias_requant8", "gate8", "add8", "tree_sum", "lanes_of"]


def round_shift(m: Module, x, sh, *, name: str = "rs"):
    """``x * 2**-sh`` rounded half to even (a left shift for ``sh < 0``); ``sh`` is signed.

    The result is wide enough for the largest left shift (``-sh <= 16``).
    """
    width = len(x) + 1
    right = Signal(range(32), name=f"{name}_right")
    left = Signal(range(17), name=f"{name}_left")
    m.d.comb += [right.eq(Mux(sh < 0, 0, sh[:5])), left.eq(Mux(sh < 0, (-sh)[:5], 0))]
    xs = Signal(signed(width), name=f"{name}_x")
    m.d.comb += xs.eq(x)
    q = Signal(signed(width), name=f"{name}_q")
    m.d.comb += q.eq(xs >> right)
    # The bits shifted out: right <= 31, so 32 bits hold them. From the input sign-extended to
    # 32 bits: a shift beyond a narrow input's width must still see the sign bits of a negative
    # value (-1 >> 20 rounds to 0, not to the floor -1).
    rw = 32
    mask = Signal(rw, name=f"{name}_mask")
    m.d.comb += mask.eq((Const(1, rw + 1) << right) - 1)
    xw = Signal(signed(rw), name=f"{name}_xw")
    rem = Signal(rw, name=f"{name}_rem")
    half = Signal(rw, name=f"{name}_half")
    m.d.comb += [xw.eq(xs), rem.eq(xw.as_unsigned() & mask), half.eq(mask ^ (mask >> 1))]
    up = Signal(name=f"{name}_up")
    m.d.comb += up.eq((right != 0) & ((rem > half) | ((rem == half) & q[0])))
    out = Signal(signed(width + 17), name=f"{name}_out")
    m.d.comb += out.eq((q + up) << left)
    return out


def saturate8(m: Module, v, *, name: str = "sat"):
    out = Signal(signed(8), name=name)
    m.d.comb += out.eq(Mux(v > 127, 127, Mux(v < -128, -128, v)))
    return out


def saturate_code(m: Module, v, unsigned, *, name: str = "satc"):
    """Saturation to the 8-bit code of an int8 tensor (-128..127) or, where ``unsigned`` (a
    signal), of a uint8 tensor (0..255): the code's 8 bits."""
    out = Signal(8, name=name)
    s8 = Mux(v > 127, 127, Mux(v < -128, -128, v))
    u8 = Mux(v > 255, 255, Mux(v < 0, 0, v))
    m.d.comb += out.eq(Mux(unsigned, u8, s8))
    return out


def requant_code(m: Module, x, sh, unsigned, *, name: str = "rqc"):
    """``requantize(x, sh, unsigned)``: the contract's requantization to an int8 or (where the
    signal ``unsigned``) a uint8 code; the code's 8 bits."""
    return saturate_code(m, round_shift(m, x, sh, name=name), unsigned, name=f"{name}_sat")


def requant8(m: Module, x, sh, *, name: str = "rq"):
    """``saturate(round_shift(x, sh))`` to int8: the contract's requantization."""
    return saturate8(m, round_shift(m, x, sh, name=name), name=f"{name}_sat")


def bias_requant8(m: Module, acc, bias, sh, *, name: str, unsigned=None):
    """A post-processing lane: ``requant8(acc + bias, sh)``, the sum in 34 bits (int32 + int32
    cannot overflow it); with the signal ``unsigned``, :func:`requant_code` (8 bits)."""
    s = Signal(signed(34), name=f"{name}_s")
    m.d.comb += s.eq(acc + bias)
    if unsigned is not None:
        return requant_code(m, s, sh, unsigned, name=f"{name}_rq")
    return requant8(m, s, sh, name=f"{name}_rq")


def gate8(m: Module, x, g, sh, *, name: str):
    """The SE gating multiply (``intops.mul``): ``requant8(x * g, sh)`` of two int8 codes, the
    exact product in 16 bits."""
    prod = Signal(signed(16), name=f"{name}_p")
    m.d.comb += prod.eq(x * g)
    return requant8(m, prod, sh, name=f"{name}_rq")


def add8(m: Module, a, sa, b, sb, sh, *, name: str):
    """The residual add (``intops.add``): ``requant8((a << sa) + (b << sb), sh)`` of two int8
    codes aligned to a common exponent; 24 bits hold alignment shifts up to 14."""
    t = Signal(signed(24), name=f"{name}_t")
    m.d.comb += t.eq((a << sa) + (b << sb))
    return requant8(m, t, sh, name=f"{name}_rq")


def tree_sum(values):
    """Balanced adder tree (shallower logic than a chain)."""
    values = list(values)
    while len(values) > 1:
        nxt = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            nxt.append(values[-1])
        values = nxt
    return values[0]


def lanes_of(word, n: int):
    """Split a flat word into ``n`` int8 lanes (lane 0 in the low bits)."""
    return [word[i * 8:(i + 1) * 8].as_signed() for i in range(n)]
