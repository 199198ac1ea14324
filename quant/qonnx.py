"""QONNX input (FINN's format, ``brevitas.export.export_qonnx``) converted to the QCDQ subset.

A QONNX ``Quant(x, scale, zeropt, bitwidth)`` node (domain ``qonnx.custom_op.general``, or
FINN's older ``finn.custom_op.general``) is ``q = clip(round(x / scale + zeropt))``, ``y = (q -
zeropt) * scale``: with ``rounding_mode`` ``ROUND`` (half to even, numpy's) it is exactly a
``QuantizeLinear`` / ``DequantizeLinear`` pair. So:

* a ``Quant`` of a constant (weights, biases) becomes its integer codes (int8 for up to 8 bits,
  int32 up to 32; ``narrow`` and ``bitwidth`` < 8 clip the codes) behind a
  ``DequantizeLinear`` (per-channel scales on axis 0);
* a ``Quant`` of an activation becomes ``QuantizeLinear`` → ``DequantizeLinear`` with an int8
  (``signed``) or uint8 zero point, for 8-bit activations only (the engine's codes).

Everything else in the contract (power-of-two scales, zero points of 0, ...) is then checked by
the ordinary lowering (:func:`hfaccel.quant.ir.lower`) on the converted graph, with the node
names kept. What has no QCDQ form is refused with a one-line :class:`OnnxError`: activations of
another bit width, other rounding modes, ``Trunc`` (``TruncAvgPool2d``: QONNX rounds twice),
``BipolarQuant``, ``MultiThreshold``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from hfaccel.quant.ir import OnnxError, read_onnx

__all__ = ["as_qcdq_file", "is_qonnx", "qonnx_to_qcdq"]

_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")


def is_qonnx(model: onnx.ModelProto) -> bool:
    """Whether ``model`` holds QONNX/FINN custom ops (and so needs :func:`qonnx_to_qcdq`)."""
    return any(n.domain in _DOMAINS for n in model.graph.node)


def _const(model_consts: dict, name: str, node: onnx.NodeProto, what: str) -> np.ndarray:
    if name not in model_consts:
        raise OnnxError(f"node {node.name!r} ({node.op_type}): {what} {name!r} must be a "
                        "constant")
    return model_consts[name]


def qonnx_to_qcdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """The QCDQ graph of a QONNX ``model`` (a new model; node and tensor names kept)."""
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    used_consts: set[str] = set()
    for n in g.node:
        if n.domain not in _DOMAINS:
            nodes.append(n)
            continue
        if n.op_type != "Quant":
            fix = {"Trunc": "TruncAvgPool2d's QONNX form rounds twice and has no QCDQ "
                            "equivalent; export the model with brevitas.export."
                            "export_onnx_qcdq instead"}.get(n.op_type, "no QCDQ equivalent")
            raise OnnxError(f"node {n.name!r}: QONNX op {n.op_type} cannot be converted to QCDQ "
                            f"({fix})")
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        mode = attrs.get("rounding_mode", b"ROUND")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "ROUND":
            raise OnnxError(f"node {n.name!r} (Quant): rounding_mode {mode} is not "
                            "QuantizeLinear's round half to even; quantize with ROUND")
        signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
        scale = _const(consts, n.input[1], n, "scale").astype(np.float32)
        zp = _const(consts, n.input[2], n, "zero point")
        bits = int(_const(consts, n.input[3], n, "bit width"))
        if np.any(zp != 0):
            raise OnnxError(f"node {n.name!r} (Quant): zero point must be 0, got "
                            f"{np.asarray(zp).reshape(-1)[:4].tolist()}")
        lo = -(1 << (bits - 1)) + narrow if signed else 0
        hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1 - narrow
        x, out = n.input[0], n.output[0]
        s_name, z_name = f"{out}__scale", f"{out}__zp"
        if x in consts:  # weights / bias: integer codes behind a DequantizeLinear
            if bits > 32 or (not signed and bits > 8):
                raise OnnxError(f"node {n.name!r} (Quant): a {bits}-bit "
                                f"{'signed' if signed else 'unsigned'} constant has no int8/int32 "
                                "form")
            dtype = np.int8 if bits <= 8 and signed else np.uint8 if bits <= 8 else np.int32
            codes = np.clip(np.rint(consts[x].astype(np.float32) / scale), lo, hi).astype(dtype)
            used_consts.add(x)
            c_name = f"{out}__codes"
            inits.append(numpy_helper.from_array(codes, c_name))
            kw = {}
            if scale.size > 1:
                kw["axis"] = int(np.argmax(scale.shape))
                scale = scale.reshape(-1)
            inits += [numpy_helper.from_array(scale.reshape(scale.shape or ()), s_name),
                      numpy_helper.from_array(np.zeros(scale.shape, dtype), z_name)]
            nodes.append(helper.make_node("DequantizeLinear", [c_name, s_name, z_name], [out],
                                          name=n.name, **kw))
            continue
        if bits != 8:
            raise OnnxError(f"node {n.name!r} (Quant): activations of {bits} bits; the engine "
                            "takes 8-bit codes (int8 or uint8)")
        if scale.size != 1:
            raise OnnxError(f"node {n.name!r} (Quant): activations need one per-tensor scale, "
                            f"got {scale.size}")
        if narrow:
            raise OnnxError(f"node {n.name!r} (Quant): narrow-range activations are not "
                            "supported (QuantizeLinear uses the full 8-bit range)")
        dtype = np.int8 if signed else np.uint8
        inits += [numpy_helper.from_array(scale.reshape(()), s_name),
                  numpy_helper.from_array(np.array(0, dtype), z_name)]
        # Brevitas' names end in /export_handler/Quant: the QCDQ names give the same layers
        base = n.name[:-len("Quant")] if n.name.endswith("/Quant") else n.name + "/"
        nodes.append(helper.make_node("QuantizeLinear", [x, s_name, z_name], [f"{out}__q"],
                                      name=base + "QuantizeLinear"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{out}__q", s_name, z_name], [out],
                                      name=base + "DequantizeLinear"))
    keep = [t for t in g.initializer if t.name not in used_consts]
    inputs = [i for i in g.input if i.name not in used_consts]  # initializers listed as inputs
    graph = helper.make_graph(nodes, g.name, inputs, g.output, initializer=keep + inits,
                              value_info=[])
    opsets = [o for o in model.opset_import if o.domain not in _DOMAINS]
    if not any(o.domain in ("", "ai.onnx") for o in opsets):
        opsets.append(helper.make_opsetid("", 13))
    else:
        for o in opsets:
            if o.domain in ("", "ai.onnx") and o.version < 13:
                o.version = 13  # per-channel DequantizeLinear (axis) needs opset 13
    out = helper.make_model(graph, opset_imports=opsets, producer_name="hfaccel qonnx_to_qcdq")
    out.ir_version = min(model.ir_version or 8, 8)
    return out


def as_qcdq_file(path: str | Path, out_dir: str | Path = "build/qonnx") -> Path:
    """``path`` itself for a QCDQ file; for a QONNX one, its conversion written to
    ``out_dir/<stem>.qcdq.onnx`` (what onnxruntime and the lowering then read)."""
    from hfaccel.files import atomic_write_bytes

    model = read_onnx(path)
    if not is_qonnx(model):
        return Path(path)
    out = Path(out_dir) / f"{Path(path).stem}.qcdq.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, qonnx_to_qcdq(model).SerializeToString())
    return out
