"""``torch.nn.Module`` s built from a :class:`~hfaccel.model.spec.NetConfig`.

Module names follow the config's layer names (``stem``, ``blocks.3.expand``, ``blocks.3.se.reduce``,
``head``, ``classifier``) so counts, quantized layers, ONNX nodes and accelerator reports all
refer to the same layer by the same name.

Padding is symmetric ``k // 2``: for odd kernels it gives the 'SAME' feature-map size
``ceil(H / stride)`` with a single Conv node (TF's asymmetric SAME padding would need an extra
Pad node and a second padding mode in the hardware for the same output size).
"""

from __future__ import annotations

import torch
from torch import nn

from hfaccel.model.spec import BlockConfig, NetConfig

__all__ = ["ConvBNAct", "EfficientNet", "MBConv", "SqueezeExcite", "build_model", "measure"]

# TF-EfficientNet's BatchNorm settings (decay 0.99 -> torch momentum 0.01, eps 1e-3).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class ConvBNAct(nn.Module):
    """Conv (no bias) -> BatchNorm -> optional SiLU (swish)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                 act: bool = True, bn_momentum: float = BN_MOMENTUM) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups,
                              bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=bn_momentum)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """x * sigmoid(expand(swish(reduce(mean_hw(x))))), with 1x1 convs that have biases."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze, 1, bias=True)
        self.act = nn.SiLU()
        self.expand = nn.Conv2d(squeeze, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample (training only)."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
    return x * mask / keep


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation (EfficientNet's block)."""

    def __init__(self, cfg: BlockConfig, drop_path_rate: float = 0.0,
                 bn_momentum: float = BN_MOMENTUM) -> None:
        super().__init__()
        self.cfg = cfg
        self.drop_path_rate = drop_path_rate
        self.expand = (ConvBNAct(cfg.in_ch, cfg.expand_ch, 1, bn_momentum=bn_momentum)
                       if cfg.has_expand else None)
        self.depthwise = ConvBNAct(cfg.expand_ch, cfg.expand_ch, cfg.kernel, cfg.stride,
                                   groups=cfg.expand_ch, bn_momentum=bn_momentum)
        self.se = SqueezeExcite(cfg.expand_ch, cfg.se_ch)
        self.project = ConvBNAct(cfg.expand_ch, cfg.out_ch, 1, act=False, bn_momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.se(self.depthwise(y)))
        if self.cfg.has_residual:
            y = x + drop_path(y, self.drop_path_rate, self.training)
        return y


class EfficientNet(nn.Module):
    """Stem -> MBConv blocks -> head 1x1 -> global average pool -> dropout -> classifier."""

    def __init__(self, cfg: NetConfig, drop_path_rate: float = 0.0,
                 bn_momentum: float = BN_MOMENTUM) -> None:
        super().__init__()
        self.cfg = cfg
        self.stem = ConvBNAct(3, cfg.stem_ch, 3, 2, bn_momentum=bn_momentum)
        n = len(cfg.blocks)
        # Stochastic depth grows linearly with block depth, as in EfficientNet.
        self.blocks = nn.Sequential(*(
            MBConv(b, drop_path_rate * b.index / n, bn_momentum) for b in cfg.blocks))
        self.head = ConvBNAct(cfg.blocks[-1].out_ch, cfg.head_ch, 1, bn_momentum=bn_momentum)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.head_ch, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(torch.flatten(self.pool(x), 1)))


def build_model(cfg: NetConfig, *, drop_path_rate: float = 0.0,
                bn_momentum: float = BN_MOMENTUM, seed: int | None = None) -> EfficientNet:
    """Build the torch model of ``cfg``; ``seed`` makes the initial weights deterministic."""
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = EfficientNet(cfg, drop_path_rate, bn_momentum)
        _init_weights(model)
    return model


def measure(model: nn.Module, resolution: int) -> tuple[int, int]:
    """Count ``(params, macs)`` of a torch model by running it, as the paper counts.

    Params are learnable parameters plus BatchNorm running mean and variance; MACs are those of
    every ``Conv2d`` and ``Linear`` weight (biases, BN, activations, pooling, the SE gating
    multiply and residual adds are not counted). Independent of :class:`NetConfig` arithmetic,
    so each checks the other.
    """
    params = sum(p.numel() for p in model.parameters())
    params += sum(m.running_mean.numel() + m.running_var.numel()
                  for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    macs = 0

    def hook(m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            macs += out[0].numel() * m.weight[0].numel()
        else:
            macs += m.weight.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, resolution, resolution))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return params, macs


def _init_weights(model: nn.Module) -> None:
    # EfficientNet's initialisation: fan-out normal for convs, uniform for the classifier.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.out_features ** 0.5
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
