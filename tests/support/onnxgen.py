"""Tiny QCDQ ONNX files written with ``onnx.helper`` (no torch, no Brevitas): for CLI tests.

:func:`tiny_qcdq` writes a network in the integer contract (power-of-two scales, int8 weights,
int32 biases at ``s_x * s_w``) that lowers to the IR and is bit-exact with onnxruntime, with
knobs that make it break one hardware limit at a time: a 7x7 depthwise kernel, two activations
in a row, a non-square input, a fixed batch size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["tiny_qcdq"]


def tiny_qcdq(path: str | Path, *, hw: tuple[int, int] = (8, 8), batch: int | None = None,
              channels: int = 8, dw_kernel: int = 3, double_act: bool = False,
              stem_scale: float | None = None, classes: int = 4, seed: int = 0) -> Path:
    """Write ``path``: stem 3x3 conv + ReLU, depthwise ``dw_kernel`` + ReLU (ReLU twice with
    ``double_act``), global average pool, classifier. ``batch=None`` is a dynamic batch axis;
    ``stem_scale`` replaces the stem output's 2^-4 (e.g. by a scale outside the contract)."""
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, value, dtype) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    zero = const("zp8", 0, np.int8)

    def qdq(src: str, name: str, f: int, scale: float | None = None) -> str:
        s = const(f"{name}.s", 2.0 ** -f if scale is None else scale, np.float32)
        nodes.append(helper.make_node("QuantizeLinear", [src, s, zero], [f"{name}.q"],
                                      name=f"{name}.Q"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}.q", s, zero],
                                      [f"{name}.dq"], name=f"{name}.DQ"))
        return f"{name}.dq"

    def weight(name: str, shape: tuple[int, ...], fw: int, fx: int) -> tuple[str, str]:
        w = const(f"{name}.w", rng.integers(-32, 33, size=shape), np.int8)
        ws = const(f"{name}.ws", 2.0 ** -fw, np.float32)
        nodes.append(helper.make_node("DequantizeLinear", [w, ws, zero], [f"{name}.wdq"],
                                      name=f"{name}.WDQ"))
        b = const(f"{name}.b", rng.integers(-64, 65, size=shape[0]), np.int32)
        bs = const(f"{name}.bs", 2.0 ** -(fw + fx), np.float32)
        nodes.append(helper.make_node("DequantizeLinear", [b, bs], [f"{name}.bdq"],
                                      name=f"{name}.BDQ"))
        return f"{name}.wdq", f"{name}.bdq"

    def relu(src: str, name: str) -> str:
        nodes.append(helper.make_node("Relu", [src], [f"{name}.r"], name=f"{name}.Relu"))
        return qdq(f"{name}.r", name, 4)

    h, w = hw
    c = channels
    x = qdq("input", "input", 7)
    wt, bt = weight("stem", (c, 3, 3, 3), 6, 7)
    nodes.append(helper.make_node("Conv", [x, wt, bt], ["stem.y"], name="stem.Conv",
                                  kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
    x = relu(qdq("stem.y", "stem", 4, stem_scale), "stem_act")
    if double_act:
        x = relu(x, "stem_act2")
    k = dw_kernel
    wt, bt = weight("dw", (c, 1, k, k), 6, 4)
    nodes.append(helper.make_node("Conv", [x, wt, bt], ["dw.y"], name="dw.Conv", group=c,
                                  kernel_shape=[k, k], pads=[k // 2] * 4, strides=[1, 1]))
    x = relu(qdq("dw.y", "dw", 4), "dw_act")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool.y"], name="pool.GAP"))
    x = qdq("pool.y", "pool", 4)
    nodes.append(helper.make_node("Flatten", [x], ["flat"], name="flat.Flatten", axis=1))
    wt, bt = weight("fc", (classes, c), 6, 4)
    nodes.append(helper.make_node("Gemm", ["flat", wt, bt], ["fc.y"], name="fc.Gemm", transB=1))
    nodes.append(helper.make_node("QuantizeLinear", ["fc.y", const("fc.s", 2.0 ** -3,
                                                                  np.float32), zero],
                                  ["logits.q"], name="fc.Q"))
    nodes.append(helper.make_node("DequantizeLinear", ["logits.q", "fc.s", zero], ["logits"],
                                  name="fc.DQ"))
    n = batch if batch is not None else "N"
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [n, 3, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [n, classes])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path
