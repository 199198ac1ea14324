"""The integer reference: executes the IR (:mod:`hfaccel.quant.ir`) in pure integer NumPy.

It is the golden model of the hardware: every layer's int8 output is defined here, op by op,
with the contract's integer operations (:mod:`hfaccel.quant.intops`). The only float operation is
quantizing the float input image (an exact scaling by a power of two, then round-half-to-even).
"""

from __future__ import annotations

import numpy as np

from hfaccel.errors import HfaccelError
from hfaccel.quant import intops
from hfaccel.quant.ir import Graph, Layer

__all__ = ["quantize_input", "run_layer", "run_reference"]


def quantize_input(x: np.ndarray, f: int, unsigned: bool = False) -> np.ndarray:
    """float -> int8 (uint8) codes at scale 2^-f: what QuantizeLinear does (float32 input,
    exact)."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    return intops.saturate(np.rint(x * 2.0 ** f), *intops.code_range(unsigned)).astype(np.int64)


def run_layer(layer: Layer, args: list[np.ndarray]) -> np.ndarray:
    """One layer on int64 code arrays (with batch dimension) -> int64 codes in int8 range."""
    if layer.op == "conv":
        (x,) = args
        x4 = x.reshape(x.shape[0], -1, 1, 1) if len(layer.shape) == 1 else x
        acc = intops.conv2d(x4, layer.weight, layer.bias, stride=layer.stride, pads=layer.pads,
                            groups=layer.groups)
        y = intops.requantize(acc, np.asarray(layer.shift)[None, :, None, None], layer.unsigned)
        if layer.clamp is not None:  # a ReLU / Clip folded into the requantization
            y = intops.saturate(y, *layer.clamp)
        return y.reshape(y.shape[0], -1) if len(layer.shape) == 1 else y
    if layer.op == "act":
        return intops.lookup(layer.table, args[0], bool(layer.u_in and layer.u_in[0]))
    if layer.op == "add":
        return intops.add(args[0], layer.f_in[0], args[1], layer.f_in[1], layer.f_out,
                          layer.unsigned)
    if layer.op == "mul":
        return intops.mul(args[0], layer.f_in[0], args[1], layer.f_in[1], layer.f_out,
                          layer.unsigned)
    if layer.op == "gap":
        y = intops.global_avg_pool(args[0], layer.f_in[0], layer.f_out, layer.unsigned)
        return y.reshape(y.shape[0], -1) if len(layer.shape) == 1 else y
    raise ValueError(f"layer {layer.name!r}: unknown op {layer.op!r}")


def run_reference(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every quantized tensor (by ONNX name) for a float input batch ``(N, C, H, W)``.

    Values are int8 codes (as int8 arrays; uint8 arrays for a uint8 tensor). Layers run in IR
    order.
    """
    x = np.asarray(x)
    if x.ndim != 4 or tuple(x.shape[1:]) != graph.input_shape:
        raise HfaccelError(f"input shape {tuple(x.shape)} does not match the model's "
                           f"(N, {', '.join(map(str, graph.input_shape))})")
    values: dict[str, np.ndarray] = {}
    for layer in graph.layers:
        if layer.op == "input":
            values[layer.output] = quantize_input(x, layer.f_out, layer.unsigned)
        else:
            values[layer.output] = run_layer(layer, [values[i] for i in layer.inputs])
    dtype = {ly.output: np.uint8 if ly.unsigned else np.int8 for ly in graph.layers}
    return {k: v.astype(dtype[k]) for k, v in values.items()}
