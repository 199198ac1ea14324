"""Brevitas models that follow the numeric contract (docs/numerics.md).

:func:`quantize_model` turns a float :class:`~hfaccel.model.net.EfficientNet` (a zoo model or a
user's model built from the same blocks) into a :class:`QuantEfficientNet`: BatchNorm folded into
the convolutions, the classifier centered over the classes (:func:`center_classifier`), int8
weights with power-of-two per-output-channel scales (full range -128..127, or -64..63 with
``weight_bits=7``: see :func:`weight_quant`), int32 biases at
scale ``s_x * s_w``, and an int8 power-of-two quantizer after every operation (conv, swish,
sigmoid gate, SE multiply, residual add, pooling, classifier).

Module names match the float model's (``stem``, ``blocks.3.expand``, ``blocks.3.se.reduce``, ...)
so ONNX nodes, IR layers and hardware reports carry the same names.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

# Brevitas warns at import about an optional CUDA kernel package that is irrelevant here.
warnings.filterwarnings("ignore", message="fast_hadamard_transform package not found")

import brevitas.nn as qnn  # noqa: E402
from brevitas.quant import Int32Bias  # noqa: E402
from brevitas.quant.fixed_point import (  # noqa: E402
    Int8ActPerTensorFixedPoint,
    Int8WeightPerChannelFixedPoint,
)
from brevitas.quant_tensor import _unpack_quant_tensor  # noqa: E402

from hfaccel.errors import HfaccelError  # noqa: E402
from hfaccel.model.net import ConvBNAct, EfficientNet, MBConv, SqueezeExcite  # noqa: E402
from hfaccel.model.spec import NetConfig  # noqa: E402

__all__ = ["QuantEfficientNet", "center_classifier", "fold_batchnorm", "quantize_model",
           "weight_quant"]


class Int8WeightPerChannelPoT(Int8WeightPerChannelFixedPoint):
    """Per-output-channel power-of-two int8 weights over the full range -128..127.

    Full range (not Brevitas' default narrow -127..127) so that -128 * -128 products occur and
    the hardware is tested on them; it also exports without a Clip node.
    """

    narrow_range = False


def weight_quant(bits: int = 8) -> type:
    """The weight quantizer for ``bits``-bit codes, -2^(bits-1)..2^(bits-1)-1, stored as int8.

    ``bits=8`` is the contract's full range. ``bits=7`` (-64..63) makes onnxruntime's optimized
    session exact on every x86 CPU: its uint8 x int8 kernels without VNNI add pairs of products
    in int16 with saturation, and 2 * 255 * 64 = 32640 fits where 2 * 255 * 127 does not. The
    hardware and the integer reference take any int8 codes, so nothing else changes.
    """
    if bits == 8:
        return Int8WeightPerChannelPoT
    if not isinstance(bits, int) or not 2 <= bits <= 8:
        raise HfaccelError(f"weight bits must be an integer from 2 to 8 (7 for exact "
                           f"onnxruntime on every x86 CPU), got {bits!r}")
    return type(f"Int{bits}WeightPerChannelPoT", (Int8WeightPerChannelPoT,), {"bit_width": bits})


ACT = Int8ActPerTensorFixedPoint  # signed int8, zero point 0, power-of-two scale


def _qid(return_quant_tensor: bool = True) -> qnn.QuantIdentity:
    return qnn.QuantIdentity(act_quant=ACT, return_quant_tensor=return_quant_tensor)


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias of ``bn(conv(x))`` as one convolution (eval-mode statistics)."""
    inv = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = conv.weight * inv.reshape(-1, 1, 1, 1)
    b = bn.bias - bn.running_mean * inv
    if conv.bias is not None:
        b = b + conv.bias * inv
    return w.detach().clone(), b.detach().clone()


class QConv(nn.Module):
    """Quantized conv (BN folded) -> int8; then, with ``act``, swish -> int8.

    Input must be a QuantTensor (the Int32 bias quantizer needs the input scale); the output is a
    QuantTensor so it can feed the next convolution directly.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                 act: bool = True, weight_bits: int = 8) -> None:
        super().__init__()
        self.conv = qnn.QuantConv2d(
            cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=True,
            weight_quant=weight_quant(weight_bits), bias_quant=Int32Bias, output_quant=ACT,
            return_quant_tensor=not act)
        self.act = nn.SiLU() if act else None
        self.act_quant = _qid() if act else None

    def forward(self, x):
        y = self.conv(x)
        if self.act is not None:
            y = self.act_quant(self.act(y))
        return y

    def load_float(self, w: torch.Tensor, b: torch.Tensor) -> None:
        with torch.no_grad():
            self.conv.weight.copy_(w)
            self.conv.bias.copy_(b)


class QSqueezeExcite(nn.Module):
    """mean -> int8 -> 1x1 conv -> swish -> 1x1 conv -> sigmoid -> int8 gate; x * gate -> int8."""

    def __init__(self, channels: int, squeeze: int, weight_bits: int = 8) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pool_quant = _qid()
        self.reduce = QConv(channels, squeeze, 1, weight_bits=weight_bits)
        self.expand = QConv(squeeze, channels, 1, act=False, weight_bits=weight_bits)
        self.gate = nn.Sigmoid()
        self.gate_quant = _qid(return_quant_tensor=False)
        self.mul_quant = _qid()

    def forward(self, x):
        g = self.expand(self.reduce(self.pool_quant(self.pool(x))))
        g = self.gate_quant(self.gate(_unpack_quant_tensor(g)))
        return self.mul_quant(_unpack_quant_tensor(x) * g)


class QMBConv(nn.Module):
    def __init__(self, block: MBConv, weight_bits: int = 8) -> None:
        super().__init__()
        cfg = self.cfg = block.cfg
        wb = weight_bits
        self.expand = QConv(cfg.in_ch, cfg.expand_ch, 1, weight_bits=wb) \
            if cfg.has_expand else None
        self.depthwise = QConv(cfg.expand_ch, cfg.expand_ch, cfg.kernel, cfg.stride,
                               groups=cfg.expand_ch, weight_bits=wb)
        self.se = QSqueezeExcite(cfg.expand_ch, cfg.se_ch, weight_bits=wb)
        self.project = QConv(cfg.expand_ch, cfg.out_ch, 1, act=False, weight_bits=wb)
        # The sum of two int8 tensors gets its own power-of-two scale.
        self.add_quant = _qid() if cfg.has_residual else None

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.se(self.depthwise(y)))
        if self.add_quant is not None:
            y = self.add_quant(_unpack_quant_tensor(y) + _unpack_quant_tensor(x))
        return y


class QuantEfficientNet(nn.Module):
    """The contract's integer network, in Brevitas fake-quantization (train and export)."""

    def __init__(self, cfg: NetConfig, blocks: list[MBConv], weight_bits: int = 8) -> None:
        super().__init__()
        self.cfg = cfg
        self.weight_bits = weight_bits
        self.input_quant = _qid()
        self.stem = QConv(3, cfg.stem_ch, 3, 2, weight_bits=weight_bits)
        self.blocks = nn.Sequential(*(QMBConv(b, weight_bits) for b in blocks))
        self.head = QConv(cfg.blocks[-1].out_ch, cfg.head_ch, 1, weight_bits=weight_bits)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pool_quant = _qid()
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = qnn.QuantLinear(
            cfg.head_ch, cfg.num_classes, bias=True, weight_quant=weight_quant(weight_bits),
            bias_quant=Int32Bias, output_quant=ACT, return_quant_tensor=False)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(self.input_quant(x))))
        x = torch.flatten(self.pool_quant(self.pool(x)), 1)
        return self.classifier(self.dropout(x) if self.training else x)


def _load(qconv: QConv, float_mod: ConvBNAct) -> None:
    qconv.load_float(*fold_batchnorm(float_mod.conv, float_mod.bn))


def quantize_model(model: EfficientNet, weight_bits: int = 8) -> QuantEfficientNet:
    """The contract-following Brevitas model of ``model``, with BatchNorm folded (eval stats),
    its weights quantized to ``weight_bits`` (:func:`weight_quant`).

    Its logits equal ``model``'s up to one offset per image (the classifier is centered), so its
    softmax and top-1 are ``model``'s.

    Activation scales are not set yet: run :func:`hfaccel.quant.calibrate.calibrate` next.
    """
    model = copy.deepcopy(model).eval()
    q = QuantEfficientNet(model.cfg, list(model.blocks), weight_bits)
    _load(q.stem, model.stem)
    for qb, fb in zip(q.blocks, model.blocks):
        if fb.expand is not None:
            _load(qb.expand, fb.expand)
        _load(qb.depthwise, fb.depthwise)
        _load(qb.project, fb.project)
        se: SqueezeExcite = fb.se
        qb.se.reduce.load_float(se.reduce.weight, se.reduce.bias)
        qb.se.expand.load_float(se.expand.weight, se.expand.bias)
    _load(q.head, model.head)
    with torch.no_grad():
        w, b = center_classifier(model.classifier.weight, model.classifier.bias)
        q.classifier.weight.copy_(w)
        q.classifier.bias.copy_(b)
    return q


def center_classifier(weight: torch.Tensor,
                      bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier with its class-mean row removed: same softmax and argmax, centered logits.

    Adding one vector ``v`` to every row (and one number to every bias) adds ``v . x + c`` to all
    logits of an input alike, which softmax, the cross-entropy loss and argmax ignore, so nothing
    in training pulls that component back; per-parameter optimizers (RMSProp) even let it drift.
    In a trained HF3 it dominated the logits (per-image common offset of std 40 against a spread
    of 2 between the classes), and a per-tensor int8 output quantizer spent its range on it: the
    output scale came out at 2^0..2^1, coarser than the differences between the classes. Removing
    it is exact for classification and lets the scale follow the differences only.
    """
    w = weight.detach()
    b = bias.detach()
    return (w - w.mean(0, keepdim=True)).clone(), (b - b.mean()).clone()
