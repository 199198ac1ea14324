"""Training: the paper's recipe scaled to a 2-core CPU, float first, then quantization-aware.

Recipe (EfficientNet's, as the paper follows it): RMSProp (decay 0.9, momentum 0.9, eps 1e-3)
with TensorFlow's semantics (:class:`RMSpropTF`), label smoothing 0.1, linear warm-up then cosine
decay of the learning rate, an exponential moving average (EMA) of the weights used for
evaluation, dropout before the classifier. On offline data (``digits``, ``fashion-mnist``, an
image folder) at the model's resolution (or a capped one).

Phase 1 trains the float model (with BatchNorm). Phase 2 re-estimates the BatchNorm statistics
for the EMA weights, folds BatchNorm into the convolutions, calibrates the power-of-two
activation scales on training images (post-training quantization, PTQ) and fine-tunes the
Brevitas model (quantization-aware training, straight-through estimators). The checkpoint holds
both models, the history and the float / PTQ / int8 accuracies side by side. The PTQ and final
int8 accuracies are the integer reference's on the exported graph (:mod:`hfaccel.quant.accuracy`:
what the hardware computes); the per-epoch QAT accuracies of the history are the fake-quantization
model's (an export per epoch would cost more than the epoch).

Why TensorFlow's RMSProp and not ``torch.optim.RMSprop``: torch starts the squared-gradient
average at 0 and adds ``eps`` outside the square root, so its first steps move *every* weight by
about ``3 * lr`` whatever its gradient (``g / sqrt(0.1 g^2)``), and with momentum 0.9 by ten times
that. On a short run this threw HF3 off (epoch-1 loss 5.3 for 10 classes, logits of |400|, a
few images driving activations 50x above the median); such a float model loses most of its
accuracy to int8 (docs/numerics.md, "Calibration"). TF1's RMSProp, which EfficientNet was
trained with, starts the average at 1 and takes ``sqrt(ms + eps)``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from hfaccel.errors import HfaccelError
from hfaccel.model.net import EfficientNet, build_model
from hfaccel.model.spec import NetConfig, Scaling, scale
from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.quant.calibrate import calibrate, recalibrate_batchnorm
from hfaccel.quant.data import ImageData, load_data
from hfaccel.quant.qmodel import QuantEfficientNet, quantize_model

__all__ = ["Checkpoint", "RMSpropTF", "TrainConfig", "evaluate", "fit", "int8_accuracy_or_fake",
           "load_checkpoint", "train"]


@dataclass(frozen=True)
class TrainConfig:
    data: str = "digits"
    epochs: int = 3  # float epochs
    qat_epochs: int = 1
    batch: int = 32
    lr: float = 0.005  # RMSProp at batch 32 (0.016 diverged in the first epoch on digits)
    qat_lr_scale: float = 0.1
    warmup_epochs: float = 0.5
    label_smoothing: float = 0.1
    ema_decay: float = 0.99
    weight_decay: float = 1e-5
    limit: int | None = None  # cap on training images
    val_limit: int | None = None
    seed: int = 0
    calib_images: int = 64
    calibration: str = "brevitas"  # quant/calibrate.py's method for the PTQ scales
    bias_correction: str = "none"  # none, local or float (quant/calibrate.py)
    weight_bits: int = 8  # 7: exact in onnxruntime's fused kernels on every x86 CPU


class RMSpropTF(torch.optim.Optimizer):
    """RMSProp as TF1's ``RMSPropOptimizer`` (EfficientNet's optimizer, timm's ``RMSpropTF``).

    ``ms = alpha * ms + (1 - alpha) * g^2`` starting from ``ms = 1``;
    ``mom = momentum * mom + lr * g / sqrt(ms + eps)``; ``w -= mom``. Weight decay is L2 (added
    to the gradient), as in ``torch.optim.RMSprop``.
    """

    def __init__(self, params, lr: float = 0.01, alpha: float = 0.9, eps: float = 1e-3,
                 momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        if lr < 0 or eps < 0 or not 0 <= alpha < 1 or momentum < 0 or weight_decay < 0:
            raise ValueError("RMSpropTF: invalid hyper-parameter")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum,
                                  "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.ones_like(p)
                    state["momentum_buffer"] = torch.zeros_like(p)
                sq = state["square_avg"]
                sq.mul_(group["alpha"]).addcmul_(grad, grad, value=1 - group["alpha"])
                step = grad / sq.add(group["eps"]).sqrt_()
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(step, alpha=group["lr"])
                p.sub_(buf)
        return loss


class EMA:
    """Exponential moving average of a model's parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        # TF's warm-up of the decay: early averages must not be dominated by the random init.
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for e, m in zip(self.model.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(m.detach(), alpha=1 - d)
            else:
                e.copy_(m)


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageData, resolution: int, batch: int = 64) -> float:
    model.eval()
    correct = 0
    for x, y in data.batches(batch, resolution):
        correct += int((model(x).argmax(1) == y).sum())
    return correct / max(1, len(data))


def fit(model: nn.Module, ema: EMA, train_data: ImageData, val_data: ImageData,
         resolution: int, epochs: int, lr: float, tc: TrainConfig, phase: str,
         history: list, log, progress: Progress = NO_PROGRESS) -> None:
    """Train ``model`` for ``epochs`` (warm-up + cosine from ``lr``), updating ``ema``;
    one record per epoch (the EMA's validation accuracy) appended to ``history``."""
    if epochs <= 0:
        return
    opt = RMSpropTF(model.parameters(), lr=lr, alpha=0.9, eps=1e-3, momentum=0.9,
                    weight_decay=tc.weight_decay)
    steps_per_epoch = math.ceil(len(train_data) / tc.batch)
    total = epochs * steps_per_epoch
    warm = max(1, int(tc.warmup_epochs * steps_per_epoch))

    def lr_at(step: int) -> float:  # linear warm-up, then cosine decay
        if step < warm:
            return lr * (step + 1) / warm
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    loss_fn = nn.CrossEntropyLoss(label_smoothing=tc.label_smoothing)
    step = 0
    for epoch in range(epochs):
        model.train()
        t0, seen, loss_sum = time.time(), 0, 0.0
        batches = train_data.batches(tc.batch, resolution, shuffle=True, seed=tc.seed,
                                     epoch=len(history))
        with progress.bar(f"{phase} epoch {epoch + 1}/{epochs}", steps_per_epoch,
                          "batch") as bar:
            for x, y in batches:
                for g in opt.param_groups:
                    g["lr"] = lr_at(step)
                loss = loss_fn(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                ema.update(model)
                step += 1
                seen += len(y)
                loss_sum += float(loss.detach()) * len(y)
                bar.update(1)
                bar.set_postfix_str(f"loss {loss_sum / seen:.3f}", refresh=False)
        dt = time.time() - t0
        acc = evaluate(ema.model, val_data, resolution)
        rec = {"phase": phase, "epoch": epoch + 1, "loss": loss_sum / seen, "val_acc": acc,
               "images_per_s": seen / dt}
        history.append(rec)
        log(f"{phase} epoch {epoch + 1}/{epochs}: loss {rec['loss']:.3f}, val acc "
            f"{acc:.2%}, {rec['images_per_s']:.1f} images/s")


@dataclass
class Checkpoint:
    cfg: NetConfig
    train: TrainConfig
    float_model: EfficientNet
    qmodel: QuantEfficientNet
    history: list = field(default_factory=list)
    float_acc: float = 0.0
    int8_acc: float = 0.0  # the final int8 model's (after QAT, if any)
    ptq_acc: float | None = None  # int8 right after calibration, before QAT (None: not measured)
    # what measured the int8 accuracies: "integer reference" (the exported graph, as the
    # hardware computes it) or "fake quantization" (a model outside the contract: no export)
    int8_measured_by: str = "integer reference"

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": "hfaccel-checkpoint-1", "name": self.cfg.name,
                    "scaling": asdict(self.cfg.scaling), "num_classes": self.cfg.num_classes,
                    "train": asdict(self.train), "float": self.float_model.state_dict(),
                    "quant": self.qmodel.state_dict(), "history": self.history,
                    "float_acc": self.float_acc, "int8_acc": self.int8_acc,
                    "ptq_acc": self.ptq_acc, "int8_measured_by": self.int8_measured_by}, path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    p = Path(path)
    if not p.is_file():
        raise HfaccelError(f"checkpoint {str(p)!r} does not exist")
    try:
        d = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise HfaccelError(f"cannot read checkpoint {str(p)!r}: {e}") from None
    if not isinstance(d, dict) or d.get("format") != "hfaccel-checkpoint-1":
        raise HfaccelError(f"{str(p)!r} is not an hfaccel checkpoint")
    cfg = scale(Scaling(**d["scaling"]), name=d["name"], num_classes=d["num_classes"])
    float_model = build_model(cfg)
    float_model.load_state_dict(d["float"])
    tc = TrainConfig(**d["train"])
    qmodel = quantize_model(float_model, tc.weight_bits)
    qmodel.load_state_dict(d["quant"])
    qmodel.eval()
    return Checkpoint(cfg, tc, float_model.eval(), qmodel,
                      d["history"], d["float_acc"], d["int8_acc"], d.get("ptq_acc"),
                      d.get("int8_measured_by", "fake quantization"))


def int8_accuracy_or_fake(qmodel: QuantEfficientNet, data: ImageData, resolution: int, *,
                          log=print, progress: Progress = NO_PROGRESS) -> tuple[float, str]:
    """``(accuracy, what measured it)``: the integer reference on the exported graph
    (:func:`hfaccel.quant.accuracy.int8_accuracy`, the hardware's numbers); a model the contract
    cannot export (e.g. a resolution whose pooled maps are not 2^k pixels) falls back to the
    fake-quantization model, and ``log`` says why."""
    from hfaccel.quant.accuracy import int8_accuracy

    try:
        return int8_accuracy(qmodel, data, progress=progress), "integer reference"
    except HfaccelError as e:
        log(f"note: int8 accuracy measured on the fake-quantization model, not the integer "
            f"reference: the model does not export ({e})")
        return evaluate(qmodel, data, resolution), "fake quantization"


def train(cfg: NetConfig, tc: TrainConfig, *, resolution: int | None = None,
          log=print, progress: Progress = NO_PROGRESS) -> Checkpoint:
    """Float training, BN folding, calibration and QAT of ``cfg`` on ``tc.data``; ``progress``
    sees every batch."""
    train_data = load_data(tc.data, "train", limit=tc.limit, seed=tc.seed,
                           resolution=cfg.resolution)
    val_data = load_data(tc.data, "val", limit=tc.val_limit, seed=tc.seed,
                         resolution=cfg.resolution)
    if cfg.num_classes != train_data.num_classes:
        cfg = scale(cfg.scaling, name=cfg.name, num_classes=train_data.num_classes,
                    dropout=cfg.dropout)
    res = resolution or cfg.resolution
    if res != cfg.resolution:  # a capped input resolution is a different network input
        cfg = scale(Scaling(cfg.scaling.width, cfg.scaling.depth, res, cfg.scaling.hf),
                    name=cfg.name, num_classes=cfg.num_classes, dropout=cfg.dropout)
    torch.manual_seed(tc.seed)
    # Short runs: BN statistics must follow the weights quickly (TF's 0.99 decay lags).
    model = build_model(cfg, seed=tc.seed, bn_momentum=0.1)
    ema = EMA(model, tc.ema_decay)
    history: list = []
    fit(model, ema, train_data, val_data, res, tc.epochs, tc.lr, tc, "float", history, log,
         progress)
    float_model = ema.model
    if tc.epochs > 0:
        # The EMA's BatchNorm statistics are an average of the live model's running statistics,
        # i.e. of other weights than the EMA's: re-estimate them for the weights that are folded.
        recalibrate_batchnorm(float_model, train_data, batch=tc.batch, progress=progress)
    float_acc = evaluate(float_model, val_data, res)

    qmodel = quantize_model(float_model, tc.weight_bits)
    calibrate(qmodel, train_data.subset(tc.calib_images, tc.seed), method=tc.calibration,
              bias_correction=tc.bias_correction, progress=progress)
    ptq_acc, measured = int8_accuracy_or_fake(qmodel, val_data, res, log=log, progress=progress)
    log(f"post-training quantization: val acc {ptq_acc:.2%} (float {float_acc:.2%}; {measured})")
    qema = EMA(qmodel, tc.ema_decay)
    fit(qmodel, qema, train_data, val_data, res, tc.qat_epochs, tc.lr * tc.qat_lr_scale, tc,
         "qat", history, log, progress)
    int8_acc = ptq_acc
    if tc.qat_epochs > 0:
        qmodel = qema.model
        int8_acc, measured = int8_accuracy_or_fake(qmodel, val_data, res, log=log,
                                                   progress=progress)
    log(f"{cfg.name} on {tc.data}: float accuracy {float_acc:.2%}, int8 accuracy {int8_acc:.2%}"
        f" (PTQ {ptq_acc:.2%}; {measured} on {len(val_data)} validation images)")
    return Checkpoint(cfg, tc, float_model, qmodel, history, float_acc, int8_acc, ptq_acc,
                      measured)
