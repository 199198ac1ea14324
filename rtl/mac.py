"""One PE's multiply-accumulate, shaped like an FPGA DSP slice: operand select, product gate,
accumulator register.

At every clock edge where ``ce`` is high::

    p <= (acc ? p : 0) + (mul ? a * (use_t ? t : w) : 0)        (modulo 2**width)

``a`` is the activation side (9-bit signed: an int8 value or a uint8 code), ``w`` (the GEMM
weight) and ``t`` (the depthwise tap) the two int8 weight-side operands. Every PE of the array
is one ``hfaccel_mac`` module in the Verilog package (:mod:`hfaccel.rtl.verilog`), so that a
flow can map it to its DSP slice as a whole. Yosys packs this behaviour into a DSP48E1 on
7 series, but on UltraScale+ only the multiply goes into the DSP48E2: the operand select, the
gate and the accumulator (an adder and a register a bit) were LUTs and flip-flops, 29 of
the PE's 37 LUTs (``docs/fpga.md``). The UltraScale+ flow therefore replaces the module by
:func:`dsp48e2_verilog`, the DSP48E2 instantiated with the selects in its control inputs:

* ``w`` on port A and ``t`` on port D, the pre-adder (``AMULTSEL = "AD"``) passing one of them
  (``INMODE[2:1]``: ``00`` A, ``11`` D), ``a`` on port B;
* ``mul`` the multiplier's X and Y multiplexers (``OPMODE[3:0]``: ``0101`` the product,
  ``0000`` zero); ``acc`` the Z multiplexer (``OPMODE[6:4]``: ``010`` P, ``000`` zero);
* ``p`` the P register (``PREG = 1``, clock enable ``CEP``); no other register.

The control inputs are shared by a whole row (``mul``) or the whole array (``use_t``, ``acc``,
``ce``), so a PE costs only its activation select in LUTs. ``p`` has no reset: every sum
starts with ``acc`` low.

:func:`ref_mac` is the reference model; ``tests/test_mac.py`` holds the Amaranth module to it
and the DSP48E2 wrapper to the Amaranth module (a model of the primitive's data path as its
user guide UG579 documents it; not Xilinx's simulation library, which is not free to ship).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MAC_MODULE", "Mac", "check_width", "dsp48e2_verilog", "ref_mac"]

MAC_MODULE = "hfaccel_mac"  # its module name in the Verilog package
A_BITS, W_BITS = 9, 8  # activation side, weight side
DSP_P_BITS = 48  # DSP48E2 accumulator


def check_width(width) -> int:
    """``width`` if it is a valid accumulator width (a product fits, the DSP's P holds it)."""
    if not isinstance(width, int) or not A_BITS + W_BITS <= width <= DSP_P_BITS:
        raise ValueError(f"width must be an integer in {A_BITS + W_BITS}..{DSP_P_BITS}, "
                         f"not {width!r}")
    return width


class Mac(wiring.Component):
    """A PE's multiply-accumulate (see the module docstring).

    Parameters
    ----------
    width : int
        Bits of the accumulator ``p`` (>= 17: a product fits). Sums wrap modulo ``2**width``;
        the depthwise unit sizes it so that none does.

    Members
    -------
    ce : ``In(1)``
        Update ``p`` at this clock edge.
    acc : ``In(1)``
        Add to ``p`` (else start from 0).
    mul : ``In(1)``
        Add the product (else 0: a padding input of the depthwise unit).
    use_t : ``In(1)``
        The weight-side operand is ``t`` (else ``w``).
    a : ``In(signed(9))``
        The activation side.
    w, t : ``In(signed(8))``
        The weight-side operands.
    p : ``Out(signed(width))``
        The accumulator register.
    """

    def __init__(self, *, width: int):
        self.width = check_width(width)
        super().__init__({
            "ce": In(1), "acc": In(1), "mul": In(1), "use_t": In(1),
            "a": In(signed(A_BITS)), "w": In(signed(W_BITS)), "t": In(signed(W_BITS)),
            "p": Out(signed(width)),
        })

    def elaborate(self, platform):
        m = Module()
        # no reset: a DSP slice's P register is not reset here either (RSTP tied low)
        p = Signal(signed(self.width), reset_less=True)
        # the gate on the weight side: one LUT a bit with the select, and Yosys then packs the
        # accumulate into a DSP48E1 (gating the 17-bit product kept it in the fabric on xc7)
        wt = Signal(signed(W_BITS))
        m.d.comb += wt.eq(Mux(self.mul, Mux(self.use_t, self.t, self.w), 0))
        prod = Signal(signed(A_BITS + W_BITS))
        m.d.comb += prod.eq(self.a * wt)
        with m.If(self.ce):
            m.d.sync += p.eq(Mux(self.acc, p, 0) + prod)
        m.d.comb += self.p.eq(p)
        return m


def ref_mac(p: int, *, ce: int, acc: int, mul: int, use_t: int, a: int, w: int, t: int,
            width: int) -> int:
    """The reference: the accumulator after a clock edge, from ``p`` before it."""
    if not ce:
        return p
    v = (p if acc else 0) + (a * (t if use_t else w) if mul else 0)
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


def dsp48e2_verilog(ports: list[tuple[str, str, int]]) -> str:
    """The ``hfaccel_mac`` module as a DSP48E2 (UltraScale+), for the ports of the generated
    module (``[(name, direction, width)]``, :func:`hfaccel.rtl.verilog.parse_modules`): the same
    port list, so that it replaces the behavioural module in a synthesis run."""
    names = {n for n, _, _ in ports}
    need = {"clk", "ce", "acc", "mul", "use_t", "a", "w", "t", "p"}
    if names - {"rst"} != need:
        raise ValueError(f"{MAC_MODULE} has ports {sorted(names)}, expected {sorted(need)}")
    width = dict((n, w) for n, _, w in ports)["p"]
    decl = "\n".join(f"  {d} {'[' + str(w - 1) + ':0] ' if w > 1 else ''}{n};"
                     for n, d, w in ports)
    return f"""module {MAC_MODULE} ({", ".join(n for n, _, _ in ports)});
{decl}
  // rtl/mac.py: p <= (acc ? p : 0) + (mul ? a * (use_t ? t : w) : 0) when ce, as one DSP48E2:
  // w on A, t on D, the pre-adder passing one of them (INMODE[2:1]); a on B; mul the X/Y
  // multiplexers, acc the Z multiplexer (OPMODE); p the P register. No other register.
  wire [47:0] p48;
  DSP48E2 #(
    .AREG(0), .ACASCREG(0), .BREG(0), .BCASCREG(0), .CREG(0), .DREG(0), .ADREG(0), .MREG(0),
    .PREG(1), .INMODEREG(0), .OPMODEREG(0), .ALUMODEREG(0), .CARRYINREG(0),
    .CARRYINSELREG(0), .A_INPUT("DIRECT"), .B_INPUT("DIRECT"), .PREADDINSEL("A"),
    .AMULTSEL("AD"), .BMULTSEL("B"), .USE_MULT("MULTIPLY"), .USE_SIMD("ONE48"),
    .USE_PATTERN_DETECT("NO_PATDET")
  ) dsp (
    .CLK(clk),
    .A({{{{{30 - W_BITS}{{w[{W_BITS - 1}]}}}}, w}}),
    .D({{{{{27 - W_BITS}{{t[{W_BITS - 1}]}}}}, t}}),
    .B({{{{{18 - A_BITS}{{a[{A_BITS - 1}]}}}}, a}}), .C(48'd0),
    .INMODE({{2'b00, use_t, use_t, 1'b0}}),
    .OPMODE({{2'b00, 1'b0, acc, 1'b0, 1'b0, mul, 1'b0, mul}}),
    .ALUMODE(4'b0000), .CARRYIN(1'b0), .CARRYINSEL(3'b000),
    .ACIN(30'd0), .BCIN(18'd0), .PCIN(48'd0), .CARRYCASCIN(1'b0), .MULTSIGNIN(1'b0),
    .CEA1(1'b0), .CEA2(1'b0), .CEB1(1'b0), .CEB2(1'b0), .CEC(1'b0), .CED(1'b0), .CEAD(1'b0),
    .CEM(1'b0), .CEP(ce), .CEINMODE(1'b0), .CECTRL(1'b0), .CEALUMODE(1'b0), .CECARRYIN(1'b0),
    .RSTA(1'b0), .RSTB(1'b0), .RSTC(1'b0), .RSTD(1'b0), .RSTM(1'b0), .RSTP(1'b0),
    .RSTINMODE(1'b0), .RSTCTRL(1'b0), .RSTALUMODE(1'b0), .RSTALLCARRYIN(1'b0),
    .P(p48)
  );
  assign p = p48[{width - 1}:0];
endmodule
"""
