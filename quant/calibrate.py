"""Post-training calibration on real images, the default weights, and per-layer signal health.

The default weights every other command uses are deterministic and carry real signal:

1. the float model is initialised from a seed;
2. BatchNorm statistics are re-estimated on real images (so every normalised pre-activation has
   unit variance on real data instead of on nothing);
3. BatchNorm is folded, and Brevitas' calibration sets every activation scale (a power of two)
   from the same images.

A bit-exact check on tensors that are all zeros or all saturated proves nothing, so
:func:`signal_health` reports the share of zero and saturated codes per quantized tensor and
flags degenerate ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hfaccel.model.net import EfficientNet, build_model
from hfaccel.model.spec import NetConfig
from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.quant.data import ImageData, load_data
from hfaccel.quant.defaults import DEFAULT_CALIBRATION
from hfaccel.quant.qmodel import QuantEfficientNet, quantize_model

__all__ = ["DEFAULT_CALIBRATION", "LayerHealth", "calibrate", "default_quant_model",
           "recalibrate_batchnorm", "signal_health"]



@torch.no_grad()
def recalibrate_batchnorm(model: EfficientNet, data: ImageData, *, batch: int = 16,
                          progress: Progress = NO_PROGRESS) -> None:
    """Replace BatchNorm running statistics by their exact average over ``data``."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: the exact mean over all batches
    model.train()
    for x, _ in progress.iter(data.batches(batch, model.cfg.resolution), "BatchNorm statistics",
                              math.ceil(len(data) / batch), "batch"):
        model(x)
    model.eval()


@torch.no_grad()
def calibrate(qmodel: QuantEfficientNet, data: ImageData, *, batch: int = 16,
              progress: Progress = NO_PROGRESS) -> None:
    """Set every activation quantizer's power-of-two scale from ``data`` (Brevitas PTQ)."""
    from brevitas.graph.calibrate import calibration_mode

    qmodel.eval()
    with calibration_mode(qmodel):
        for x, _ in progress.iter(data.batches(batch, qmodel.cfg.resolution),
                                  "activation scales", math.ceil(len(data) / batch), "batch"):
            qmodel(x)
    qmodel.eval()


def default_quant_model(cfg: NetConfig, *, seed: int = DEFAULT_CALIBRATION["seed"],
                        data: str = DEFAULT_CALIBRATION["data"],
                        images: int = DEFAULT_CALIBRATION["images"],
                        batch: int = DEFAULT_CALIBRATION["batch"],
                        weight_bits: int = 8,
                        progress: Progress = NO_PROGRESS) -> QuantEfficientNet:
    """Deterministic seeded weights, BN statistics and activation scales from real images."""
    calib = load_data(data, "train", limit=images, seed=seed)
    model = build_model(cfg, seed=seed)
    recalibrate_batchnorm(model, calib, batch=batch, progress=progress)
    qmodel = quantize_model(model, weight_bits)
    calibrate(qmodel, calib, batch=batch, progress=progress)
    return qmodel


@dataclass(frozen=True)
class LayerHealth:
    name: str
    elements: int
    zero: float  # share of zero codes
    saturated: float  # share of codes at -128 or 127
    distinct: int  # number of distinct codes seen

    @property
    def problem(self) -> str:
        """Why the tensor is degenerate ('' when it is healthy)."""
        if self.zero > 0.95:
            return f"{self.zero:.0%} zero codes"
        if self.saturated > 0.25:
            return f"{self.saturated:.0%} saturated codes"
        if self.distinct < 4:
            return f"only {self.distinct} distinct codes"
        return ""


def signal_health(tensors: dict[str, np.ndarray]) -> list[LayerHealth]:
    """Health of every int8 tensor (e.g. the integer reference's outputs), in order."""
    out = []
    for name, t in tensors.items():
        t = np.asarray(t)
        n = t.size
        out.append(LayerHealth(name, n, float((t == 0).sum() / n),
                               float(((t == 127) | (t == -128)).sum() / n),
                               int(np.unique(t).size)))
    return out
