"""Single-layer IR graphs with edge-case data, for unit tests through the whole accelerator.

Each case is the network input plus one hardware operation (a conv with what fuses into it: a
table, a residual add, an SE gate), built directly as IR with
:class:`support.netgen.IrBuilder` (the builder of the random networks), but with data aimed
at the numeric contract's edges:

* inputs and weights at -128 (so ``-128 * -128`` products occur), and 127;
* per-channel biases chosen so that one pixel of every channel lands exactly on an x.5 LSB tie
  (both signs, rounding up and down to even), shifts chosen from the accumulators' spread so
  that other pixels saturate both ways; a few channels with a zero or negative (left) shift and
  one with a 2^30 bias and a 24-bit shift (the high bits of the bias and shift fields);
* channel counts that leave partial or no remainder on the lanes, one-pixel and all-zero maps.

A test on data that never reaches an edge proves nothing, so :func:`edge_counts` recomputes
every layer's accumulators from the integer definitions (:mod:`hfaccel.quant.intops`) and counts
the edges that actually occurred; the tests assert on those counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from hfaccel.quant import intops
from hfaccel.quant.ir import Graph, Layer
from hfaccel.quant.reference import run_reference
from support.netgen import IrBuilder

__all__ = ["CASES", "LayerCase", "edge_counts", "make_case", "random_case",
           "requant_edges"]

# The edges every requantizing layer of a case is expected to reach (tests may ask for fewer).
TIES = ("tie_pos", "tie_neg", "tie_up", "tie_down")
SATS = ("sat_hi", "sat_lo")


@dataclass
class LayerCase:
    """A single-layer network, its input codes, reference tensors and the edges it reaches."""

    name: str
    graph: Graph
    x: np.ndarray  # input codes (C, H, W), int64
    ref: dict[str, np.ndarray]  # every tensor's codes (ONNX name -> array without batch)
    edges: dict[str, Counter]  # IR layer name -> edge counts (see :func:`requant_edges`)
    expect: dict[str, tuple[str, ...]]  # IR layer name -> edges that must have occurred

    def missing_edges(self) -> list[str]:
        """``layer: edge`` for every expected edge the data did not reach (empty = good)."""
        return [f"{ly}: {e}" for ly, es in self.expect.items() for e in es
                if self.edges[ly][e] <= 0]


# ------------------------------------------------------------------------------ edge counting
def requant_edges(acc: np.ndarray, shift) -> Counter:
    """How often ``requantize(acc, shift)`` hits each edge of the contract.

    ``tie_pos``/``tie_neg``: an exact x.5 LSB tie (of that sign) whose result is in range;
    ``tie_up``/``tie_down``: such a tie rounded up / down (to the even neighbour);
    ``sat_hi``/``sat_lo``: saturated to 127 / -128; ``left``: a negative (left) shift;
    ``exact``: a zero shift.
    """
    acc = np.asarray(acc, np.int64)
    s = np.broadcast_to(np.asarray(shift, np.int64), acc.shape)
    rs = intops.round_shift(acc, s)
    right = s > 0
    sp = np.maximum(s, 1)
    rem = acc & ((np.int64(1) << sp) - 1)  # acc mod 2**s (two's complement)
    inr = (rs >= intops.INT8_MIN) & (rs <= intops.INT8_MAX)
    tie = right & (rem == (np.int64(1) << (sp - 1))) & inr
    floor = acc >> sp
    return Counter({
        "tie_pos": int((tie & (acc > 0)).sum()), "tie_neg": int((tie & (acc < 0)).sum()),
        "tie_up": int((tie & (rs != floor)).sum()), "tie_down": int((tie & (rs == floor)).sum()),
        "sat_hi": int((rs > intops.INT8_MAX).sum()), "sat_lo": int((rs < intops.INT8_MIN).sum()),
        "left": int((s < 0).sum()), "exact": int((s == 0).sum()), "outputs": int(acc.size)})


def _conv_acc(layer: Layer, x: np.ndarray, weight=None, bias=True) -> np.ndarray:
    x4 = x.reshape(x.shape[0], -1, 1, 1) if len(layer.shape) == 1 else x
    w = layer.weight if weight is None else weight
    return intops.conv2d(x4, w, layer.bias if bias else None, stride=layer.stride,
                         pads=layer.pads, groups=layer.groups)


def edge_counts(graph: Graph, ref: dict[str, np.ndarray]) -> dict[str, Counter]:
    """Per IR layer, the edges its computation reached (same integer steps as the reference).

    Besides :func:`requant_edges`: ``m128sq`` counts ``-128 * -128`` products (conv, gating),
    ``codes`` the distinct codes an activation table was indexed with.
    """
    out: dict[str, Counter] = {}
    for ly in graph.layers:
        if ly.op == "input":
            continue
        args = [np.asarray(ref[i], np.int64)[None] for i in ly.inputs]
        if ly.op == "conv":
            x = args[0]
            c = requant_edges(_conv_acc(ly, x), np.asarray(ly.shift)[None, :, None, None])
            ind = _conv_acc(ly, (x == -128).astype(np.int64),
                            weight=(ly.weight == -128).astype(np.int64), bias=False)
            c["m128sq"] = int(ind.sum())
        elif ly.op == "add":
            f = max(ly.f_in)
            acc = (args[0] << (f - ly.f_in[0])) + (args[1] << (f - ly.f_in[1]))
            c = requant_edges(acc, ly.shift)
            c["aligned"] = int(f != ly.f_in[0] or f != ly.f_in[1])
        elif ly.op == "mul":
            c = requant_edges(args[0] * args[1], ly.shift)
            c["m128sq"] = int(((args[0] == -128) & (args[1] == -128)).sum())
        elif ly.op == "gap":
            c = requant_edges(args[0].sum(axis=(2, 3)), ly.shift)
        else:  # act
            c = Counter({"codes": len(np.unique(args[0]))})
        out[ly.name] = c
    return out


# ------------------------------------------------------------------------------ building
def _codes(rng: np.random.Generator, shape, extremes: float = 0.1) -> np.ndarray:
    """Random int8 codes with a share of -128 (and a few 127) so that the extremes occur."""
    x = rng.integers(-128, 128, size=shape)
    u = rng.random(size=shape)
    x[u < extremes] = -128
    x[(u >= extremes) & (u < 1.3 * extremes)] = 127
    return x.astype(np.int64)


def _spread_shift(acc: np.ndarray, target: float = 100.0) -> int:
    """A right shift mapping the spread of ``acc`` onto about +-target (others saturate)."""
    d = np.abs(acc - np.median(acc))
    spread = float(np.percentile(d, 90)) + 1.0
    return int(np.clip(np.round(np.log2(spread / target)), 1, 24))


class _Net(IrBuilder):
    """Layers with data aimed at the edges, and the edges each is expected to reach."""

    def __init__(self, rng: np.random.Generator, x: np.ndarray, f_in: int = 5):
        super().__init__(x, f_in)
        self.rng = rng
        self.expect: dict[str, tuple[str, ...]] = {}

    def _expect(self, out: str, expect: tuple[str, ...]) -> str:
        if expect:
            self.expect[self.layers[-1].name] = expect
        return out

    def conv(self, name: str, src: str, w: np.ndarray, *, stride: int = 1, pads=(0, 0, 0, 0),
             groups: int = 1, fc: bool = False, classifier: bool = False, modes=None,
             shift=None, shift_fix=None, bias=None, f_out: int = 4,
             expect: tuple[str, ...] = TIES + SATS + ("m128sq",)) -> str:
        """A conv whose biases put one pixel per channel on a tie (``modes`` per channel:
        ``tie``, ``bigtie`` (the tie -63.5, i.e. a bias near -2^30 at shift 24), ``hi``/``lo``
        (that pixel saturates), or ``None`` (random bias)); ``shift_fix`` overrides shifts."""
        rng = self.rng
        co = w.shape[0]
        acc0 = self.conv_acc(src, w, stride=stride, pads=pads, groups=groups, fc=fc)
        flat = acc0.reshape(co, -1)
        if shift is None:
            if flat.shape[1] >= 4:
                shift = np.array([_spread_shift(a) for a in flat], np.int64)
            else:  # one pixel per channel: the spread over the channels
                shift = np.full(co, _spread_shift(flat.reshape(-1)), np.int64)
        shift = np.array(shift, np.int64)
        for c, v in (shift_fix or {}).items():
            shift[c] = v
        if modes is None:  # one pixel per channel: ties and saturations on different channels
            modes = (["tie"] * co if flat.shape[1] >= 4
                     else [("tie", "hi", "tie", "lo")[c % 4] for c in range(co)])
        if bias is None:
            bias = rng.integers(-2000, 2000, size=co)
            nt = 0  # tie channels so far
            for c, mode in enumerate(modes):
                s = int(shift[c])
                p = int(rng.integers(flat.shape[1]))
                if mode in ("tie", "bigtie") and s > 0:
                    # tie channels in fours: round down/up (to even), positive/negative
                    k = 2 * int(rng.integers(0, 45)) + ((nt >> 1) & 1)
                    k = -64 if mode == "bigtie" else k if nt % 2 == 0 else -k - 1
                    nt += 1
                    bias[c] = ((2 * k + 1) << (s - 1)) - flat[c, p]
                elif mode in ("hi", "lo"):
                    bias[c] = (1 if mode == "hi" else -1) * (200 << max(s, 0)) - flat[c, p]
        out = self.conv_layer(name, src, w, bias, shift, f_out, stride=stride, pads=pads,
                              groups=groups, fc=fc, classifier=classifier)
        return self._expect(out, expect)

    def act(self, name: str, src: str, table=None, f_out: int = 3,
            expect: tuple[str, ...] = ()) -> str:
        t = self.rng.integers(-128, 128, size=256) if table is None else table
        return self._expect(self.act_layer(name, src, t, f_out), expect)

    def gap(self, name: str, src: str, f_out: int, expect=TIES + SATS) -> str:
        return self._expect(self.gap_layer(name, src, f_out), expect)

    def mul(self, name: str, a: str, g: str, f_out: int, expect=TIES + SATS + ("m128sq",)):
        return self._expect(self.mul_layer(name, a, g, f_out), expect)

    def add(self, name: str, a: str, b: str, f_out: int, expect=TIES + SATS + ("aligned",)):
        return self._expect(self.add_layer(name, a, b, f_out), expect)

    def case(self, name: str) -> LayerCase:
        graph = self.graph(f"layergen:{name}")
        f_in = self.f["input.q"]
        ref = {k: v[0].astype(np.int64)
               for k, v in run_reference(graph, (self.x * 2.0 ** -f_in)[None]).items()}
        # the builder's own values and the reference must agree (same definitions)
        for k, v in self.val.items():
            assert np.array_equal(ref[k], np.asarray(v).reshape(ref[k].shape)), k
        return LayerCase(name, graph, self.x, ref, edge_counts(graph, ref), self.expect)


# ------------------------------------------------------------------------------ the cases
def _same_pads(k: int, stride: int, n: int) -> tuple[int, int, int, int]:
    """TensorFlow 'SAME' padding of an n-wide map (the extra pad last)."""
    out = -(-n // stride)
    total = max((out - 1) * stride + k - n, 0)
    t = total // 2
    return (t, t, total - t, total - t)


def _pointwise(name, rng, cin, cout, hw=(4, 4), zero=False, special=False):
    x = np.zeros((cin,) + hw, np.int64) if zero else _codes(rng, (cin,) + hw)
    w = _codes(rng, (cout, cin, 1, 1))
    if not zero:  # few input channels: make sure -128 meets -128
        x[0, 0, 0] = w[0, 0] = -128
    net = _Net(rng, x)
    modes = None
    shift = None
    expect = TIES + SATS + ("m128sq",)
    if zero:  # every pixel equals the bias: per channel a tie or a saturation
        modes = [("tie", "hi", "tie", "lo")[c % 4] for c in range(cout)]
        shift = 1 + np.arange(cout) % 5
        expect = TIES + SATS
    shift_fix = {}
    if special:
        # a left shift (saturates), no rounding at all, and a bias in the high bits shifted
        # down by 24 onto a tie
        shift_fix = {0: -1, 1: 0, 2: 24}
        modes = ["tie"] * cout
        modes[2] = "bigtie"
        expect = expect + ("left", "exact")
    net.conv("pw", "input.q", w, modes=modes, shift=shift, shift_fix=shift_fix, expect=expect)
    return net.case(name)


def _stem(name, rng, cout, res, k, stride, act=False):
    x = _codes(rng, (3, res, res))
    net = _Net(rng, x, f_in=7)
    w = _codes(rng, (cout, 3, k, k))
    y = net.conv("stem", "input.q", w, stride=stride, pads=_same_pads(k, stride, res))
    if act:
        net.act("stem.act", y, expect=())
    return net.case(name)


def _fc(name, rng, cin, cout, classifier=False, act=False):
    x = _codes(rng, (cin, 1, 1))
    x[0] = -128  # one input at -128 meets weights at -128: few inputs, so not left to chance
    net = _Net(rng, x)
    w = _codes(rng, (cout, cin, 1, 1))
    w[::3, 0] = -128
    y = net.conv("fc", "input.q", w, fc=True, classifier=classifier)
    if act:
        net.act("fc.act", y)
    return net.case(name)


def _dw(name, rng, c, hw, k, stride, act=False, expect=TIES + SATS + ("m128sq",)):
    x = _codes(rng, (c,) + hw, extremes=0.15)
    net = _Net(rng, x)
    w = _codes(rng, (c, 1, k, k), extremes=0.15)
    h, wd = hw
    ph, pw = _same_pads(k, stride, h), _same_pads(k, stride, wd)
    pads = (ph[0], pw[1], ph[2], pw[3])
    y = net.conv("dw", "input.q", w, stride=stride, pads=pads, groups=c, expect=expect)
    if act:
        net.act("dw.act", y)
    return net.case(name)


def _gap(name, rng, c, hw, f_delta):
    """GAP with shift ``log2(H*W) - f_delta``; channels of all -128 / all 127 saturate when
    the shift is below log2(H*W), and pixel 0 of the others is moved onto a tie."""
    n = hw[0] * hw[1]
    s = n.bit_length() - 1 - f_delta
    x = _codes(rng, (c,) + hw).reshape(c, n)
    if s < (n.bit_length() - 1):
        x[0], x[1] = -128, 127
    for ch in range(2, c):
        # both signs of sum: odd channels mostly negative, even ones mostly positive
        # (halved, so that twice the mean stays in range: the ties must not saturate)
        x[ch, 1:] = np.clip(np.abs(x[ch, 1:]) // 2, 0, 127) * (-1 if ch % 2 else 1)
        if s > 0:
            # move pixel 0 so that the channel sum is an exact tie (odd multiple of 2^(s-1)),
            # then by 2^s if needed so that channels in fours round down, down, up, up
            half = 1 << (s - 1)
            d = (half - int(x[ch].sum())) % (2 * half)
            v = int(x[ch, 0]) + d
            v = v if v <= 127 else v - 2 * half
            if ((int(x[ch, 1:].sum()) + v) >> s & 1) != (ch >> 1 & 1):
                v = v + 2 * half if v + 2 * half <= 127 else v - 2 * half
            x[ch, 0] = v
    x = x.reshape((c,) + hw)
    net = _Net(rng, x)
    expect = (TIES if s > 0 else ("left",) if s < 0 else ()) + (SATS if f_delta > 0 else ())
    net.gap("gap", "input.q", f_out=net.f["input.q"] + f_delta, expect=expect)
    return net.case(name)


def _gate(name, rng, c, cout, hw=(4, 4), gshift=6):
    """gap(x) is the gate, x * gate (right shift ``gshift``) feeds a pointwise conv. The gate
    values are chosen (channel means, GAP shift = log2(H*W)): -128 with x = -128
    (-128 * -128), 127, odd multiples of 2^(gshift-1) (a tie for every odd x), and an outlier
    pixel against the mean (negative saturation)."""
    n = hw[0] * hw[1]
    u = 1 << (gshift - 1)
    gates = [-128, 127, u, -u, 3 * u, -3 * u, 64, 1, -1, 0, 50, -70, 127, -128, u, -3 * u]
    x = np.zeros((c, n), np.int64)
    for ch in range(c):
        g = gates[ch % len(gates)]
        if abs(g) >= 127:
            x[ch] = g
            continue
        v = np.clip(g + rng.integers(-60, 61, size=n), -128, 127)
        if abs(g) >= 64 and n >= 8:
            v[0] = -100 if g > 0 else 100
        elif g == 64:  # 3 x 127 - 125 = 4 x 64: the only outlier four pixels allow
            v[0] = -125
        # fix the sum to exactly g * n by nudging the other pixels (within range)
        while (d := g * n - int(v.sum())) != 0:
            movable = np.nonzero((v[1:] < 127) if d > 0 else (v[1:] > -128))[0] + 1
            assert len(movable), f"gate {g} is not reachable with {n} pixels"
            step = int(np.sign(d)) * max(1, abs(d) // len(movable))
            i = movable[:abs(d)] if abs(d) < len(movable) else movable
            v[i] = np.clip(v[i] + (step if abs(d) >= len(movable) else np.sign(d)), -128, 127)
        x[ch] = v
    x = x.reshape((c,) + hw)
    net = _Net(rng, x)
    f = net.f["input.q"]
    gt = net.gap("se.pool", "input.q", f_out=f, expect=())
    assert np.array_equal(net.val[gt].reshape(-1), [gates[i % len(gates)] for i in range(c)])
    m = net.mul("se.mul", "input.q", gt, f_out=2 * f - gshift)
    w = _codes(rng, (cout, c, 1, 1))
    w[0, ::2] = -128  # meets the gated -128s (saturated products)
    net.conv("project", m, w)
    return net.case(name)


def _residual(name, rng, c, hw, fa, fb, f_out, act=True):
    """pointwise conv (+ table) then a residual add of the input, exponent-aligned."""
    x = _codes(rng, (c,) + hw)
    net = _Net(rng, x, f_in=fb)
    y = net.conv("pw", "input.q", _codes(rng, (c, c, 1, 1)), f_out=fa)
    if act:
        y = net.act("pw.act", y, f_out=fa)
    expect = TIES + SATS + ("aligned",) if max(fa, fb) > f_out else SATS + ("aligned", "left")
    net.add("add", y, "input.q", f_out=f_out, expect=expect)
    return net.case(name)


def _perm_codes(rng, n: int) -> np.ndarray:
    """(n, 256): every row a random permutation of the 256 codes."""
    return np.stack([rng.permutation(np.arange(-128, 128)) for _ in range(n)])


def _tables_gemm(name, rng, lanes: int = 8):
    """Two identity pointwise convs (q = x), each with its own random table (two weight
    chunks: both table slots). Every channel holds all 256 codes, so every GEMM
    post-processing lane (each has its own table copy) reads every entry of both slots; the
    first table is a permutation so that the second conv sees all codes too."""
    x = _perm_codes(rng, lanes).reshape(lanes, 16, 16)
    net = _Net(rng, x, f_in=4)
    eye = np.eye(lanes, dtype=np.int64).reshape(lanes, lanes, 1, 1)
    zero = np.zeros(lanes, np.int64)
    y = net.conv("id1", "input.q", eye, shift=zero, bias=zero, f_out=4, expect=("exact",))
    y = net.act("id1.act", y, table=rng.permutation(np.arange(-128, 128)), f_out=4,
                expect=("codes",))
    y = net.conv("id2", y, eye, shift=zero, bias=zero, f_out=4, expect=("exact",))
    net.act("id2.act", y, f_out=3, expect=("codes",))
    return net.case(name)


def _tables_dw(name, rng, lanes: int = 8, wb: int = 8):
    """Two identity depthwise convs (centre tap 1) with their own tables (both slots) on
    ``lanes`` channels of a 32 x 64 map (flat mode). The depthwise write-back post-processes
    ``wb`` consecutive pixels of ``lanes`` channels per cycle, each lane with its own table
    copy; pixel n goes through slot ``n mod wb``, and every channel holds all 256 codes at
    every residue, so every copy reads every entry."""
    x = np.stack([_perm_codes(rng, wb).T.reshape(-1) for _ in range(lanes)])
    x = x.reshape(lanes, 32, 64)
    net = _Net(rng, x, f_in=4)
    w = np.zeros((lanes, 1, 3, 3), np.int64)
    w[:, 0, 1, 1] = 1
    zero = np.zeros(lanes, np.int64)
    y = net.conv("id1", "input.q", w, groups=lanes, pads=(1, 1, 1, 1), shift=zero, bias=zero,
                 f_out=4, expect=("exact",))
    y = net.act("id1.act", y, table=rng.permutation(np.arange(-128, 128)), f_out=4,
                expect=("codes",))
    y = net.conv("id2", y, w, groups=lanes, pads=(1, 1, 1, 1), shift=zero, bias=zero,
                 f_out=4, expect=("exact",))
    net.act("id2.act", y, f_out=3, expect=("codes",))
    return net.case(name)


CASES = {
    # dense stem (im2col GEMM): 27 patch channels on 8 lanes (partial tile)
    "stem_k3s2": lambda r: _stem("stem_k3s2", r, 16, 16, 3, 2),
    "stem_k3s1_c11_act": lambda r: _stem("stem_k3s1_c11_act", r, 11, 8, 3, 1, act=True),
    # pointwise GEMM: 3 -> 11 (partial input and output tiles), 16 -> 16 (no remainder),
    # 19 -> 11 on an all-zero map, 64 -> 40 (two weight chunks, ping-pong halves)
    "pw_c3_c11": lambda r: _pointwise("pw_c3_c11", r, 3, 11, special=True),
    "pw_c16_c16": lambda r: _pointwise("pw_c16_c16", r, 16, 16),
    "pw_c19_c11_zero": lambda r: _pointwise("pw_c19_c11_zero", r, 19, 11, zero=True),
    "pw_c64_c40_chunks": lambda r: _pointwise("pw_c64_c40_chunks", r, 64, 40, hw=(2, 4)),
    # FC (one pixel): SE reduce and expand (with a table), the classifier's (10,) logits
    "fc_se_reduce": lambda r: _fc("fc_se_reduce", r, 32, 8),
    "fc_se_expand_act": lambda r: _fc("fc_se_expand_act", r, 8, 32, act=True),
    "fc_classifier": lambda r: _fc("fc_classifier", r, 64, 10, classifier=True),
    # depthwise: flat mode (stride 1, power-of-two width) and row mode, both kernels/strides
    "dw_k3s1": lambda r: _dw("dw_k3s1", r, 12, (8, 8), 3, 1, act=True),
    "dw_k3s2": lambda r: _dw("dw_k3s2", r, 12, (8, 8), 3, 2),
    "dw_k5s1": lambda r: _dw("dw_k5s1", r, 16, (8, 8), 5, 1),
    "dw_k5s2": lambda r: _dw("dw_k5s2", r, 11, (8, 8), 5, 2),
    "dw_k3s1_row_6x10": lambda r: _dw("dw_k3s1_row_6x10", r, 8, (6, 10), 3, 1),
    "dw_k3s2_odd_9x9": lambda r: _dw("dw_k3s2_odd_9x9", r, 5, (9, 9), 3, 2),
    "dw_k5s1_1x1": lambda r: _dw("dw_k5s1_1x1", r, 9, (1, 1), 5, 1,
                                 expect=TIES + SATS),
    # global average pooling: mean (shift log2 HW), twice the mean (saturates), fewer pixels
    # than UB banks, one pixel with a left shift
    "gap_8x8_c16": lambda r: _gap("gap_8x8_c16", r, 16, (8, 8), 0),
    "gap_4x4_c11_x2": lambda r: _gap("gap_4x4_c11_x2", r, 11, (4, 4), 1),
    "gap_2x2_c9": lambda r: _gap("gap_2x2_c9", r, 9, (2, 2), 1),
    "gap_1x1_left": lambda r: _gap("gap_1x1_left", r, 8, (1, 1), 1),
    # residual add fused into a GEMM: skip aligned by << 2 (a and b in turn), rounding shift 1;
    # and a left shift (saturating) without a table
    "add_c11": lambda r: _residual("add_c11", r, 11, (4, 4), 3, 5, 4),
    "add_c16_left": lambda r: _residual("add_c16_left", r, 16, (2, 4), 5, 3, 6, act=False),
    # SE gating fused into the GEMM's input path (gate = GAP of the input); a gate shift past
    # the 16-bit product's width (negative products round to 0)
    "gate_c16": lambda r: _gate("gate_c16", r, 16, 11),
    "gate_gshift20": lambda r: _gate_large_shift("gate_gshift20", r),
    "gate_c11": lambda r: _gate("gate_c11", r, 11, 8, hw=(2, 2), gshift=5),
    # activation tables: every code through both slots in every post-processing lane (GEMM)
    # and every write-back lane (depthwise)
    "tables_gemm": lambda r: _tables_gemm("tables_gemm", r),
    "tables_dw": lambda r: _tables_dw("tables_dw", r),
}


def _gate_large_shift(name, rng, gshift=20):
    """SE gating with a gate shift of 20 (inside the contract's -16..31): every product
    ``|x * g| <= 2^14`` requantizes to 0, also the negative ones, which the 16-bit gate lane
    once turned into -1 (``round_shift`` lost the sign bits above its input's width)."""
    x = _codes(rng, (8, 2, 2))
    net = _Net(rng, x)
    f = net.f["input.q"]
    gt = net.gap("se.pool", "input.q", f_out=f, expect=())
    m = net.mul("se.mul", "input.q", gt, f_out=2 * f - gshift, expect=())
    net.conv("project", m, _codes(rng, (8, 8, 1, 1)), expect=())
    # what the case is for: every gated value is 0, and some products are negative
    assert (net.val[m] == 0).all() and (net.val["input.q"] * net.val[gt] < 0).any()
    return net.case(name)


def random_case(seed: int) -> LayerCase:
    """A single layer of a random kind with random shapes (channel counts 1..~70, maps from
    one pixel up, kernels, strides, exponents): the fixed cases aim at the edges, these at
    shapes nobody thought of. The edges they reach are counted but not required."""
    rng = np.random.default_rng([seed, 4242])
    kind = ["pw", "fc", "stem", "dw", "gap", "add", "gate"][seed % 7]
    name = f"random{seed}_{kind}"
    ri = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731 - inclusive bounds
    if kind == "pw":
        c = ri(1, 70)
        x = _codes(rng, (c, ri(1, 8), ri(1, 8)))
        net = _Net(rng, x)
        y = net.conv("pw", "input.q", _codes(rng, (ri(1, 50), c, 1, 1)))
        if rng.random() < 0.5:
            net.act("pw.act", y)
    elif kind == "fc":
        x = _codes(rng, (ri(1, 80), 1, 1))
        net = _Net(rng, x)
        net.conv("fc", "input.q", _codes(rng, (ri(1, 40), x.shape[0], 1, 1)), fc=True,
                 classifier=bool(rng.random() < 0.5))
    elif kind == "stem":
        k, st = int(rng.choice([3, 5])), ri(1, 2)
        x = _codes(rng, (ri(1, 4), ri(max(k, 2), 14), ri(max(k, 2), 14)))
        net = _Net(rng, x, f_in=7)
        total = max(k - st, 0)
        pads = (total // 2, total // 2, total - total // 2, total - total // 2)
        net.conv("stem", "input.q", _codes(rng, (ri(1, 24), x.shape[0], k, k)), stride=st,
                 pads=pads)
    elif kind == "dw":
        k, st = int(rng.choice([3, 5])), ri(1, 2)
        c = ri(1, 40)
        total = max(k - st, 0)
        lo = max(1, k - total)  # at least one output pixel
        x = _codes(rng, (c, ri(lo, 20), ri(lo, 20)))
        net = _Net(rng, x)
        pads = (total // 2, total // 2, total - total // 2, total - total // 2)
        y = net.conv("dw", "input.q", _codes(rng, (c, 1, k, k)), stride=st, pads=pads,
                     groups=c)
        if rng.random() < 0.5:
            net.act("dw.act", y)
    elif kind == "gap":
        hw = (1 << ri(0, 4), 1 << ri(0, 4))
        net = _Net(rng, _codes(rng, (ri(1, 40),) + hw))
        net.gap("gap", "input.q", f_out=net.f["input.q"] + ri(-1, 2))
    elif kind == "add":
        c = ri(1, 40)
        fa, fb = ri(2, 7), ri(2, 7)
        net = _Net(rng, _codes(rng, (c, ri(1, 6), ri(1, 6))), f_in=fb)
        y = net.conv("pw", "input.q", _codes(rng, (c, c, 1, 1)), f_out=fa)
        if rng.random() < 0.5:
            y = net.act("pw.act", y, f_out=fa)
        net.add("add", y, "input.q", f_out=max(fa, fb) - ri(-2, 6))
    else:  # gate: gap -> x * gate -> pointwise
        c = ri(1, 40)
        hw = (1 << ri(0, 3), 1 << ri(0, 3))
        net = _Net(rng, _codes(rng, (c,) + hw))
        f = net.f["input.q"]
        g = net.gap("se.pool", "input.q", f_out=f + ri(-1, 1))
        m = net.mul("se.mul", "input.q", g, f_out=2 * f - ri(2, 24))
        net.conv("project", m, _codes(rng, (ri(1, 30), c, 1, 1)))
    net.expect = {}
    return net.case(name)


def make_case(name: str, seed: int = 0) -> LayerCase:
    """The named case (see :data:`CASES`) with data from ``seed``."""
    return CASES[name](np.random.default_rng([seed, sum(map(ord, name))]))
