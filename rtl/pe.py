"""The PE array: ``lanes x lanes`` int8 multiply-accumulate cells, shared by the GEMM and
depthwise units.

Every two neighbouring PEs of a row (columns ``2i``, ``2i + 1``) are a
:class:`~hfaccel.rtl.mac.MacPair` (two DSP slices on an FPGA): each PE's product goes into an
accumulator register ``acc[r][k]``, which the array's control inputs make a running sum
(depthwise) or, in GEMM mode, the product (even PE) and the pair's sum (odd PE). An odd PE runs
a cycle behind its even neighbour (the cell's product register).

GEMM mode (``gemm_mode`` = 1): PE ``(r, k)`` multiplies input channel ``k`` of one pixel
(``gemm_x[k]``, the same for every row) by the weight of output channel ``r`` and input channel
``k`` (byte ``r * lanes + k`` of ``gemm_w``); the cells add each pair's two products (the
adder tree's first level), and row ``r`` sums the ``lanes / 2`` pair sums in a balanced adder
tree (``row_sums[r]``, two cycles after the operands): one output channel from ``lanes``
input channels per cycle.

Depthwise mode (``gemm_mode`` = 0): where ``dw_ce``, PE ``(j, k)`` adds channel ``k`` of output
pixel ``j``'s input (lane ``k`` of ``dw_x[j]``, or of ``dw_x2[j]`` at stride 2 (``dw_s2``)) times
channel ``k``'s tap (lane ``k`` of ``dw_tap``) to its register, or starts from it where
``dw_first``; where ``dw_valid[j]`` is low (padding, or a pixel past the map) the product is 0.
The register is the depthwise sum: the depthwise unit reads ``acc`` after a block's last tap,
the even columns' a cycle after its MAC and the odd columns' a cycle after those.
The stride's select is here rather than in the depthwise window because the PE's operand select
absorbs it: the GEMM input or either window word is one LUT a bit (the window's own select was
one more LUT a bit of every row, docs/fpga.md). The tap / weight select, the padding's zero and
the accumulate are the MAC cell's control inputs (a DSP slice's pre-adder and multiplexers):
no LUT a PE.

:func:`pe_row` is the GEMM row's arithmetic as one combinational builder (products and the
adder tree whose first level the cells form); the unit tests (``tests/support/unit_tb.py``)
build their PE row with it.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hfaccel.rtl.arith import lanes_of, tree_sum
from hfaccel.rtl.mac import PAIR_BITS, MacPair, check_width

__all__ = ["PRODUCT", "PeArray", "acc_width", "pe_row", "row_sum_shape"]

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


def acc_width(max_kernel: int) -> int:
    """Bits of a PE's accumulator: exact for a depthwise sum of ``max_kernel ** 2`` products of
    two int8 (``|p| <= 2**14``) and for a MAC cell's pair of GEMM products; well short of the
    contract's int32 (the depthwise unit's write-back copy holds ``lanes ** 2`` of them: 20
    bits at 5x5, 21 at 7x7)."""
    return max((max_kernel ** 2 << 14).bit_length() + 1, PAIR_BITS)


def row_sum_shape(lanes: int):
    """The exact shape of a row sum of ``lanes`` products (the adder tree's own width)."""
    return tree_sum([Signal(PRODUCT) for _ in range(lanes)]).shape()


class PeArray(wiring.Component):
    """``lanes x lanes`` MAC cells with GEMM row sums (see the module docstring).

    Parameters
    ----------
    lanes : int
        PEs per row and rows (a power of two, >= 2).
    acc_width : int
        Bits of a PE's accumulator (:func:`acc_width`).

    Members
    -------
    gemm_mode : ``In(1)``
        1 GEMM: the cells take this cycle's products. 0 depthwise.
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
        Depthwise: row ``j``'s input lies inside the map (else its products are 0).
    dw_tap : ``In(lanes * 8)``
        Depthwise tap word: channel ``k``'s weight in lane ``k``, the same for every row.
    dw_ce, dw_first : ``In(1)``
        Depthwise: the registers take this cycle's MAC; it is a sum's first (the registers
        start from 0).
    acc : ``Out(signed(acc_width)).array(lanes, lanes)``
        ``acc[r][k]``: PE ``(r, k)``'s register (odd ``k``: a cycle behind).
    row_sums : ``Out(row_sum_shape(lanes)).array(lanes)``
        GEMM mode, two cycles after the operands: the row's sum of products.
    """

    def __init__(self, *, lanes: int, acc_width: int):
        if not isinstance(lanes, int) or lanes < 2 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two >= 2, not {lanes!r}")
        self.lanes, self.acc_width = lanes, check_width(acc_width)
        super().__init__({
            "gemm_mode": In(1),
            "xu": In(1),
            "gemm_x": In(signed(8)).array(lanes),
            "gemm_w": In(lanes * lanes * 8),
            "dw_x": In(lanes * 8).array(lanes), "dw_x2": In(lanes * 8).array(lanes),
            "dw_s2": In(1),
            "dw_valid": In(1).array(lanes),
            "dw_tap": In(lanes * 8),
            "dw_ce": In(1), "dw_first": In(1),
            "acc": Out(signed(acc_width)).array(lanes, lanes),
            "row_sums": Out(row_sum_shape(lanes)).array(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        # the array's control, shared by every cell (d_en: by a row's); the odd PEs' a cycle
        # later (their cell's product register)
        ce0, acc0, ce1, acc1, cas1 = Signal(), Signal(), Signal(), Signal(), Signal()
        m.d.comb += [ce0.eq(self.gemm_mode | self.dw_ce),
                     acc0.eq(~self.gemm_mode & ~self.dw_first)]
        m.d.sync += [ce1.eq(ce0), acc1.eq(acc0), cas1.eq(self.gemm_mode)]
        for r in range(L):
            d_en = Signal(name=f"pden{r}")
            m.d.comb += d_en.eq(~self.gemm_mode & self.dw_valid[r])
            xl, xl2 = lanes_of(self.dw_x[r], L), lanes_of(self.dw_x2[r], L)
            pairs = []
            for i in range(L // 2):
                m.submodules[f"mac{r * L // 2 + i}"] = cell = MacPair(width=self.acc_width)
                m.d.comb += [cell.ce0.eq(ce0), cell.acc0.eq(acc0), cell.ce1.eq(ce1),
                             cell.acc1.eq(acc1), cell.cas1.eq(cas1),
                             cell.a_en.eq(self.gemm_mode), cell.d_en.eq(d_en)]
                k0 = 2 * i
                m.d.comb += [cell.w.eq(self.gemm_w[(r * L + k0) * 8:(r * L + k0 + 2) * 8]),
                             cell.t.eq(self.dw_tap[k0 * 8:(k0 + 2) * 8])]
                for h in (0, 1):
                    k = k0 + h
                    x = Mux(self.gemm_mode, self.gemm_x[k], Mux(self.dw_s2, xl2[k], xl[k]))
                    m.d.comb += [
                        getattr(cell, f"a{h}").eq(Mux(self.xu, x.as_unsigned(), x.as_signed())),
                        self.acc[r][k].eq(getattr(cell, f"p{h}"))]
                # two products of int8 (or uint8) x int8 sum exactly in 17 bits: the tree's
                # first level (tree_levels pairs neighbours), formed in the cell
                pairs.append(cell.p1[:PRODUCT.width + 1].as_signed())
            m.d.comb += self.row_sums[r].eq(tree_sum(pairs))
        return m
