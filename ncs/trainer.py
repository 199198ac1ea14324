"""Training one candidate, one epoch at a time, resumable from a checkpoint after any epoch.

The recipe is the float phase of :mod:`hfaccel.quant.train` (the paper's, scaled to this
machine): TF1's RMSProp (:class:`~hfaccel.quant.train.RMSpropTF`, decay 0.9, momentum 0.9,
eps 1e-3), label smoothing, linear warm-up then cosine decay, an EMA of the weights that is what
gets evaluated, BatchNorm momentum 0.1 for short runs, and the same
:class:`~hfaccel.quant.train.TrainConfig` hyper-parameters. Two things differ because NCS stops
and resumes candidates:

* the learning-rate schedule spans the **full budget** of the search (``total_epochs``), so a
  candidate eliminated after two rounds has followed exactly the first epochs of the run it would
  have had (the paper's curves are epochs of 350-epoch schedules);
* everything that decides the next epoch (weights, EMA, optimizer state, step count, history) is
  in :meth:`CandidateTrainer.state_dict`, and the random streams (dropout, stochastic depth) are
  re-seeded from ``(seed, epoch)`` at each epoch start, as the data order already is. An epoch
  resumed from a checkpoint is therefore the epoch an uninterrupted run trains.

Checkpoints are written atomically (:mod:`hfaccel.files`: temporary file, fsync,
``os.replace``), so a process killed at any moment, even by SIGKILL, leaves either the previous
or the new complete file.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import time
from pathlib import Path

import torch
from torch import nn

from hfaccel.errors import HfaccelError
from hfaccel.files import atomic_path
from hfaccel.model.net import build_model
from hfaccel.model.spec import NetConfig
from hfaccel.quant.data import ImageData, load_data
from hfaccel.quant.train import EMA, RMSpropTF, TrainConfig

__all__ = ["CHECKPOINT_FORMAT", "CandidateTrainer", "atomic_save", "datasets", "default_device",
           "evaluate_on", "export_checkpoint", "load_state"]

# 2: TF1's RMSProp (RMSpropTF) instead of torch's; a format-1 run cannot be continued
CHECKPOINT_FORMAT = "hfaccel-ncs-candidate-2"
BN_MOMENTUM = 0.1  # as quant/train.py: BN statistics must follow the weights in short runs


def default_device() -> str:
    """``cuda`` where a GPU is visible, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=4)
def datasets(data: str, limit: int | None, val_limit: int | None, seed: int,
             resolution: int | None) -> tuple[ImageData, ImageData]:
    """Train and validation data, loaded once per process (Ray workers reuse theirs too)."""
    return (load_data(data, "train", limit=limit, seed=seed, resolution=resolution),
            load_data(data, "val", limit=val_limit, seed=seed, resolution=resolution))


@torch.no_grad()
def evaluate_on(model: nn.Module, data: ImageData, resolution: int, device: str,
                batch: int = 64) -> float:
    """Top-1 accuracy (``hfaccel.quant.train.evaluate``, with inputs moved to ``device``)."""
    model.eval()
    correct = 0
    for x, y in data.batches(batch, resolution):
        correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
    return correct / max(1, len(data))


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2 ** 63)


class CandidateTrainer:
    """The float training of ``cfg`` under ``tc``'s recipe over ``total_epochs`` epochs."""

    def __init__(self, cfg: NetConfig, tc: TrainConfig, *, total_epochs: int,
                 device: str = "cpu") -> None:
        if total_epochs < 1:
            raise HfaccelError(f"total epochs must be >= 1, got {total_epochs}")
        self.cfg, self.tc, self.total_epochs, self.device = cfg, tc, total_epochs, device
        self.model = build_model(cfg, seed=tc.seed, bn_momentum=BN_MOMENTUM).to(device)
        self.ema = EMA(self.model, tc.ema_decay)
        # TF1's RMSProp, as quant/train.py: torch's moves every weight by ~3 lr on the first
        # steps whatever its gradient, and the candidates it trained had squeeze-excitation
        # pre-activations in the hundreds that no int8 scale holds (docs/numerics.md,
        # "Calibration").
        self.opt = RMSpropTF(self.model.parameters(), lr=tc.lr, alpha=0.9, eps=1e-3,
                             momentum=0.9, weight_decay=tc.weight_decay)
        self.step = 0
        self.history: list[dict] = []

    @property
    def epoch(self) -> int:
        """Epochs finished so far."""
        return len(self.history)

    def _lr_at(self, step: int, steps_per_epoch: int) -> float:
        # quant/train.py's schedule, over the whole budget: linear warm-up, then cosine decay.
        total = self.total_epochs * steps_per_epoch
        warm = max(1, int(self.tc.warmup_epochs * steps_per_epoch))
        if step < warm:
            return self.tc.lr * (step + 1) / warm
        return self.tc.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    def train_epoch(self, train_data: ImageData, val_data: ImageData) -> dict:
        """Train one epoch, evaluate the EMA weights, append and return the history record."""
        if self.epoch >= self.total_epochs:
            raise HfaccelError(f"{self.cfg.name}: all {self.total_epochs} epochs are trained")
        tc, res = self.tc, self.cfg.resolution
        torch.manual_seed(_epoch_seed(tc.seed, self.epoch))
        loss_fn = nn.CrossEntropyLoss(label_smoothing=tc.label_smoothing)
        steps_per_epoch = math.ceil(len(train_data) / tc.batch)
        self.model.train()
        t0, seen, loss_sum, lr = time.time(), 0, 0.0, 0.0
        for x, y in train_data.batches(tc.batch, res, shuffle=True, seed=tc.seed,
                                       epoch=self.epoch):
            x, y = x.to(self.device), y.to(self.device)
            lr = self._lr_at(self.step, steps_per_epoch)
            for g in self.opt.param_groups:
                g["lr"] = lr
            loss = loss_fn(self.model(x), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.ema.update(self.model)
            self.step += 1
            seen += len(y)
            loss_sum += float(loss.detach()) * len(y)
        train_s = time.time() - t0
        acc = evaluate_on(self.ema.model, val_data, res, self.device)
        rec = {"epoch": self.epoch + 1, "loss": loss_sum / max(1, seen), "val_acc": acc,
               "lr": lr, "seconds": time.time() - t0, "images_per_s": seen / max(train_s, 1e-9),
               "device": self.device, "host": socket.gethostname(), "pid": os.getpid()}
        self.history.append(rec)
        return rec

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this trainer is (tensors on the CPU)."""
        def cpu(sd):
            return {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in sd.items()}

        opt = self.opt.state_dict()
        opt = {"state": {k: cpu(v) for k, v in opt["state"].items()},
               "param_groups": opt["param_groups"]}
        return {"format": CHECKPOINT_FORMAT, "name": self.cfg.name, "epoch": self.epoch,
                "total_epochs": self.total_epochs, "step": self.step,
                "history": [dict(h) for h in self.history],
                "model": cpu(self.model.state_dict()), "ema": cpu(self.ema.model.state_dict()),
                "ema_updates": self.ema.updates, "optimizer": opt}

    def load_state_dict(self, state: dict) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise HfaccelError(f"not an NCS candidate checkpoint (format "
                               f"{state.get('format')!r})")
        if state["total_epochs"] != self.total_epochs:
            raise HfaccelError(f"{self.cfg.name}: checkpoint was trained on a "
                               f"{state['total_epochs']}-epoch schedule, this run has "
                               f"{self.total_epochs}")
        self.model.load_state_dict(state["model"])
        self.ema.model.load_state_dict(state["ema"])
        self.ema.updates = state["ema_updates"]
        self.opt.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.history = [dict(h) for h in state["history"]]


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` through :func:`hfaccel.files.atomic_path`: never a partial file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_state(path: Path) -> dict:
    """A candidate checkpoint (memory-mapped: reading only the history stays cheap)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise HfaccelError(f"cannot read NCS checkpoint {str(path)!r}: {e}") from None
    if not isinstance(state, dict) or not str(state.get("format", "")).startswith(
            "hfaccel-ncs-candidate-"):
        raise HfaccelError(f"{str(path)!r} is not an NCS candidate checkpoint")
    if state["format"] != CHECKPOINT_FORMAT:
        raise HfaccelError(f"{str(path)!r} was trained by an older hfaccel (format "
                           f"{state['format']!r}, now {CHECKPOINT_FORMAT!r}: another optimizer); "
                           f"start the search over with --fresh or pick another --run")
    return state


def export_checkpoint(state: dict, cfg: NetConfig, tc: TrainConfig, train_data: ImageData,
                      val_data: ImageData, path: Path, *, qat_epochs: int = 0,
                      log=lambda s: None) -> dict:
    """Save a trained candidate as a :class:`hfaccel.quant.train.Checkpoint` at ``path``.

    As ``hfaccel train`` with no QAT epochs: the EMA weights are the float model, their
    BatchNorm statistics are re-estimated on the training images (the EMA's running statistics
    average the *live* weights', not its own), BatchNorm is folded and the activation scales are
    calibrated on ``tc.calib_images`` training images, so ``hfaccel quantize --checkpoint PATH``
    and ``check-reference`` take it as they are. With ``qat_epochs`` the quantized model is
    then fine-tuned as ``hfaccel train``'s QAT phase (learning rate ``tc.lr * tc.qat_lr_scale``,
    EMA) and the checkpoint holds the fine-tuned one.

    Returns ``{"search_acc", "float_acc", "ptq_acc", "qat_acc", "int8_acc", "qat_epochs",
    "int8_measured_by"}``: the search's last accuracy (EMA weights with their running
    statistics), the float model that is quantized, and the integer reference's accuracies on
    ``val_data`` after calibration and after QAT (``None`` without QAT); ``int8_acc`` is the
    checkpoint's (QAT's, else PTQ's).
    """
    from dataclasses import replace

    from hfaccel.quant.calibrate import calibrate, recalibrate_batchnorm
    from hfaccel.quant.qmodel import quantize_model
    from hfaccel.quant.train import EMA, Checkpoint, fit, int8_accuracy_or_fake

    float_model = build_model(cfg, bn_momentum=BN_MOMENTUM)
    float_model.load_state_dict(state["ema"])
    float_model.eval()
    res = cfg.resolution
    search_acc = state["history"][-1]["val_acc"] if state["history"] else None
    recalibrate_batchnorm(float_model, train_data, batch=tc.batch)
    float_acc = evaluate_on(float_model, val_data, res, "cpu")
    qmodel = quantize_model(float_model, tc.weight_bits)
    calibrate(qmodel, train_data.subset(tc.calib_images, tc.seed), method=tc.calibration,
              bias_correction=tc.bias_correction)
    ptq_acc, measured = int8_accuracy_or_fake(qmodel, val_data, res, log=log)
    history = [{"phase": "float", "epoch": h["epoch"], "loss": h["loss"], "val_acc": h["val_acc"],
                "images_per_s": h["images_per_s"]} for h in state["history"]]
    qat_acc = None
    if qat_epochs > 0:
        torch.manual_seed(tc.seed)
        qema = EMA(qmodel, tc.ema_decay)
        fit(qmodel, qema, train_data, val_data, res, qat_epochs, tc.lr * tc.qat_lr_scale, tc,
            "qat", history, log)
        qmodel = qema.model
        qat_acc, measured = int8_accuracy_or_fake(qmodel, val_data, res, log=log)
    int8_acc = ptq_acc if qat_acc is None else qat_acc
    ck = Checkpoint(cfg, replace(tc, epochs=state["epoch"], qat_epochs=qat_epochs), float_model,
                    qmodel, history, float_acc, int8_acc, ptq_acc, measured)
    with atomic_path(path) as tmp:
        ck.save(tmp)
    return {"search_acc": search_acc, "float_acc": float_acc, "ptq_acc": ptq_acc,
            "qat_acc": qat_acc, "int8_acc": int8_acc, "qat_epochs": qat_epochs,
            "int8_measured_by": measured}
