"""The project's IR: an exported QCDQ ONNX graph lowered to a list of integer layers.

Every quantized tensor of the graph (the output of a ``QuantizeLinear``) becomes one layer that
produces it from earlier quantized tensors with one operation of the numeric contract:

=========  ==================================================================================
``input``  QuantizeLinear of the float graph input
``conv``   Conv or Gemm (a fully connected layer is a 1x1 conv on a 1x1 map): int8 weights,
           int32 bias, per-channel requantization shift
``act``    any element-wise unary function of one int8 tensor (swish, sigmoid, ...): a
           256-entry table, tabulated by onnxruntime on the graph's own nodes
``add``    sum of two int8 tensors (residual)
``mul``    product of two int8 tensors, broadcast over H x W (squeeze-excitation gating)
``gap``    global average pooling over a power-of-two H x W
=========  ==================================================================================

The integer reference (:mod:`hfaccel.quant.reference`) executes this list, and the accelerator
compiler consumes the same list: there is one lowering, not two. Anything outside the subset is an
:class:`~hfaccel.errors.HfaccelError` naming the ONNX node and what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from hfaccel.errors import HfaccelError

__all__ = ["Graph", "Layer", "OnnxError", "lower", "read_onnx", "tabulate"]

# Element-wise unary ops an activation table may be built from (with constant operands).
ELEMENTWISE = {"Sigmoid", "Mul", "Add", "Sub", "Div", "Relu", "LeakyRelu", "Tanh", "HardSigmoid",
               "HardSwish", "Clip", "Elu", "Selu", "Exp", "Neg", "Abs", "Softplus", "Min", "Max",
               "Identity", "Erf", "Sqrt", "Pow", "Gelu", "Mish"}
# Ops that may only compute a Reshape's target shape (``x.view(x.size(0), -1)`` exports them).
SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast"}
ACC_EXACT_LIMIT = 1 << 24  # float32 in onnxruntime is exact below this (docs/numerics.md)
ACC_INT32_LIMIT = 1 << 31


class OnnxError(HfaccelError):
    """The ONNX graph is outside the supported subset; the message names the node."""


@dataclass
class Layer:
    """One integer operation producing one int8 tensor ``output`` with exponent ``f_out``.

    The real value of a code ``q`` is ``q * 2**-f_out``; codes are int8, or uint8 where
    ``unsigned``. ``shape`` excludes the batch dimension and is (C, H, W) for feature maps, (C,)
    for the classifier's logits.
    """

    name: str
    op: str  # input | conv | act | add | mul | gap
    inputs: tuple[str, ...]
    output: str  # the ONNX name of the QuantizeLinear output (compare against onnxruntime)
    shape: tuple[int, ...]
    f_out: int
    nodes: tuple[str, ...] = ()  # ONNX nodes covered (for messages)
    # conv
    weight: np.ndarray | None = None  # int8 codes (Co, Ci/g, kh, kw)
    bias: np.ndarray | None = None  # int32 codes (Co,)
    f_w: np.ndarray | None = None  # per-output-channel weight exponents (Co,)
    stride: int = 1
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1
    acc_bound: int = 0  # max over channels of sum|w| * max|x| + |b| (max|x|: 128, uint8 255)
    # the output codes' range after requantization: a ReLU / ReLU6 / Clip between the conv and
    # its QuantizeLinear, folded (monotone functions commute with rounding and saturation)
    clamp: tuple[int, int] | None = None
    # act
    table: np.ndarray | None = None  # 256 int8 codes, indexed by input code + 128
    function: str = ""  # e.g. "swish", "sigmoid" (for people; the table is the definition)
    # inputs' exponents, filled at lowering (conv/act/add/mul/gap)
    f_in: tuple[int, ...] = ()
    # uint8 codes 0..255 (zero point 0, Brevitas' Uint8ActPerTensorFixedPoint) instead of int8
    unsigned: bool = False
    u_in: tuple[bool, ...] = ()  # the inputs' signedness, filled at lowering
    extra: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """Finer class for reports: stem/pointwise/depthwise/fc/conv, or the op."""
        if self.op != "conv":
            return self.op
        co, cg, kh, _ = self.weight.shape
        if self.groups > 1 and cg == 1:
            return "depthwise"
        if len(self.shape) == 1 or (self.shape[1:] == (1, 1) and kh == 1):
            return "fc"
        return "pointwise" if kh == 1 else "conv"

    @property
    def macs(self) -> int:
        if self.op != "conv":
            return 0
        hw = int(np.prod(self.shape[1:])) if len(self.shape) == 3 else 1
        return int(self.weight.size) * hw

    @property
    def shift(self) -> np.ndarray | int:
        """Requantization right shift (per channel for conv): exponent of the result - f_out."""
        if self.op == "conv":
            return self.f_in[0] + self.f_w - self.f_out
        if self.op == "add":
            return max(self.f_in) - self.f_out
        if self.op == "mul":
            return sum(self.f_in) - self.f_out
        if self.op == "gap":
            hw = self.extra["in_hw"]
            return int(np.log2(hw)) + self.f_in[0] - self.f_out
        return 0


@dataclass
class Graph:
    """The lowered network: layers in execution order, plus where it came from."""

    layers: list[Layer]
    input_name: str
    input_shape: tuple[int, ...]  # (C, H, W)
    output: str  # the final quantized tensor (logits)
    source: str = ""
    batch: int | None = None  # a fixed batch size of the ONNX input; None: dynamic

    def __getitem__(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name or layer.output == name:
                return layer
        raise KeyError(name)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def _exponent(scale: np.ndarray, node: onnx.NodeProto) -> np.ndarray:
    """``scale == 2**-f`` -> integer ``f``; anything else is an error naming the node."""
    s = np.asarray(scale, dtype=np.float64)
    if np.any(s <= 0) or not np.all(np.isfinite(s)):
        bad = s.reshape(-1)[~((s > 0) & np.isfinite(s)).reshape(-1)][0]
        raise OnnxError(f"node {node.name!r} ({node.op_type}): scale must be positive and "
                        f"finite, got {float(bad):.9g}")
    f = np.round(-np.log2(s)).astype(np.int64)
    if not np.array_equal(np.ldexp(1.0, -f), s):
        bad = s.reshape(-1)[np.ldexp(1.0, -f).reshape(-1) != s.reshape(-1)][0]
        raise OnnxError(f"node {node.name!r} ({node.op_type}): scale {float(bad):.9g} is not a "
                        "power of two (the contract allows only 2^-f scales)")
    return f


_QUANT_SUFFIX = re.compile(r"/export_handler/QuantizeLinear$")


def layer_name(node: onnx.NodeProto) -> str:
    """A readable layer name from a Brevitas QuantizeLinear node's scope.

    ``/blocks/blocks.9/se/reduce/act_quant/act_quant/export_handler/QuantizeLinear`` ->
    ``blocks.9.se.reduce.act``; ``.../conv/output_quant/...`` -> the conv module's name;
    ``/blocks/blocks.9/add_quant/act_quant/...`` -> ``blocks.9.add``; ``/relu/act_quant/...``
    (a QuantReLU or QuantIdentity) and ``/pool/trunc_quant/...`` (TruncAvgPool2d) -> the
    module's name. Other graphs keep the node's own name.
    """
    if not _QUANT_SUFFIX.search(node.name):
        return node.name or node.output[0]
    parts: list[str] = []
    for seg in _QUANT_SUFFIX.sub("", node.name).strip("/").split("/"):
        if parts and seg.startswith(parts[-1] + "."):  # torch scopes: blocks / blocks.9
            parts[-1] = seg
        else:
            parts.append(seg)
    if parts[-2:] == ["conv", "output_quant"]:
        parts = parts[:-2]
    elif parts[-1] == "output_quant":
        parts = parts[:-1]
    elif parts[-2:] == ["act_quant", "act_quant"]:
        parts = parts[:-2] + ["act"]
    elif len(parts) >= 2 and parts[-1] == "act_quant" and parts[-2].endswith("_quant"):
        parts = parts[:-2] + [parts[-2][:-len("_quant")]]
    elif len(parts) >= 2 and parts[-1] in ("act_quant", "trunc_quant"):
        parts = parts[:-1]  # a QuantIdentity / QuantReLU / TruncAvgPool2d module's own name
    return ".".join(parts) or node.name


class _Lowering:
    def __init__(self, model: onnx.ModelProto, source: str) -> None:
        self.model = model
        self.source = source
        g = model.graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in g.node:
            if n.op_type == "Constant":
                self.inits[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
                continue
            for o in n.output:
                self.producer[o] = n
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        # float tensor name -> (quantized tensor name, exponent) for activation DQ outputs
        self.dq_act: dict[str, tuple[str, int]] = {}
        self.layers: list[Layer] = []
        self.by_output: dict[str, Layer] = {}
        self.used: set[str] = set()
        self.unsigned_out = False  # the signedness of the QuantizeLinear being lowered

    # ---------------------------------------------------------------- helpers
    def const(self, name: str, node: onnx.NodeProto, what: str) -> np.ndarray:
        if name not in self.inits:
            raise OnnxError(f"node {node.name!r} ({node.op_type}): {what} {name!r} must be a "
                            "constant initializer (dynamic values are not supported)")
        return self.inits[name]

    def zero_point(self, node: onnx.NodeProto) -> None:
        if len(node.input) > 2 and node.input[2]:
            zp = self.const(node.input[2], node, "zero point")
            if np.any(zp != 0):
                raise OnnxError(f"node {node.name!r} ({node.op_type}): zero point must be 0, "
                                f"got {zp.reshape(-1)[:4].tolist()}")

    def qweight(self, name: str, consumer: onnx.NodeProto, what: str,
                bits: int) -> tuple[np.ndarray, np.ndarray, str]:
        """A DequantizeLinear of a constant int tensor -> (codes, exponents, DQ node name)."""
        dq = self.producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear":
            raise OnnxError(f"node {consumer.name!r} ({consumer.op_type}): the {what} must be a "
                            "DequantizeLinear of constant int codes (QCDQ), got "
                            f"{dq.op_type if dq else 'a float constant'}")
        src = dq.input[0]
        clip = self.producer.get(src)
        if clip is not None and clip.op_type == "Clip":  # Brevitas' narrow-range weights
            lo, hi = (self.const(i, clip, "clip bound") for i in clip.input[1:3])
            codes = np.clip(self.const(clip.input[0], clip, what), lo, hi)
        else:
            codes = self.const(src, dq, what)
        want = np.int8 if bits == 8 else np.int32
        if codes.dtype != want:
            raise OnnxError(f"node {dq.name!r}: the {what} of {consumer.name!r} must be "
                            f"{np.dtype(want).name} codes, got {codes.dtype}")
        self.zero_point(dq)
        f = _exponent(self.const(dq.input[1], dq, "scale"), dq)
        return codes.astype(np.int64), f, dq.name

    def act_input(self, name: str, consumer: onnx.NodeProto) -> tuple[str, int]:
        if name not in self.dq_act:
            p = self.producer.get(name)
            src = f"{p.op_type} {p.name!r}" if p else "the graph"
            raise OnnxError(f"node {consumer.name!r} ({consumer.op_type}): input {name!r} is not "
                            "a dequantized int8 tensor (every operation must read int8 tensors; "
                            f"it comes from {src})")
        return self.dq_act[name]

    def add(self, layer: Layer) -> None:
        layer.unsigned = self.unsigned_out
        layer.u_in = tuple(self.by_output[i].unsigned for i in layer.inputs)
        self.layers.append(layer)
        self.by_output[layer.output] = layer

    def xmax(self, a: str) -> int:
        """The largest |code| of tensor ``a``: 128 (int8) or 255 (uint8)."""
        return 255 if self.by_output[a].unsigned else 128

    def shape_of(self, q: str) -> tuple[int, ...]:
        return self.by_output[q].shape

    # ---------------------------------------------------------------- lowering
    def run(self) -> Graph:
        g = self.model.graph
        inputs = [i for i in g.input if i.name not in self.inits]
        if len(inputs) != 1:
            raise OnnxError(f"the graph must have exactly one input, has {len(inputs)}: "
                            f"{[i.name for i in inputs]}")
        inp = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in inp.type.tensor_type.shape.dim]
        if len(dims) != 4 or any(d is None or d <= 0 for d in dims[1:]):
            raise OnnxError(f"graph input {inp.name!r} must be NCHW with static C, H, W (only the "
                            f"batch may be dynamic), got {dims}")
        input_shape = tuple(dims[1:])
        batch = dims[0] if dims[0] is not None and dims[0] > 0 else None

        for node in g.node:
            op = node.op_type
            if op == "Constant":
                continue
            if op == "DequantizeLinear":
                if node.input[0] in self.inits or (
                        self.producer.get(node.input[0]) is not None
                        and self.producer[node.input[0]].op_type == "Clip"):
                    continue  # weights / bias: read by their consumer
                q = node.input[0]
                if q not in self.by_output:
                    raise OnnxError(f"node {node.name!r} (DequantizeLinear): input {q!r} is not "
                                    "produced by a QuantizeLinear of the graph")
                self.zero_point(node)
                f = int(_exponent(self.const(node.input[1], node, "scale"), node))
                if f != self.by_output[q].f_out:
                    raise OnnxError(f"node {node.name!r}: dequantizes {q!r} with scale 2^-{f} "
                                    f"but it was quantized with 2^-{self.by_output[q].f_out}")
                self.dq_act[node.output[0]] = (q, f)
            elif op == "QuantizeLinear":
                self.quantize(node, inp.name, input_shape)
            elif op in ("Clip",) and node.input[0] in self.inits:
                continue
            elif op in ("Conv", "Gemm", "Flatten", "Reshape", "GlobalAveragePool", "ReduceMean",
                        "AveragePool", "Add", "Mul", "Sigmoid") or op in ELEMENTWISE:
                continue  # consumed by the QuantizeLinear that follows
            elif op in SHAPE_OPS and self.only_shape(node):
                continue  # computes a Reshape's target shape (x.view(x.size(0), -1))
            else:
                raise OnnxError(unsupported(node))
        for o in g.output:
            p = self.producer.get(o.name)
            if p is not None and p.op_type not in ("QuantizeLinear", "DequantizeLinear"):
                raise OnnxError(f"node {p.name!r} ({p.op_type}) computes the graph output "
                                f"{o.name!r} without a QuantizeLinear after it: every result must "
                                "be quantized; give the last layer an output quantizer (Brevitas: "
                                "QuantLinear(..., output_quant=Int8ActPerTensorFixedPoint))")
        for node in g.node:
            if node.op_type != "Constant" and node.name not in self.used \
                    and node.op_type not in ("QuantizeLinear", "DequantizeLinear", "Clip") \
                    and node.op_type not in SHAPE_OPS:
                raise OnnxError(f"node {node.name!r} ({node.op_type}) is not followed by a "
                                "QuantizeLinear: its result would leave the int8 contract")
        outs = [o.name for o in g.output]
        last = self.layers[-1]
        final = None
        for o in outs:
            p = self.producer.get(o)
            if p is not None and p.op_type == "DequantizeLinear" and p.output[0] in self.dq_act:
                final = self.dq_act[p.output[0]][0]
            elif o in self.by_output:
                final = o
        return Graph(self.layers, inp.name, input_shape, final or last.output, self.source,
                     batch)

    def quantize(self, q: onnx.NodeProto, graph_input: str, input_shape) -> None:
        self.zero_point(q)
        self.unsigned_out = False
        if len(q.input) > 2 and q.input[2]:
            zp = self.const(q.input[2], q, "zero point")
            if zp.dtype not in (np.int8, np.uint8):
                raise OnnxError(f"node {q.name!r} (QuantizeLinear): output must be int8 or "
                                f"uint8, got {zp.dtype}")
            self.unsigned_out = zp.dtype == np.uint8
        f_arr = _exponent(self.const(q.input[1], q, "scale"), q)
        if f_arr.size != 1:
            raise OnnxError(f"node {q.name!r}: activations need one per-tensor scale, got "
                            f"{f_arr.size}")
        f = int(f_arr.reshape(-1)[0])
        name = layer_name(q)
        src = q.input[0]
        out = q.output[0]
        if src == graph_input:
            self.add(Layer(name if name != "input_quant" else "input", "input", (), out,
                           input_shape, f, (q.name,)))
            return
        p = self.producer.get(src)
        if p is None:
            raise OnnxError(f"node {q.name!r}: input {src!r} is not computed by the graph")
        self.used.add(p.name)
        clamp = self.clamp_chain(p, f) if p.op_type in ELEMENTWISE else None
        if clamp is not None:
            p, lo, hi, chain = clamp
            self.used.add(p.name)
            nodes = (p.name, *chain, q.name)
            n0 = len(self.layers)
            if p.op_type == "Conv":
                self.conv(p, q, name, f)
            else:
                self.gemm(p, q, name, f)
            ly = self.layers[n0]
            ly.clamp, ly.nodes = (lo, hi), nodes
            return
        if p.op_type == "Conv":
            self.conv(p, q, name, f)
        elif p.op_type == "Gemm":
            self.gemm(p, q, name, f)
        elif p.op_type in ("GlobalAveragePool", "ReduceMean", "AveragePool"):
            self.pool(p, q, name, f)
        elif p.op_type in ("Add", "Mul") and all(i in self.dq_act for i in p.input):
            (a, fa), (b, fb) = (self.act_input(i, p) for i in p.input)
            if p.input[0] == p.input[1]:
                raise OnnxError(f"node {p.name!r}: {p.op_type} of a tensor with itself")
            sa, sb = self.shape_of(a), self.shape_of(b)
            if p.op_type == "Add" and sa != sb:
                raise OnnxError(f"node {p.name!r} (Add): shapes {sa} and {sb} differ (only a "
                                "residual add of equal shapes is supported)")
            if p.op_type == "Mul":
                if len(sb) == 3 and sb[1:] == (1, 1) and len(sa) == 3 and sa[0] == sb[0]:
                    pass
                elif len(sa) == 3 and sa[1:] == (1, 1) and len(sb) == 3 and sa[0] == sb[0]:
                    (a, fa), (b, fb), sa = (b, fb), (a, fa), sb
                else:
                    raise OnnxError(f"node {p.name!r} (Mul): shapes {sa} x {sb}; only channel "
                                    "gating (C,H,W) x (C,1,1) is supported")
            self.add(Layer(name, p.op_type.lower(), (a, b), out, sa, f, (p.name, q.name),
                           f_in=(fa, fb)))
        elif p.op_type in ELEMENTWISE:
            self.activation(p, q, name, f)
        else:
            raise OnnxError(unsupported(p, f" before QuantizeLinear {q.name!r}"))

    def pool(self, p: onnx.NodeProto, q: onnx.NodeProto, name: str, f: int) -> None:
        """GlobalAveragePool, ReduceMean over (H, W) (``x.mean((2, 3))``), or an AveragePool
        whose window is the whole map (Brevitas' TruncAvgPool2d exports one): a global average
        pool, a sum and one shift for a power-of-two H*W."""
        attrs = {a.name: helper.get_attribute_value(a) for a in p.attribute}
        a, fa = self.act_input(p.input[0], p)
        c, h, w = self.shape_of(a)
        shape: tuple[int, ...] = (c, 1, 1)
        if p.op_type == "ReduceMean":
            axes = attrs.get("axes")
            if axes is None and len(p.input) > 1 and p.input[1]:  # opset 18: axes is an input
                axes = self.const(p.input[1], p, "axes").tolist()
            if axes is None or sorted(int(x) % 4 for x in axes) != [2, 3]:
                raise OnnxError(f"node {p.name!r} (ReduceMean): axes {axes} — only the mean over "
                                "H and W (axes (2, 3), global average pooling) is supported")
            if not attrs.get("keepdims", 1):
                shape = (c,)
        elif p.op_type == "AveragePool":
            k = list(attrs.get("kernel_shape", []))
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if k != [h, w] or any(pads) or attrs.get("ceil_mode", 0):
                raise OnnxError(f"node {p.name!r} (AveragePool): kernel {k}, pads {pads} on a "
                                f"{h}x{w} map — only a window of the whole map without padding "
                                "(global pooling: AvgPool2d/TruncAvgPool2d with kernel_size = "
                                "the last map) is supported")
        if (h * w) & (h * w - 1):
            raise OnnxError(f"node {p.name!r} ({p.op_type}): H*W = {h}x{w} = {h * w} "
                            "is not a power of two; pooling must be a shift (no divider)")
        self.add(Layer(name, "gap", (a,), q.output[0], shape, f, (p.name, q.name), f_in=(fa,),
                       extra={"in_hw": h * w}))

    def clamp_chain(self, p: onnx.NodeProto, f: int):
        """``p`` (element-wise, before a QuantizeLinear at exponent ``f``) reads a Conv or a
        Gemm directly, with no quantizer between: ``(conv node, lo, hi, chain node names)``
        where the chain is ReLU / Clip / Identity (folded into the requantization as a clamp of
        the codes); ``None`` when the element-wise nodes read dequantized tensors only (an
        ordinary activation table). Any other function of a float conv output is an error: a
        table needs int8 codes in."""
        nodes, convs, stack, seen = [], [], [p], set()
        while stack:
            n = stack.pop()
            if n.name in seen:
                continue
            seen.add(n.name)
            nodes.append(n)
            for i in n.input:
                if not i or i in self.inits or i in self.dq_act:
                    continue
                src = self.producer.get(i)
                if src is not None and src.op_type in ELEMENTWISE:
                    stack.append(src)
                elif src is not None and src.op_type in ("Conv", "Gemm"):
                    convs.append(src)
        if not convs:
            return None
        n = convs[0]
        chain = [c for c in self.model.graph.node if c.name in seen]
        simple = all(c.op_type in ("Relu", "Clip", "Identity") for c in chain)
        if not simple or len({c.name for c in convs}) != 1 or len(convs) != len(chain):
            bad = next((c for c in chain if c.op_type not in ("Relu", "Clip", "Identity")),
                       chain[0])
            raise OnnxError(f"node {bad.name!r} ({bad.op_type}) reads the float output of "
                            f"{n.op_type} {n.name!r} directly: only ReLU, ReLU6/Clip fold "
                            "into the requantization; quantize the conv's output first "
                            "(Brevitas: output_quant=Int8ActPerTensorFixedPoint, "
                            "return_quant_tensor=True) so the function reads int8 codes")
        lo, hi = -np.inf, np.inf
        for c in chain:
            if c.op_type == "Relu":
                lo = max(lo, 0.0)
            elif c.op_type == "Clip":
                attrs = {a.name: helper.get_attribute_value(a) for a in c.attribute}
                ins = list(c.input) + [""] * (3 - len(c.input))
                b_lo = float(self.const(ins[1], c, "clip bound")) if ins[1] else attrs.get("min")
                b_hi = float(self.const(ins[2], c, "clip bound")) if ins[2] else attrs.get("max")
                lo = max(lo, b_lo) if b_lo is not None else lo
                hi = min(hi, b_hi) if b_hi is not None else hi
            self.used.add(c.name)

        lo_c, hi_c = (0, 255) if self.unsigned_out else (-128, 127)

        def code(v: float) -> int:  # QuantizeLinear of a bound (monotone: commutes with clip)
            if not np.isfinite(v):
                return lo_c if v < 0 else hi_c
            return int(np.clip(np.rint(np.float32(v) * np.float32(2.0 ** f)), lo_c, hi_c))
        return n, code(lo), code(hi), [c.name for c in chain]

    def only_shape(self, node: onnx.NodeProto) -> bool:
        """Every path from ``node`` ends in a Reshape's shape input (its second)."""
        for o in node.output:
            for c in self.consumers.get(o, []):
                if c.op_type == "Reshape" and len(c.input) > 1 and c.input[1] == o \
                        and c.input[0] != o:
                    continue
                if c.op_type in SHAPE_OPS and self.only_shape(c):
                    continue
                return False
        return True

    def conv(self, p: onnx.NodeProto, q: onnx.NodeProto, name: str, f: int) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in p.attribute}
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise OnnxError(f"node {p.name!r} (Conv): auto_pad is not supported; export explicit "
                            "pads")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise OnnxError(f"node {p.name!r} (Conv): dilation {attrs['dilations']} is not "
                            "supported")
        strides = list(attrs.get("strides", [1, 1]))
        if strides[0] != strides[1]:
            raise OnnxError(f"node {p.name!r} (Conv): strides {strides} must be equal")
        a, fa = self.act_input(p.input[0], p)
        w, fw, _ = self.qweight(p.input[1], p, "weight", 8)
        if len(p.input) < 3 or not p.input[2]:
            b, fb = np.zeros(w.shape[0], np.int64), fa + fw
        else:
            b, fb, _ = self.qweight(p.input[2], p, "bias", 32)
        fw = np.broadcast_to(fw, (w.shape[0],)).astype(np.int64)
        self.check_bias(p, fa, fw, fb)
        groups = int(attrs.get("group", 1))
        c, h, wd = self.shape_of(a)
        if w.shape[1] * groups != c:
            raise OnnxError(f"node {p.name!r} (Conv): weight {w.shape} with group {groups} does "
                            f"not fit {c} input channels")
        pads = tuple(attrs.get("pads", [0, 0, 0, 0]))
        kh, kw = w.shape[2:]
        s = strides[0]
        ho = (h + pads[0] + pads[2] - kh) // s + 1
        wo = (wd + pads[1] + pads[3] - kw) // s + 1
        self.add(Layer(name, "conv", (a,), q.output[0], (w.shape[0], ho, wo), f,
                       (p.name, q.name), weight=w.astype(np.int8), bias=b.astype(np.int64),
                       f_w=fw, stride=s, pads=(pads[0], pads[1], pads[2], pads[3]),
                       groups=groups, acc_bound=self.bound(p, w, b, self.xmax(a)), f_in=(fa,)))

    def gemm(self, p: onnx.NodeProto, q: onnx.NodeProto, name: str, f: int) -> None:
        attrs = {a.name: helper.get_attribute_value(a) for a in p.attribute}
        if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 \
                or attrs.get("transA", 0) or not attrs.get("transB", 0):
            raise OnnxError(f"node {p.name!r} (Gemm): only alpha=1, beta=1, transA=0, transB=1 "
                            "(a Linear layer) is supported")
        x = p.input[0]
        fl = self.producer.get(x)
        if fl is not None and fl.op_type in ("Flatten", "Reshape"):
            self.used.add(fl.name)
            x = fl.input[0]
        a, fa = self.act_input(x, p)
        w, fw, _ = self.qweight(p.input[1], p, "weight", 8)
        b, fb, _ = self.qweight(p.input[2], p, "bias", 32)
        fw = np.broadcast_to(fw, (w.shape[0],)).astype(np.int64)
        self.check_bias(p, fa, fw, fb)
        shape = self.shape_of(a)
        if int(np.prod(shape)) != w.shape[1] or (len(shape) == 3 and shape[1:] != (1, 1)):
            raise OnnxError(f"node {p.name!r} (Gemm): input {shape} must be (C,1,1) or (C,) "
                            f"with C = {w.shape[1]}")
        self.add(Layer(name, "conv", (a,), q.output[0], (w.shape[0],), f, (p.name, q.name),
                       weight=w.reshape(w.shape[0], w.shape[1], 1, 1).astype(np.int8),
                       bias=b.astype(np.int64), f_w=fw, acc_bound=self.bound(p, w, b, self.xmax(a)),
                       f_in=(fa,)))

    @staticmethod
    def check_bias(p: onnx.NodeProto, fa: int, fw: np.ndarray, fb) -> None:
        if not np.array_equal(np.broadcast_to(fb, fw.shape), fa + fw):
            raise OnnxError(f"node {p.name!r} ({p.op_type}): bias scale must be s_x * s_w "
                            "(an Int32 bias quantizer); a float or independently scaled bias is "
                            "not exact in onnxruntime")

    @staticmethod
    def bound(p: onnx.NodeProto, w: np.ndarray, b: np.ndarray, xmax: int) -> int:
        wf = w.reshape(w.shape[0], -1)
        bound = int((np.abs(wf).sum(axis=1) * xmax + np.abs(b)).max())
        if bound >= ACC_INT32_LIMIT:
            raise OnnxError(f"node {p.name!r} ({p.op_type}): worst-case accumulator {bound} "
                            "overflows int32")
        return bound

    def activation(self, p: onnx.NodeProto, q: onnx.NodeProto, name: str, f: int) -> None:
        """Collect the element-wise nodes between one DQ tensor and ``q``; make a table."""
        nodes: list[onnx.NodeProto] = []
        sources: set[str] = set()
        stack = [p]
        seen = set()
        while stack:
            n = stack.pop()
            if n.name in seen:
                continue
            seen.add(n.name)
            if n.op_type not in ELEMENTWISE:
                raise OnnxError(f"node {n.name!r}: op {n.op_type} inside the activation before "
                                f"{q.name!r} is not element-wise")
            nodes.append(n)
            self.used.add(n.name)
            for i in n.input:
                if not i or i in self.inits:
                    continue
                if i in self.dq_act:
                    sources.add(i)
                elif i in self.producer and self.producer[i].op_type in ELEMENTWISE:
                    stack.append(self.producer[i])
                else:
                    raise OnnxError(f"node {n.name!r} ({n.op_type}): input {i!r} is neither "
                                    "a dequantized int8 tensor nor a constant")
        if len(sources) != 1:
            raise OnnxError(f"node {p.name!r}: an activation must be a function of exactly one "
                            f"int8 tensor, this one reads {len(sources)}")
        src = sources.pop()
        a, fa = self.dq_act[src]
        order = [n for n in self.model.graph.node if n.name in seen]
        ops = [n.op_type for n in order]
        fn = {("Sigmoid",): "sigmoid", ("Sigmoid", "Mul"): "swish"}.get(tuple(ops),
                                                                         "+".join(ops).lower())
        table = tabulate(order, src, p.output[0], fa, f, self.inits,
                         unsigned_in=self.by_output[a].unsigned, unsigned_out=self.unsigned_out)
        self.add(Layer(name, "act", (a,), q.output[0], self.shape_of(a), f,
                       tuple(n.name for n in order) + (q.name,), table=table, function=fn,
                       f_in=(fa,)))


# Ops outside the subset with a known fix: the message says how.
_FIXES = {
    "BatchNormalization": "merge BatchNorm into the convolution before quantization: fold it in "
                          "float (w * gamma / sqrt(var + eps), beta + (b - mean) * gamma / "
                          "sqrt(var + eps)) before building the quantized model, or with Brevitas "
                          "brevitas.nn.utils.merge_bn(conv, bn) / the graph transform "
                          "brevitas.graph.MergeBatchNorm, then export again",
    "MaxPool": "the engine has no max pooling: use a strided convolution, or an AvgPool2d/"
               "TruncAvgPool2d over the whole last map before the classifier",
    "AveragePool": "only an average pool over the whole map (global pooling) is supported",
    "MatMul": "export the classifier as a Linear (Gemm) with an Int32Bias bias quantizer",
    "Softmax": "leave Softmax out of the exported graph (apply it to the logits on the host)",
    "Concat": "concatenation is not supported by the engine",
    "Resize": "upsampling is not supported by the engine",
    "Upsample": "upsampling is not supported by the engine",
    "ConvTranspose": "transposed convolutions are not supported by the engine",
    "Quant": "this is a QONNX graph (FINN's format): convert it to QCDQ first",
}


def unsupported(node: onnx.NodeProto, where: str = "") -> str:
    """The one-line refusal of an op outside the subset, with the fix where one is known."""
    fix = _FIXES.get(node.op_type, "supported: Conv, Gemm, element-wise activations, Add, Mul, "
                     "GlobalAveragePool/ReduceMean over H,W/AveragePool over the whole map, "
                     "Flatten/Reshape before Gemm, between QuantizeLinear/DequantizeLinear pairs; "
                     "see docs/onnx.md")
    return f"node {node.name!r}: op {node.op_type}{where} is not in the supported subset ({fix})"


def tabulate(nodes: list[onnx.NodeProto], src: str, dst: str, f_in: int, f_out: int,
             inits: dict[str, np.ndarray], *, unsigned_in: bool = False,
             unsigned_out: bool = False) -> np.ndarray:
    """Run the activation's own nodes in onnxruntime over all 256 input codes -> a table of
    output codes, indexed by ``code + 128`` (by ``code`` for a uint8 input); int8 codes, uint8
    with ``unsigned_out``.

    The table is computed by the same engine and session that define the reference outputs
    (:data:`~hfaccel.quant.ort.GOLDEN`), so they cannot disagree (a float64 table differs from
    onnxruntime's float32 in a few entries).
    """
    from hfaccel.quant.ort import GOLDEN, session

    used = {i for n in nodes for i in n.input if i in inits}
    consts = [numpy_helper.from_array(inits[i], i) for i in sorted(used)]
    qs = numpy_helper.from_array(np.array(2.0 ** -f_out, np.float32), "__table_scale")
    qz = numpy_helper.from_array(np.array(0, np.uint8 if unsigned_out else np.int8),
                                 "__table_zp")
    g = helper.make_graph(
        list(nodes) + [helper.make_node("QuantizeLinear", [dst, "__table_scale", "__table_zp"],
                                        ["__table_out"])],
        "table", [helper.make_tensor_value_info(src, onnx.TensorProto.FLOAT, [256])],
        [helper.make_tensor_value_info("__table_out", onnx.TensorProto.UINT8 if unsigned_out
                                       else onnx.TensorProto.INT8, [256])],
        initializer=consts + [qs, qz])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    sess = session(m, GOLDEN)
    codes = (np.arange(0, 256) if unsigned_in else np.arange(-128, 128)).astype(np.float32) \
        * np.float32(2.0 ** -f_in)
    return sess.run(None, {src: codes})[0].astype(np.int64)


def read_onnx(path: str | Path) -> onnx.ModelProto:
    """An ONNX file, or a one-line :class:`OnnxError` saying why it cannot be read."""
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise OnnxError(f"ONNX file {source!r} "
                        f"{'is a directory' if p.is_dir() else 'does not exist'}")
    try:
        model = onnx.load(source)
    except Exception as e:  # noqa: BLE001 - protobuf raises several unrelated types
        raise OnnxError(f"cannot read ONNX file {source!r}: {e}") from None
    if not model.graph.node:  # protobuf parses an empty (or foreign) file as an empty model
        raise OnnxError(f"ONNX file {source!r} holds no graph (empty or not an ONNX model, "
                        f"{p.stat().st_size} bytes)")
    return model


def lower(model: onnx.ModelProto | str | Path) -> Graph:
    """Lower a QCDQ ONNX model (or a path to one) to the integer IR."""
    source = ""
    if isinstance(model, (str, Path)):
        source = str(model)
        model = read_onnx(model)
    q = next((n for n in model.graph.node if n.domain in ("qonnx.custom_op.general",
                                                           "finn.custom_op.general")), None)
    if q is not None:
        raise OnnxError(f"node {q.name!r}: op {q.op_type} ({q.domain}) — this is a QONNX graph "
                        "(FINN's format): convert it to QCDQ first (hfaccel.quant.qonnx."
                        "qonnx_to_qcdq; the CLI's --onnx does it itself)")
    return _Lowering(model, source).run()
