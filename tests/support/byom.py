"""Networks written by others, built with Brevitas in the test (no downloads): "bring your own
model" (issue 17).

* :func:`mobilenet_v1`: Brevitas' own example ``brevitas_examples.imagenet_classification.models.
  mobilenetv1.MobileNet`` (the installed wheel's class, not a copy), its quantizers swapped for
  fixed-point ones (``Int8WeightPerChannelFixedPoint`` weights, ``Uint8ActPerTensorFixedPoint``
  after each ReLU, or ``Int8ActPerTensorFixedPoint`` with ``unsigned=False``; an int8 input
  quantizer; an ``Int32Bias`` and an int8 output quantizer on the classifier) and its BatchNorm
  merged into the convolutions in float before quantization.
* :func:`se_net`: a small MBConv network with squeeze-excitation written as
  ``x.mean((2, 3), keepdim=True)``, ReLU6 (``nn.ReLU6``, exported as ``Clip``), HardSwish and
  HardSigmoid gates, a residual add, ``torch.flatten`` before the classifier.
* :func:`mobilenet_v2`: a MobileNetV2-style net: inverted residuals, ReLU6 folded into the
  convolutions' requantization, linear bottlenecks, ``AvgPool2d`` over the whole map.

Scales are calibrated by Brevitas (``calibration_mode``) on a few random images, weights are
random (seeded): the tests check exactness, not accuracy.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

warnings.filterwarnings("ignore", message="fast_hadamard_transform package not found")

import brevitas.nn as qnn  # noqa: E402
from brevitas.quant import Int32Bias  # noqa: E402
from brevitas.quant.fixed_point import (  # noqa: E402
    Int8ActPerTensorFixedPoint,
    Int8WeightPerChannelFixedPoint,
    Uint8ActPerTensorFixedPoint,
)
from brevitas.quant_tensor import _unpack_quant_tensor as _v  # noqa: E402

__all__ = ["calibrate", "export_qcdq", "fold_bn", "mobilenet_v1", "mobilenet_v2", "se_net"]


def fold_bn(conv: nn.Module, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The (weight, bias) of ``conv`` followed by ``bn`` in eval mode, in float."""
    std = torch.sqrt(bn.running_var + bn.eps)
    g = bn.weight / std
    w = conv.weight * g.reshape(-1, 1, 1, 1)
    b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return w.detach(), (bn.bias + (b - bn.running_mean) * g).detach()


def _act(unsigned: bool) -> type:
    return Uint8ActPerTensorFixedPoint if unsigned else Int8ActPerTensorFixedPoint


def _qconv(conv: nn.Conv2d, w: torch.Tensor, b: torch.Tensor, **kw) -> qnn.QuantConv2d:
    q = qnn.QuantConv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                        stride=conv.stride, padding=conv.padding, groups=conv.groups, bias=True,
                        weight_quant=Int8WeightPerChannelFixedPoint, bias_quant=Int32Bias, **kw)
    with torch.no_grad():
        q.weight.copy_(w)
        q.bias.copy_(b)
    return q


def _randomize_bn(model: nn.Module, gen: torch.Generator) -> None:
    """BatchNorm statistics as after training (not the identity of a fresh module), so that
    folding them changes the weights."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1 + 0.1)


class _WithInputQuant(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.input_quant = qnn.QuantIdentity(Int8ActPerTensorFixedPoint,
                                             return_quant_tensor=True)
        self.body = body

    def forward(self, x):
        return self.body(self.input_quant(x))


@torch.no_grad()
def mobilenet_v1(*, width: float = 0.25, resolution: int = 32, num_classes: int = 10,
                 unsigned: bool = True, seed: int = 0) -> nn.Module:
    """Brevitas' example MobileNetV1 (fixed-point quantizers, BN merged), see the module doc.

    The final pool's kernel is the last map (``resolution / 32``); the example's 7 is for 224.
    """
    from brevitas_examples.imagenet_classification.models import mobilenetv1 as ex

    torch.manual_seed(seed)
    channels = [[32], [64], [128, 128], [256, 256], [512] * 6, [1024, 1024]]
    channels = [[int(c * width) for c in cs] for cs in channels]
    net = ex.MobileNet(channels=channels, first_stage_stride=False, act_bit_width=8,
                       weight_bit_width=8, round_average_pool=True,
                       avg_pool_kernel_size=resolution // 32, num_classes=num_classes)
    _randomize_bn(net, torch.Generator().manual_seed(seed))
    net.eval()
    for block in [m for m in net.modules() if isinstance(m, ex.ConvBlock)]:
        w, b = fold_bn(block.conv, block.bn)
        block.conv = _qconv(block.conv, w, b)
        block.bn = nn.Identity()
        block.activation = qnn.QuantReLU(_act(unsigned), return_quant_tensor=True)
    old = net.output
    net.output = qnn.QuantLinear(old.in_features, old.out_features, bias=True,
                                 weight_quant=Int8WeightPerChannelFixedPoint,
                                 bias_quant=Int32Bias, output_quant=Int8ActPerTensorFixedPoint)
    with torch.no_grad():
        net.output.weight.copy_(old.weight)
        net.output.bias.copy_(old.bias)
    return _WithInputQuant(net).eval()


class _SEBlock(nn.Module):
    """expand 1x1 + ReLU6, depthwise 3x3 + HardSwish, SE (mean, reduce + ReLU, expand +
    HardSigmoid, multiply), project 1x1, residual add."""

    def __init__(self, c: int, e: int, unsigned: bool):
        super().__init__()
        a = _act(unsigned)
        kw = dict(bias=True, weight_quant=Int8WeightPerChannelFixedPoint, bias_quant=Int32Bias)
        q8 = dict(output_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.expand = qnn.QuantConv2d(c, e, 1, **kw)
        self.relu6 = nn.ReLU6()
        self.expand_q = qnn.QuantIdentity(a, return_quant_tensor=True)
        self.dw = qnn.QuantConv2d(e, e, 3, padding=1, groups=e, **kw, **q8)
        self.hswish = nn.Hardswish()
        self.hswish_q = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.pool_q = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.reduce = qnn.QuantConv2d(e, 8, 1, **kw)
        self.reduce_act = qnn.QuantReLU(a, return_quant_tensor=True)
        self.restore = qnn.QuantConv2d(8, e, 1, **kw, **q8)
        self.hsig = nn.Hardsigmoid()
        self.gate_q = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.mul_q = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.project = qnn.QuantConv2d(e, c, 1, **kw, **q8)
        self.add_q = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)

    def forward(self, x):
        y = self.expand_q(self.relu6(self.expand(x)))
        y = self.hswish_q(self.hswish(_v(self.dw(y))))
        s = self.pool_q(_v(y).mean((2, 3), keepdim=True))
        s = self.reduce_act(self.reduce(s))
        s = self.gate_q(self.hsig(_v(self.restore(s))))
        y = self.mul_q(_v(y) * _v(s))
        y = self.project(y)
        return self.add_q(_v(y) + _v(x))


class _SENet(nn.Module):
    def __init__(self, c: int, num_classes: int, unsigned: bool):
        super().__init__()
        self.input_quant = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.stem = qnn.QuantConv2d(3, c, 3, stride=2, padding=1, bias=True,
                                    weight_quant=Int8WeightPerChannelFixedPoint,
                                    bias_quant=Int32Bias, output_quant=Int8ActPerTensorFixedPoint,
                                    return_quant_tensor=True)
        self.block = _SEBlock(c, 2 * c, unsigned)
        self.pool_q = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(c, num_classes, bias=True,
                                  weight_quant=Int8WeightPerChannelFixedPoint,
                                  bias_quant=Int32Bias, output_quant=Int8ActPerTensorFixedPoint)

    def forward(self, x):
        x = self.block(self.stem(self.input_quant(x)))
        x = self.pool_q(_v(x).mean((2, 3), keepdim=True))
        return self.fc(torch.flatten(x, 1))


def se_net(*, channels: int = 16, num_classes: int = 10, unsigned: bool = True,
           seed: int = 0) -> nn.Module:
    """The squeeze-excitation net of the module docstring (random weights)."""
    torch.manual_seed(seed)
    return _SENet(channels, num_classes, unsigned).eval()


class _InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, expand: int, stride: int, unsigned: bool):
        super().__init__()
        e = c_in * expand
        a = _act(unsigned)
        kw = dict(bias=True, weight_quant=Int8WeightPerChannelFixedPoint, bias_quant=Int32Bias)
        self.expand = qnn.QuantConv2d(c_in, e, 1, **kw)
        self.expand_act = qnn.QuantReLU(a, return_quant_tensor=True, max_val=6.0)
        self.dw = qnn.QuantConv2d(e, e, 3, stride=stride, padding=1, groups=e, **kw)
        self.dw_act = nn.ReLU6()
        self.dw_q = qnn.QuantIdentity(a, return_quant_tensor=True)
        self.project = qnn.QuantConv2d(e, c_out, 1, output_quant=Int8ActPerTensorFixedPoint,
                                       return_quant_tensor=True, **kw)
        self.residual = stride == 1 and c_in == c_out
        if self.residual:
            self.add_q = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)

    def forward(self, x):
        y = self.expand_act(self.expand(x))
        y = self.dw_q(self.dw_act(self.dw(y)))
        y = self.project(y)
        return self.add_q(_v(y) + _v(x)) if self.residual else y


class _MobileNetV2(nn.Module):
    def __init__(self, resolution: int, num_classes: int, unsigned: bool):
        super().__init__()
        a = _act(unsigned)
        kw = dict(bias=True, weight_quant=Int8WeightPerChannelFixedPoint, bias_quant=Int32Bias)
        self.input_quant = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.stem = qnn.QuantConv2d(3, 16, 3, stride=2, padding=1, **kw)
        self.stem_act = qnn.QuantReLU(a, return_quant_tensor=True)
        # as in MobileNetV2, a residual block reads a linear bottleneck (int8), never the
        # ReLU'd stem: the first block changes the width
        self.blocks = nn.Sequential(_InvertedResidual(16, 24, 2, 1, unsigned),
                                    _InvertedResidual(24, 24, 2, 1, unsigned),
                                    _InvertedResidual(24, 32, 2, 2, unsigned),
                                    _InvertedResidual(32, 32, 2, 1, unsigned))
        self.head = qnn.QuantConv2d(32, 64, 1, **kw)
        self.head_act = qnn.QuantReLU(a, return_quant_tensor=True)
        self.pool = qnn.TruncAvgPool2d(kernel_size=resolution // 4, stride=1, bit_width=8,
                                       float_to_int_impl_type="ROUND")
        self.fc = qnn.QuantLinear(64, num_classes, output_quant=Int8ActPerTensorFixedPoint,
                                  **kw)

    def forward(self, x):
        x = self.stem_act(self.stem(self.input_quant(x)))
        x = self.head_act(self.head(self.blocks(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def mobilenet_v2(*, resolution: int = 16, num_classes: int = 10, unsigned: bool = True,
                 seed: int = 0) -> nn.Module:
    """The MobileNetV2-style net of the module docstring (random weights)."""
    torch.manual_seed(seed)
    return _MobileNetV2(resolution, num_classes, unsigned).eval()


@torch.no_grad()
def calibrate(model: nn.Module, resolution: int, *, images: int = 16, seed: int = 0) -> None:
    """Brevitas' activation calibration on random images in [-1, 1]."""
    from brevitas.graph.calibrate import calibration_mode

    g = torch.Generator().manual_seed(seed)
    model.eval()
    with calibration_mode(model):
        for _ in range(max(1, images // 8)):
            model(torch.rand(8, 3, resolution, resolution, generator=g) * 2 - 1)
    model.eval()


def export_qcdq(model: nn.Module, path: str | Path, resolution: int, *,
                dynamic_batch: bool = True) -> Path:
    """Calibrate, then export QCDQ ONNX with Brevitas (opset 13, as a user would)."""
    from brevitas.export import export_onnx_qcdq

    model = copy.deepcopy(model)
    calibrate(model, resolution)
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx_qcdq(model, args=torch.zeros(1, 3, resolution, resolution),
                         export_path=str(path), dynamo=False, opset_version=13,
                         input_names=["input"], output_names=["logits"],
                         dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}
                         if dynamic_batch else None)
    return path
