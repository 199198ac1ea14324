"""Random networks in the supported subset, built directly as IR (for tests and fuzzing).

:func:`random_block_net` makes a small MBConv-like network (stem, depthwise with a chosen kernel,
stride and map, squeeze-excitation, residual add, classifier) with random int8 weights, random
activation tables and shifts chosen from the actual accumulator spread, so that every layer
carries signal and some channels saturate. The integer reference defines the expected codes.
"""

from __future__ import annotations

import numpy as np

from hfaccel.quant import intops
from hfaccel.quant.ir import Graph, Layer

__all__ = ["IrBuilder", "random_block_net"]


def _shift_for(acc: np.ndarray, rng: np.random.Generator, axis=None) -> np.ndarray:
    """Per-channel shifts that map the accumulators' spread onto ~+-64, some saturating."""
    spread = np.percentile(np.abs(acc), 90, axis=axis) + 1
    s = np.round(np.log2(spread / 64)).astype(np.int64)
    s = s + rng.integers(-1, 2, size=np.shape(s))  # a few saturate, a few are small
    return np.clip(s, 0, 20)


class IrBuilder:
    """IR layers from explicit parameters, each with its value by the integer definitions
    (:mod:`hfaccel.quant.intops`), values without a batch axis.

    The one builder behind the random networks here and the single-layer edge cases of
    :mod:`support.layergen`, which differ only in how they choose the parameters."""

    def __init__(self, x: np.ndarray, f_in: int):
        self.x = np.asarray(x, np.int64)
        self.layers = [Layer("input", "input", (), "input.q", tuple(self.x.shape), f_in)]
        self.val: dict[str, np.ndarray] = {"input.q": self.x}
        self.f: dict[str, int] = {"input.q": f_in}

    def _add(self, ly: Layer, value: np.ndarray) -> str:
        self.layers.append(ly)
        self.val[ly.output] = value
        self.f[ly.output] = ly.f_out
        return ly.output

    def conv_acc(self, src: str, w: np.ndarray, bias=None, *, stride: int = 1,
                 pads=(0, 0, 0, 0), groups: int = 1, fc: bool = False) -> np.ndarray:
        """The int32 accumulators of a conv of ``src`` (``fc``: over its flattened values)."""
        x = self.val[src]
        x4 = x.reshape(-1, 1, 1) if fc else x
        return intops.conv2d(x4[None], w, bias, stride=stride, pads=pads, groups=groups)[0]

    def conv_layer(self, name: str, src: str, w: np.ndarray, bias, shift, f_out: int, *,
                   stride: int = 1, pads=(0, 0, 0, 0), groups: int = 1, fc: bool = False,
                   classifier: bool = False) -> str:
        co = w.shape[0]
        bias = np.asarray(bias, np.int64)
        shift = np.asarray(shift, np.int64)
        acc = self.conv_acc(src, w, bias, stride=stride, pads=pads, groups=groups, fc=fc)
        y = intops.requantize(acc, shift[:, None, None])
        shape = (co,) if classifier else tuple(y.shape)
        f_in = self.f[src]
        bound = int((np.abs(w.reshape(co, -1)).sum(1) * 128 + np.abs(bias)).max())
        ly = Layer(name, "conv", (src,), f"{name}.q", shape, f_out, weight=w.astype(np.int8),
                   bias=bias, f_w=shift - f_in + f_out, stride=stride, pads=tuple(pads),
                   groups=groups, f_in=(f_in,), acc_bound=bound)
        return self._add(ly, y.reshape(shape))

    def act_layer(self, name: str, src: str, table, f_out: int) -> str:
        t = np.asarray(table)
        ly = Layer(name, "act", (src,), f"{name}.q", tuple(self.val[src].shape), f_out,
                   table=t, function="random", f_in=(self.f[src],))
        return self._add(ly, intops.lookup(t, self.val[src]))

    def gap_layer(self, name: str, src: str, f_out: int) -> str:
        x = self.val[src]
        ly = Layer(name, "gap", (src,), f"{name}.q", (x.shape[0], 1, 1), f_out,
                   f_in=(self.f[src],), extra={"in_hw": x.shape[1] * x.shape[2]})
        return self._add(ly, intops.global_avg_pool(x[None], self.f[src], f_out)[0])

    def mul_layer(self, name: str, a: str, g: str, f_out: int) -> str:
        fa, fg = self.f[a], self.f[g]
        ly = Layer(name, "mul", (a, g), f"{name}.q", tuple(self.val[a].shape), f_out,
                   f_in=(fa, fg))
        return self._add(ly, intops.mul(self.val[a], fa, self.val[g], fg, f_out))

    def add_layer(self, name: str, a: str, b: str, f_out: int) -> str:
        fa, fb = self.f[a], self.f[b]
        ly = Layer(name, "add", (a, b), f"{name}.q", tuple(self.val[a].shape), f_out,
                   f_in=(fa, fb))
        return self._add(ly, intops.add(self.val[a], fa, self.val[b], fb, f_out))

    def graph(self, source: str) -> Graph:
        return Graph(self.layers, "input", tuple(self.x.shape), self.layers[-1].output,
                     source=source)


class _Random:
    """Random parameters for :class:`IrBuilder` layers: int8 weights, shifts from the
    accumulators' spread, random tables and exponents."""

    def __init__(self, rng: np.random.Generator, b: IrBuilder):
        self.rng, self.b = rng, b

    def conv(self, name: str, src: str, co: int, k: int, stride: int = 1, groups: int = 1,
             fc: bool = False, classifier: bool = False) -> str:
        ci = self.b.val[src].shape[0]
        w = self.rng.integers(-128, 128, size=(co, ci // groups, k, k))
        bias = self.rng.integers(-4000, 4000, size=co)
        total = max(k - stride, 0)  # TensorFlow 'SAME' on an even map: the extra pad goes last
        t = total // 2
        pads = (t, t, total - t, total - t)
        acc = self.b.conv_acc(src, w, bias, stride=stride, pads=pads, groups=groups, fc=fc)
        shift = _shift_for(acc.reshape(co, -1), self.rng, axis=1)
        f_out = int(self.rng.integers(2, 6))
        return self.b.conv_layer(name, src, w, bias, shift, f_out, stride=stride, pads=pads,
                                 groups=groups, fc=fc, classifier=classifier)

    def act(self, name: str, src: str) -> str:
        t = self.rng.integers(-128, 128, size=256)
        return self.b.act_layer(name, src, t, int(self.rng.integers(2, 6)))

    def gap(self, name: str, src: str) -> str:
        x = self.b.val[src]
        hw = x.shape[1] * x.shape[2]
        f_in = self.b.f[src]
        spread = np.abs(x.sum(axis=(1, 2))).max() / hw + 1
        f_out = f_in + int(np.clip(np.round(np.log2(64 / spread)), -3, 3))
        return self.b.gap_layer(name, src, f_out)

    def mul(self, name: str, a: str, g: str) -> str:
        f_out = self.b.f[a] + self.b.f[g] - int(self.rng.integers(5, 8))
        return self.b.mul_layer(name, a, g, f_out)

    def add(self, name: str, a: str, b: str) -> str:
        f_out = max(self.b.f[a], self.b.f[b]) - int(self.rng.integers(0, 3))
        return self.b.add_layer(name, a, b, f_out)


def random_block_net(seed: int, *, res: int = 16, c_stem: int = 16, expand: int = 2,
                     k: int = 3, stride: int = 1, classes: int = 10,
                     residual: bool = True) -> tuple[Graph, np.ndarray]:
    """(graph, float input (1, 3, res, res)) of a stem + one MBConv block + head + classifier."""
    rng = np.random.default_rng(seed)
    f_in = 5
    codes = rng.integers(-128, 128, size=(3, res, res))
    codes[0, 0, :4] = [-128, 127, -128, 127]  # extremes
    net = IrBuilder(codes, f_in)
    bld = _Random(rng, net)
    x = bld.conv("stem", "input.q", c_stem, 3, stride=2)
    x = bld.act("stem.act", x)
    c_exp = c_stem * expand
    e = bld.act("b.expand.act", bld.conv("b.expand", x, c_exp, 1))
    d = bld.act("b.dw.act", bld.conv("b.dw", e, c_exp, k, stride=stride, groups=c_exp))
    p = bld.gap("b.se.pool", d)
    r = bld.act("b.se.reduce.act", bld.conv("b.se.reduce", p, max(2, c_exp // 4), 1))
    g = bld.act("b.se.gate", bld.conv("b.se.expand", r, c_exp, 1))
    m = bld.mul("b.se.mul", d, g)
    y = bld.conv("b.project", m, c_stem, 1)
    if residual and stride == 1:
        y = bld.add("b.add", y, x)
    h = bld.act("head.act", bld.conv("head", y, 2 * c_stem, 1))
    pooled = bld.gap("pool", h)
    bld.conv("classifier", pooled, classes, 1, fc=True, classifier=True)
    graph = net.graph(f"seed{seed}")
    x_float = (codes * 2.0 ** -f_in).astype(np.float32)[None]
    return graph, x_float
