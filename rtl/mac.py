"""Two neighbouring PEs of a row as one cell shaped like a pair of FPGA DSP slices: operand
selects, products, accumulator registers, and the pair's sum through the slices' cascade.

PE 0 and PE 1 of the pair (columns ``2i`` and ``2i + 1``) each multiply an activation ``a``
(9-bit signed: an int8 value or a uint8 code) by a weight-side operand, the pre-adder's
``wt = (a_en ? w : 0) + (d_en ? t : 0)`` of the GEMM weight ``w`` and the depthwise tap ``t``
(int8; the PE array never enables both). At every clock edge (``m1`` is PE 1's product
register, so PE 1 runs a cycle behind PE 0)::

    if ce0: p0 <= (acc0 ? p0 : 0) + a0 * wt0
            m1 <= a1 * wt1
    if ce1: p1 <= (cas1 ? p0 : acc1 ? p1 : 0) + m1                     (modulo 2**width)

With ``cas1`` (GEMM) ``p1`` is the pair's sum of two products of the same cycle, ``p0`` alone
one of them: the first level of a GEMM row's adder tree is in the slices, and the fabric's tree
adds ``lanes / 2`` pair sums. With ``acc0``/``acc1`` (depthwise) each register is a running
sum; PE 1's control inputs are PE 0's of the cycle before (the PE array delays them), so its
sum is complete a cycle after PE 0's.

Every pair is one ``hfaccel_mac_pair`` module in the Verilog package
(:mod:`hfaccel.rtl.verilog`), so that a flow can map it to its DSP slices as a whole. Yosys
packs the multiplies and accumulators into DSP48E1s on 7 series (the pre-adder and the pair's
adder stay in LUTs there: 26 a PE, measured on `small`), but on UltraScale+ only the multiply
goes into a DSP48E2: the operand select, the accumulator (an adder and a register a bit) and
the pair's adder stay in the fabric. The UltraScale flows therefore replace the module by
:func:`dsp48e2_verilog`, two DSP48E2s instantiated with the selects in their control inputs:

* ``w`` on port A, ``t`` on port D, the pre-adder (``AMULTSEL = "AD"``) enabling each
  (``INMODE[2]`` enables D, ``INMODE[1]`` gates A: ``a_en`` inverted by the slice's own
  ``IS_INMODE_INVERTED``), ``a`` on port B;
* slice 0: ``OPMODE`` X and Y the product, Z ``P`` where ``acc0`` (else 0); P register only
  (``PREG = 1``);
* slice 1: the M register too (``MREG = 1``: ``m1``), Z ``PCIN`` (slice 0's ``PCOUT``, the
  dedicated cascade) where ``cas1``, ``P`` where ``acc1``, else 0.

The control inputs are shared by a whole row (``a_en``, ``d_en``) or the whole array (the
rest), so a PE costs only its activation select in LUTs. The registers have no reset: every
sum starts with ``acc`` low.

:func:`ref_mac_pair` is the reference model; ``tests/test_mac.py`` holds the Amaranth module
to it and the DSP48E2 wrapper to the Amaranth module (a model of the primitive's data path as
its user guide UG579 documents it; not Xilinx's simulation library, which is not free to
ship).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MAC_MODULE", "MacPair", "check_width", "dsp48e2_verilog", "ref_mac_pair"]

MAC_MODULE = "hfaccel_mac_pair"  # its module name in the Verilog package
A_BITS, W_BITS = 9, 8  # activation side, weight side
PAIR_BITS = A_BITS + W_BITS + 1  # a pair's sum of two products
DSP_P_BITS = 48  # DSP48E2 accumulator
CONTROL = ("ce0", "acc0", "ce1", "acc1", "cas1", "a_en", "d_en")
DATA = ("a0", "a1", "w", "t")


def check_width(width) -> int:
    """``width`` if it is a valid accumulator width (a pair's sum fits, the DSP's P holds
    it)."""
    if not isinstance(width, int) or not PAIR_BITS <= width <= DSP_P_BITS:
        raise ValueError(f"width must be an integer in {PAIR_BITS}..{DSP_P_BITS}, "
                         f"not {width!r}")
    return width


class MacPair(wiring.Component):
    """Two PEs' multiply-accumulate (see the module docstring).

    Parameters
    ----------
    width : int
        Bits of the accumulators ``p0``, ``p1`` (>= 18: a pair's sum fits). Sums wrap modulo
        ``2**width``; the depthwise unit sizes it so that none does.

    Members
    -------
    ce0, acc0 : ``In(1)``
        PE 0: update ``p0`` (and PE 1's product register) at this edge; add to ``p0`` (else
        start from 0).
    ce1, acc1, cas1 : ``In(1)``
        PE 1: update ``p1``; add to ``p1``; add to ``p0`` (the cascade; never with ``acc1``).
    a_en, d_en : ``In(1)``
        The pre-adder's operands: ``w`` and ``t`` (neither: the products are 0).
    a0, a1 : ``In(signed(9))``
        The activations.
    w, t : ``In(16)``
        The weight-side operands, PE 0's int8 in the low byte (one port each: two lanes of
        one word, which Amaranth would make one unnamed port anyway).
    p0, p1 : ``Out(signed(width))``
        The accumulator registers.
    """

    def __init__(self, *, width: int):
        self.width = check_width(width)
        super().__init__({
            **{n: In(1) for n in CONTROL},
            "a0": In(signed(A_BITS)), "a1": In(signed(A_BITS)),
            "w": In(2 * W_BITS), "t": In(2 * W_BITS),
            "p0": Out(signed(width)), "p1": Out(signed(width)),
        })

    def elaborate(self, platform):
        m = Module()
        # no reset: a DSP slice's registers are not reset here either (RST* tied low)
        p0, p1 = (Signal(signed(self.width), name=n, reset_less=True) for n in ("p0r", "p1r"))
        m1 = Signal(signed(A_BITS + W_BITS + 1), reset_less=True)
        prods = []
        for i, a in enumerate((self.a0, self.a1)):
            w, t = (v.word_select(i, W_BITS).as_signed() for v in (self.w, self.t))
            wt = Signal(signed(W_BITS + 1), name=f"wt{i}")
            m.d.comb += wt.eq(Mux(self.a_en, w, 0) + Mux(self.d_en, t, 0))
            prod = Signal(signed(A_BITS + W_BITS + 1), name=f"prod{i}")
            m.d.comb += prod.eq(a * wt)
            prods.append(prod)
        with m.If(self.ce0):
            m.d.sync += [p0.eq(Mux(self.acc0, p0, 0) + prods[0]), m1.eq(prods[1])]
        with m.If(self.ce1):
            m.d.sync += p1.eq(Mux(self.cas1, p0, Mux(self.acc1, p1, 0)) + m1)
        m.d.comb += [self.p0.eq(p0), self.p1.eq(p1)]
        return m


def _wrap(v: int, width: int) -> int:
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


def ref_mac_pair(state: tuple[int, int, int], *, width: int, **x: int) -> tuple[int, int, int]:
    """The reference: ``(p0, p1, m1)`` after a clock edge, from ``state`` before it and the
    inputs ``x`` (every name of :data:`CONTROL` and :data:`DATA`; ``w`` and ``t`` as pairs of
    ints, PE 0's first)."""
    p0, p1, m1 = state
    wt = [(x["w"][i] if x["a_en"] else 0) + (x["t"][i] if x["d_en"] else 0) for i in (0, 1)]
    n0, n1, nm1 = p0, p1, m1
    if x["ce0"]:
        n0 = _wrap((p0 if x["acc0"] else 0) + x["a0"] * wt[0], width)
        nm1 = x["a1"] * wt[1]
    if x["ce1"]:
        n1 = _wrap((p0 if x["cas1"] else p1 if x["acc1"] else 0) + m1, width)
    return n0, n1, nm1


def _dsp(name: str, *, lane: int, opmode: str, pcin: str, pcout: str, p: str) -> str:
    """PE ``lane``'s slice (1: the M register, the cascade input)."""
    lo, hi = lane * W_BITS, (lane + 1) * W_BITS - 1
    a, ce, mreg = f"a{lane}", f"ce{lane}", lane
    ext = f"{{{{{30 - W_BITS}{{w[{hi}]}}}}, w[{hi}:{lo}]}}"
    return f"""  DSP48E2 #(
    .AREG(0), .ACASCREG(0), .BREG(0), .BCASCREG(0), .CREG(0), .DREG(0), .ADREG(0),
    .MREG({mreg}), .PREG(1), .INMODEREG(0), .OPMODEREG(0), .ALUMODEREG(0), .CARRYINREG(0),
    .CARRYINSELREG(0), .A_INPUT("DIRECT"), .B_INPUT("DIRECT"), .PREADDINSEL("A"),
    .AMULTSEL("AD"), .BMULTSEL("B"), .USE_MULT("MULTIPLY"), .USE_SIMD("ONE48"),
    .USE_PATTERN_DETECT("NO_PATDET"),
    .IS_INMODE_INVERTED(5'b00010)  // INMODE[1] = 1 gates A: a_en inverted, in the slice
  ) {name} (
    .CLK(clk),
    .A({ext}),
    .D({{{{{27 - W_BITS}{{t[{hi}]}}}}, t[{hi}:{lo}]}}),
    .B({{{{{18 - A_BITS}{{{a}[{A_BITS - 1}]}}}}, {a}}}), .C(48'd0),
    .INMODE({{2'b00, d_en, a_en, 1'b0}}),
    .OPMODE({opmode}),
    .ALUMODE(4'b0000), .CARRYIN(1'b0), .CARRYINSEL(3'b000),
    .ACIN(30'd0), .BCIN(18'd0), .PCIN({pcin}), .CARRYCASCIN(1'b0), .MULTSIGNIN(1'b0),
    .CEA1(1'b0), .CEA2(1'b0), .CEB1(1'b0), .CEB2(1'b0), .CEC(1'b0), .CED(1'b0), .CEAD(1'b0),
    .CEM({"ce0" if mreg else "1'b0"}), .CEP({ce}), .CEINMODE(1'b0), .CECTRL(1'b0),
    .CEALUMODE(1'b0), .CECARRYIN(1'b0),
    .RSTA(1'b0), .RSTB(1'b0), .RSTC(1'b0), .RSTD(1'b0), .RSTM(1'b0), .RSTP(1'b0),
    .RSTINMODE(1'b0), .RSTCTRL(1'b0), .RSTALUMODE(1'b0), .RSTALLCARRYIN(1'b0),
    .PCOUT({pcout}), .P({p})
  );
"""


def dsp48e2_verilog(ports: list[tuple[str, str, int]]) -> str:
    """The ``hfaccel_mac_pair`` module as two DSP48E2s (UltraScale), for the ports of the
    generated module (``[(name, direction, width)]``, :func:`hfaccel.rtl.verilog.parse_modules`):
    the same port list, so that it replaces the behavioural module in a synthesis run."""
    names = {n for n, _, _ in ports}
    need = {"clk", *CONTROL, *DATA, "p0", "p1"}
    if names - {"rst"} != need:
        raise ValueError(f"{MAC_MODULE} has ports {sorted(names)}, expected {sorted(need)}")
    width = dict((n, w) for n, _, w in ports)["p0"]
    decl = "\n".join(f"  {d} {'[' + str(w - 1) + ':0] ' if w > 1 else ''}{n};"
                     for n, d, w in ports)
    # OPMODE = {W[1:0], Z[2:0], Y[1:0], X[1:0]}: W 0; X, Y the product; Z 000 zero, 001 PCIN,
    # 010 P
    op0 = "{2'b00, 1'b0, acc0, 1'b0, 4'b0101}"
    op1 = "{2'b00, 1'b0, acc1, cas1, 4'b0101}"
    return (f"module {MAC_MODULE} ({', '.join(n for n, _, _ in ports)});\n{decl}\n"
            "  // rtl/mac.py: two PEs as two DSP48E2s; slice 1 a cycle behind (MREG), adding\n"
            "  // slice 0's P through the cascade (PCOUT -> PCIN) where cas1. No other register.\n"
            "  wire [47:0] p48_0, p48_1, cascade;\n"
            + _dsp("dsp0", lane=0, opmode=op0, pcin="48'd0", pcout="cascade", p="p48_0")
            + _dsp("dsp1", lane=1, opmode=op1, pcin="cascade", pcout="", p="p48_1")
            + f"  assign p0 = p48_0[{width - 1}:0];\n  assign p1 = p48_1[{width - 1}:0];\n"
            "endmodule\n")
