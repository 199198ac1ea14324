"""Combinational arithmetic of the numeric contract in Amaranth, shared by every unit.

Each function here mirrors one function of :mod:`hfaccel.quant.intops` (the golden model);
``tests/test_units.py`` checks them against it over random values and the edge cases.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed

__all__ = ["round_shift", "saturate8", "saturate_code", "requant8", "requant_code",
           "bias_requant8", "gate8", "add8", "tree_levels", "tree_sum", "lanes_of"]


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
    signal ``unsigned``) a uint8 code; the code's 8 bits. For a shift in the contract's range,
    as :func:`requant8`, and built the same way (its docstring): the shifter keeps one bit more,
    the low 9 bits of the floor, which a uint8 result needs."""
    rnd, q9, sticky, above_ok, sign = _log_shift(m, x, sh, keep=9, name=name)
    up = Signal(name=f"{name}_up")
    m.d.comb += up.eq(rnd & (sticky | q9[0]))
    q8 = q9[:8]
    # One saturation for both ranges. The floor is in range when the bits above the kept ones
    # are its sign (``above_ok``, bit 8) and bit 7 is the sign (int8) or, for uint8, the sign is
    # 0 (so a negative input, which rounds to at most 0, saturates to 0). ``q + up`` leaves the
    # range only from its top code (127 or 255). The saturated code: 0x7F/0x80 for int8,
    # 0xFF/0x00 for uint8; its bit 7 is ``sign ^ unsigned``, its low bits ``~sign``.
    fits = Signal(name=f"{name}_fits")
    m.d.comb += fits.eq(above_ok & (q9[8] == sign) & Mux(unsigned, ~sign, q9[7] == sign))
    top = Signal(name=f"{name}_top")
    m.d.comb += top.eq(q8[:7].all() & (q8[7] == unsigned))
    out = Signal(8, name=f"{name}_sat")
    with m.If(~fits | (top & up)):
        m.d.comb += out.eq(Cat((~sign).replicate(7), sign ^ unsigned))
    with m.Else():
        m.d.comb += out.eq(q8 + up)
    return out


def _log_shift(m: Module, x, sh, *, keep: int, name: str):
    """The logarithmic right shifter of :func:`requant8`: ``x`` padded by 16 zeros below, shifted
    right by ``sh + 16``, keeping only the round bit and the low ``keep`` bits of the floor.
    Returns ``(round, low, sticky, above_ok, sign)``: ``sticky`` is any bit dropped below the
    round bit, ``above_ok`` that every bit dropped above the kept ones equals the sign (so the
    floor is the sign-extension of ``low``)."""
    pad = 16  # -AccelConfig.shift_min
    xs = Signal(signed(len(x)), name=f"{name}_x")
    m.d.comb += xs.eq(x)
    p = Signal(6, name=f"{name}_p")  # 0..47
    m.d.comb += p.eq((sh + pad)[:6])
    sign = xs[-1]
    # bit 0: the round bit's source at p = 0 (below the pads: 0), then the pads, then x
    cur = Cat(Const(0, 1 + pad), xs)
    dropped_lo, dropped_hi = [], []  # per stage: any bit dropped below; any dropped above != sign
    for b in range(5, -1, -1):
        amt = 1 << b
        need = keep + amt  # the round bit and the kept bits after the remaining stages (< amt)
        ext = Cat(cur, sign.replicate(max(0, amt + need - len(cur))))  # sign-extended
        nxt = Signal(need, name=f"{name}_s{b}")
        m.d.comb += nxt.eq(Mux(p[b], ext[amt:amt + need], ext[:need]))
        dropped_lo.append(p[b] & ext[:amt].any())
        for taken, keep_from in ((p[b], amt + need), (~p[b], need)):
            if len(cur) > keep_from:
                hi = cur[keep_from:]
                dropped_hi.append(taken & (hi ^ sign.replicate(len(hi))).any())
        cur = nxt
    sticky = Signal(name=f"{name}_sticky")
    above_ok = Signal(name=f"{name}_above_ok")
    m.d.comb += [sticky.eq(Cat(*dropped_lo).any()), above_ok.eq(~Cat(*dropped_hi).any())]
    return cur[0], cur[1:1 + keep], sticky, above_ok, sign


def requant8(m: Module, x, sh, *, name: str = "rq"):
    """``saturate8(round_shift(x, sh))`` to int8: the contract's requantization, for a shift
    in the contract's range ``-16 <= sh <= 31`` (``AccelConfig.shift_min/shift_max``; the
    compiler rejects others).

    Built for area rather than as that composition, which forms the full-width shifted value (a
    barrel shifter of the input's width, a left shift of up to 16 on top, a full-width remainder
    compare: 475 LUTs for a 34-bit input on xc7, bias add aside). Here the input, padded by 16 zeros
    below so that a left shift is a right shift by ``p = sh + 16 >= 0``, goes through a
    logarithmic right shifter (stages of 32, 16, ..., 1) that keeps only the 9 bits the result
    needs: the round bit and the low 8 bits of the floor ``q``. The bits a stage drops below
    are ORed into the sticky bit; the bits it drops above must all equal the sign, else ``q``
    is outside int8 (and so is ``q + up``: the result saturates to the sign's end). The
    rounding is half to even from the round and sticky bits (a left shift drops only zero
    pads: it never rounds), and ``q + up`` overflows only at ``q = 127``, which saturates.
    163 LUTs for a 34-bit input (``docs/fpga.md``).
    """
    rnd, low, sticky, above_ok, sign = _log_shift(m, x, sh, keep=8, name=name)
    q8 = low.as_signed()
    fits = Signal(name=f"{name}_fits")  # the floor q is in int8
    m.d.comb += fits.eq(above_ok & (q8[7] == sign))
    up = Signal(name=f"{name}_up")
    m.d.comb += up.eq(rnd & (sticky | q8[0]))
    out = Signal(signed(8), name=f"{name}_sat")
    with m.If(~fits | ((q8 == 127) & up)):
        m.d.comb += out.eq(Mux(sign, -128, 127))
    with m.Else():
        m.d.comb += out.eq(q8 + up)
    return out


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


def tree_levels(values):
    """The levels of a balanced adder tree, leaves first: level ``k + 1`` adds level ``k``'s
    neighbours in pairs (an odd last one passes through). Node 0 of level ``k`` is the sum of
    the first ``2**k`` values."""
    levels = [list(values)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [cur[i] + cur[i + 1] for i in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def tree_sum(values):
    """Balanced adder tree (shallower logic than a chain)."""
    return tree_levels(values)[-1][0]


def lanes_of(word, n: int):
    """Split a flat word into ``n`` int8 lanes (lane 0 in the low bits)."""
    return [word[i * 8:(i + 1) * 8].as_signed() for i in range(n)]
