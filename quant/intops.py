"""Integer operations of the numeric contract (docs/numerics.md), in NumPy int64.

These are the golden definitions: the integer reference executes networks with them, and every
hardware unit has its RTL checked against them. All tensors are NCHW; activations are int8 or
uint8 codes (zero point 0), weights int8 codes, accumulators int64 here (int32 in hardware; the
contract bounds them).

A tensor with exponent ``f`` holds the real value ``code * 2**-f``. Moving an accumulator from
exponent ``f_acc`` to ``f_out`` is ``requantize(acc, f_acc - f_out)``: an arithmetic right shift
with round-half-to-even (a left shift for a negative amount), then saturation to int8 —
exactly ONNX ``QuantizeLinear`` of the exact real value for a power-of-two scale.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "INT8_MAX",
    "INT8_MIN",
    "UINT8_MAX",
    "code_range",
    "add",
    "conv2d",
    "global_avg_pool",
    "lookup",
    "mul",
    "requantize",
    "round_shift",
    "saturate",
]

INT8_MIN, INT8_MAX = -128, 127
UINT8_MAX = 255


def code_range(unsigned: bool = False) -> tuple[int, int]:
    """The codes of a tensor: int8 -128..127, or uint8 0..255 (zero point 0 either way)."""
    return (0, UINT8_MAX) if unsigned else (INT8_MIN, INT8_MAX)


def round_shift(acc: np.ndarray, shift: int | np.ndarray) -> np.ndarray:
    """``acc * 2**-shift`` rounded half to even; ``shift`` may be per element (broadcast).

    A negative shift multiplies by ``2**-shift`` (exact). int64 in and out.
    """
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    right = np.maximum(shift, 0)
    left = np.maximum(-shift, 0)
    q = acc >> right  # floor division by 2**right
    rem = acc - (q << right)
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    up = (right > 0) & ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    return (q + up) << left


def saturate(x: np.ndarray, lo: int = INT8_MIN, hi: int = INT8_MAX) -> np.ndarray:
    return np.clip(x, lo, hi)


def requantize(acc: np.ndarray, shift: int | np.ndarray, unsigned: bool = False) -> np.ndarray:
    """Round-half-to-even shift then saturate to int8 (uint8 with ``unsigned``), returned as
    int64 values in range."""
    return saturate(round_shift(acc, shift), *code_range(unsigned))


def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, *, stride: int = 1,
           pads: tuple[int, int, int, int] = (0, 0, 0, 0), groups: int = 1) -> np.ndarray:
    """Integer convolution ``(N, C, H, W) * (Co, C/g, kh, kw) + bias`` -> int64 accumulators.

    ``pads`` is ONNX order (top, left, bottom, right); zero padding (zero point is 0).
    A fully connected layer is a 1x1 convolution on a 1x1 map.
    """
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    n, c, _, _ = x.shape
    co, cg, kh, kw = w.shape
    top, left, bottom, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    ho = (xp.shape[2] - kh) // stride + 1
    wo = (xp.shape[3] - kw) // stride + 1
    if groups == c and cg == 1:  # depthwise: one k x k window per channel, no im2col needed
        m = co // c
        acc = np.zeros((n, co, ho, wo), dtype=np.int64)
        xr = np.repeat(xp, m, axis=1) if m > 1 else xp
        for i in range(kh):
            for j in range(kw):
                win = xr[:, :, i:i + stride * (ho - 1) + 1:stride,
                         j:j + stride * (wo - 1) + 1:stride]
                acc += win * w[:, 0, i, j][None, :, None, None]
    else:
        # windows: (N, C, Ho, Wo, kh, kw)
        win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
        win = win[:, :, :ho, :wo]
        outs = []
        cog = co // groups
        for g in range(groups):
            wg = w[g * cog:(g + 1) * cog]  # (cog, cg, kh, kw)
            xg = win[:, g * cg:(g + 1) * cg]  # (N, cg, Ho, Wo, kh, kw)
            outs.append(np.einsum("nchwij,ocij->nohw", xg, wg, optimize=True))
        acc = np.concatenate(outs, axis=1) if groups > 1 else outs[0]
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)[None, :, None, None]
    return acc


def lookup(table: np.ndarray, x: np.ndarray, unsigned_in: bool = False) -> np.ndarray:
    """Element-wise activation: ``table[code + 128]`` for a 256-entry table of output codes
    (``table[code]`` for a uint8 input)."""
    table = np.asarray(table, dtype=np.int64)
    if table.shape != (256,):
        raise ValueError(f"an activation table has 256 entries, got shape {table.shape}")
    return table[np.asarray(x, dtype=np.int64) + (0 if unsigned_in else 128)]


def add(a: np.ndarray, fa: int, b: np.ndarray, fb: int, f_out: int,
        unsigned: bool = False) -> np.ndarray:
    """Residual add: align both to the finer exponent by a left shift, add, requantize."""
    f = max(fa, fb)
    acc = (np.asarray(a, np.int64) << (f - fa)) + (np.asarray(b, np.int64) << (f - fb))
    return requantize(acc, f - f_out, unsigned)


def mul(a: np.ndarray, fa: int, b: np.ndarray, fb: int, f_out: int,
        unsigned: bool = False) -> np.ndarray:
    """Gating multiply (broadcasting, e.g. (N,C,H,W) * (N,C,1,1)): exact product, requantize."""
    acc = np.asarray(a, np.int64) * np.asarray(b, np.int64)
    return requantize(acc, fa + fb - f_out, unsigned)


def global_avg_pool(x: np.ndarray, f_in: int, f_out: int, unsigned: bool = False) -> np.ndarray:
    """Mean over H x W for a power-of-two H*W: integer sum, one round-half-to-even shift."""
    x = np.asarray(x, np.int64)
    hw = x.shape[2] * x.shape[3]
    if hw & (hw - 1):
        raise ValueError(f"global average pooling needs a power-of-two H*W, got "
                         f"{x.shape[2]}x{x.shape[3]} = {hw}")
    acc = x.sum(axis=(2, 3), keepdims=True)
    return requantize(acc, hw.bit_length() - 1 + f_in - f_out, unsigned)
