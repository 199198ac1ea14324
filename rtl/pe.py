"""The PE array: ``lanes x lanes`` int8 multipliers, shared by the GEMM and depthwise units.

GEMM mode (``gemm_mode`` = 1): PE ``(r, k)`` multiplies input channel ``k`` of one pixel
(``gemm_x[k]``, the same for every row) by the weight of output channel ``r`` and input channel
``k`` (byte ``r * lanes + k`` of ``gemm_w``); row ``r`` sums its products in a balanced adder tree
(``row_sums[r]``): one output channel from ``lanes`` input channels per cycle.

Depthwise mode (``gemm_mode`` = 0): PE ``(j, k)`` multiplies channel ``k`` of output pixel ``j``'s
input (lane ``k`` of ``dw_x[j]``, or of ``dw_x2[j]`` at stride 2 (``dw_s2``), or 0 where
``dw_valid[j]`` is low: padding, or a lane past the map) by channel ``k``'s tap (lane ``k`` of
``dw_tap``); the depthwise unit accumulates every ``products[j][k]`` on its own. The stride's
select is here rather than in the depthwise window because the PE's operand select absorbs it:
GEMM input, either window word or zero is one LUT6 a bit (the window's own select was one more
LUT a bit of every row, docs/fpga.md).

Everything is combinational. :func:`pe_row` is the row builder; the unit tests
(``tests/support/unit_tb.py``) build their PE row with it.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hfaccel.rtl.arith import lanes_of, tree_sum

__all__ = ["PRODUCT", "PeArray", "pe_row", "row_sum_shape"]

# int8 x int8, exact (-128 * -128 = 16384 needs the 16th bit); a uint8 operand (9-bit signed)
# times int8 fits too: 255 * -128 = -32640
PRODUCT = signed(16)


def pe_row(m: Module, a, b, *, name: str):
    """One PE row: ``(products, row_sum)`` of the operand lanes ``a`` (int8, or 9-bit signed
    holding a uint8 code) and ``b`` (int8 values).

    ``products[k] = a[k] * b[k]`` (:data:`PRODUCT`), ``row_sum`` their sum from a balanced adder
    tree, wide enough to be exact (:func:`row_sum_shape`).
    """
    prods = []
    for k, (x, w) in enumerate(zip(a, b)):
        p = Signal(PRODUCT, name=f"{name}_{k}")
        m.d.comb += p.eq(x * w)
        prods.append(p)
    total = tree_sum(prods)
    rsum = Signal(total.shape(), name=f"{name}_sum")
    m.d.comb += rsum.eq(total)
    return prods, rsum


def row_sum_shape(lanes: int):
    """The exact shape of a row sum of ``lanes`` products (the adder tree's own width)."""
    return tree_sum([Signal(PRODUCT) for _ in range(lanes)]).shape()


class PeArray(wiring.Component):
    """``lanes x lanes`` int8 multipliers with GEMM row sums (see the module docstring).

    Parameters
    ----------
    lanes : int
        PEs per row and rows (a power of two, >= 2).

    Members
    -------
    gemm_mode : ``In(1)``
        Operand select: 1 GEMM, 0 depthwise.
    xu : ``In(1)``
        The input operands (``gemm_x``, ``dw_x``, ``dw_x2``) are uint8 codes: zero-extended to
        9 bits instead of sign-extended (weights and taps are always int8).
    gemm_x : ``In(signed(8)).array(lanes)``
        GEMM input: one int8 value per column (input channel), broadcast to every row.
    gemm_w : ``In(lanes * lanes * 8)``
        GEMM weight tile: int8 ``W[r][k]`` in byte ``r * lanes + k``.
    dw_x, dw_x2 : ``In(lanes * 8).array(lanes)``
        Depthwise input: the word (``lanes`` int8 channels) of output pixel ``j`` for row ``j``
        at stride 1 (``dw_x``) and at stride 2 (``dw_x2``).
    dw_s2 : ``In(1)``
        Depthwise: the stride is 2 (rows take ``dw_x2``).
    dw_valid : ``In(1).array(lanes)``
        Depthwise: row ``j``'s input lies inside the map (else its operands are 0).
    dw_tap : ``In(lanes * 8)``
        Depthwise tap word: channel ``k``'s weight in lane ``k``, the same for every row.
    products : ``Out(signed(16)).array(lanes, lanes)``
        ``products[r][k]``: PE ``(r, k)``'s product.
    row_sums : ``Out(row_sum_shape(lanes)).array(lanes)``
        GEMM mode: ``sum_k products[r][k]``.
    """

    def __init__(self, *, lanes: int):
        if not isinstance(lanes, int) or lanes < 2 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two >= 2, not {lanes!r}")
        self.lanes = lanes
        super().__init__({
            "gemm_mode": In(1),
            "xu": In(1),
            "gemm_x": In(signed(8)).array(lanes),
            "gemm_w": In(lanes * lanes * 8),
            "dw_x": In(lanes * 8).array(lanes), "dw_x2": In(lanes * 8).array(lanes),
            "dw_s2": In(1),
            "dw_valid": In(1).array(lanes),
            "dw_tap": In(lanes * 8),
            "products": Out(PRODUCT).array(lanes, lanes),
            "row_sums": Out(row_sum_shape(lanes)).array(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        taps = lanes_of(self.dw_tap, L)
        for r in range(L):
            a = [Signal(signed(9), name=f"pa{r}_{k}") for k in range(L)]
            b = [Signal(signed(8), name=f"pb{r}_{k}") for k in range(L)]
            xl, xl2 = lanes_of(self.dw_x[r], L), lanes_of(self.dw_x2[r], L)
            for k in range(L):
                with m.If(self.gemm_mode):
                    m.d.comb += [a[k].eq(Mux(self.xu, self.gemm_x[k].as_unsigned(),
                                             self.gemm_x[k])),
                                 b[k].eq(self.gemm_w[(r * L + k) * 8:(r * L + k + 1) * 8]
                                         .as_signed())]
                with m.Else():
                    xd = Mux(self.dw_s2, xl2[k], xl[k])
                    xk = Mux(self.xu, xd.as_unsigned(), xd)
                    m.d.comb += [a[k].eq(Mux(self.dw_valid[r], xk, 0)), b[k].eq(taps[k])]
            prods, rsum = pe_row(m, a, b, name=f"pp{r}")
            for k in range(L):
                m.d.comb += self.products[r][k].eq(prods[k])
            m.d.comb += self.row_sums[r].eq(rsum)
        return m
