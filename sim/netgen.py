"""Random networks in the supported subset, built directly as IR (for tests and fuzzing).

:func:`random_block_net` makes a small MBConv-like network (stem, depthwise with a chosen kernel,
stride and map, squeeze-excitation, residual add, classifier) with random int8 weights, random
activation tables and shifts chosen from the actual accumulator spread, so that every layer
carries signal and some channels saturate. The integer reference defines the expected codes.
"""

from __future__ import annotations

import numpy as np

from hfaccel.sim import intops
from hfaccel.sim.ir import Graph, Layer

__all__ = ["random_block_net"]


def _shift_for(acc: np.ndarray, rng: np.random.Generator, axis=None) -> np.ndarray:
    """Per-channel shifts that map the accumulators' spread onto ~+-64, some saturating."""
    spread = np.percentile(np.abs(acc), 90, axis=axis) + 1
    s = np.round(np.log2(spread / 64)).astype(np.int64)
    s = s + rng.integers(-1, 2, size=np.shape(s))  # a few saturate, a few are small
    return np.clip(s, 0, 20)


class _Builder:
    def __init__(self, rng: np.random.Generator, x: np.ndarray, f_in: int):
        self.rng = rng
        self.layers: list[Layer] = []
        self.val: dict[str, np.ndarray] = {}
        self.f: dict[str, int] = {}
        inp = Layer("input", "input", (), "input.q", tuple(x.shape), f_in)
        self.layers.append(inp)
        self.val["input.q"] = x[None].astype(np.int64)
        self.f["input.q"] = f_in

    def _add(self, ly: Layer, value: np.ndarray) -> str:
        self.layers.append(ly)
        self.val[ly.output] = value
        self.f[ly.output] = ly.f_out
        return ly.output

    def conv(self, name: str, src: str, co: int, k: int, stride: int = 1, groups: int = 1,
             fc: bool = False) -> str:
        x = self.val[src]
        ci = x.shape[1]
        w = self.rng.integers(-128, 128, size=(co, ci // groups, k, k))
        b = self.rng.integers(-4000, 4000, size=co)
        total = max(k - stride, 0)  # TensorFlow 'SAME' on an even map: the extra pad goes last
        t = total // 2
        pads = (t, t, total - t, total - t)
        x4 = x.reshape(1, -1, 1, 1) if fc else x
        acc = intops.conv2d(x4, w, b, stride=stride, pads=pads, groups=groups)
        shift = _shift_for(acc[0].reshape(co, -1), self.rng, axis=1)
        f_in = self.f[src]
        f_out = int(self.rng.integers(2, 6))
        f_w = shift - f_in + f_out
        y = intops.requantize(acc, shift[None, :, None, None])
        shape = (co,) if fc and name == "classifier" else tuple(y.shape[1:])
        ly = Layer(name, "conv", (src,), f"{name}.q", shape, f_out, weight=w, bias=b,
                   f_w=f_w, stride=stride, pads=pads, groups=groups, f_in=(f_in,))
        return self._add(ly, y.reshape((1,) + shape))

    def act(self, name: str, src: str) -> str:
        t = self.rng.integers(-128, 128, size=256)
        f_out = int(self.rng.integers(2, 6))
        ly = Layer(name, "act", (src,), f"{name}.q", tuple(self.val[src].shape[1:]), f_out,
                   table=t, function="random", f_in=(self.f[src],))
        return self._add(ly, intops.lookup(t, self.val[src]))

    def gap(self, name: str, src: str) -> str:
        x = self.val[src]
        hw = x.shape[2] * x.shape[3]
        f_in = self.f[src]
        spread = np.abs(x.sum(axis=(2, 3))).max() / hw + 1
        f_out = f_in + int(np.clip(np.round(np.log2(64 / spread)), -3, 3))
        ly = Layer(name, "gap", (src,), f"{name}.q", (x.shape[1], 1, 1), f_out,
                   f_in=(f_in,), extra={"in_hw": hw})
        return self._add(ly, intops.global_avg_pool(x, f_in, f_out))

    def mul(self, name: str, a: str, g: str) -> str:
        fa, fg = self.f[a], self.f[g]
        f_out = fa + fg - int(self.rng.integers(5, 8))
        ly = Layer(name, "mul", (a, g), f"{name}.q", tuple(self.val[a].shape[1:]), f_out,
                   f_in=(fa, fg))
        return self._add(ly, intops.mul(self.val[a], fa, self.val[g], fg, f_out))

    def add(self, name: str, a: str, b: str) -> str:
        fa, fb = self.f[a], self.f[b]
        f_out = max(fa, fb) - int(self.rng.integers(0, 3))
        ly = Layer(name, "add", (a, b), f"{name}.q", tuple(self.val[a].shape[1:]), f_out,
                   f_in=(fa, fb))
        return self._add(ly, intops.add(self.val[a], fa, self.val[b], fb, f_out))


def random_block_net(seed: int, *, res: int = 16, c_stem: int = 16, expand: int = 2,
                     k: int = 3, stride: int = 1, classes: int = 10,
                     residual: bool = True) -> tuple[Graph, np.ndarray]:
    """(graph, float input (1, 3, res, res)) of a stem + one MBConv block + head + classifier."""
    rng = np.random.default_rng(seed)
    f_in = 5
    codes = rng.integers(-128, 128, size=(3, res, res))
    codes[0, 0, :4] = [-128, 127, -128, 127]  # extremes
    bld = _Builder(rng, codes, f_in)
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
    bld.conv("classifier", pooled, classes, 1, fc=True)
    graph = Graph(bld.layers, "input", (3, res, res), bld.layers[-1].output, source=f"seed{seed}")
    x_float = (codes * 2.0 ** -f_in).astype(np.float32)[None]
    return graph, x_float
