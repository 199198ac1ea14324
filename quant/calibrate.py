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
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hfaccel.errors import HfaccelError
from hfaccel.model.net import EfficientNet, build_model
from hfaccel.model.spec import NetConfig
from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.quant.data import ImageData, load_data
from hfaccel.quant.defaults import (
    BIAS_CORRECTIONS,
    CALIBRATION_METHODS,
    DEFAULT_CALIBRATION,
    PERCENTILE,
)
from hfaccel.quant.qmodel import QuantEfficientNet, quantize_model

__all__ = ["BIAS_CORRECTIONS", "CALIBRATION_METHODS", "DEFAULT_CALIBRATION", "LayerHealth",
           "bias_correction_mode", "calibrate", "choose_exponents", "choose_exponents_by_output",
           "correct_biases", "correct_biases_to_float",
           "default_quant_model", "exponent_of", "recalibrate_batchnorm", "set_exponent",
           "signal_health"]


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


def _run(qmodel: nn.Module, data: ImageData, batch: int, what: str,
         progress: Progress) -> None:
    for x, _ in progress.iter(data.batches(batch, qmodel.cfg.resolution), what,
                              math.ceil(len(data) / batch), "batch"):
        qmodel(x)


def _act_quantizers(qmodel: nn.Module) -> dict[str, nn.Module]:
    """The activation quantizers whose exponent calibration chooses, by module name: all but
    the input's (images in [-1, 1]: Brevitas' choice is kept, the same for every method)."""
    from brevitas.proxy.runtime_quant import ActQuantProxyFromInjector

    return {n: m for n, m in qmodel.named_modules()
            if isinstance(m, ActQuantProxyFromInjector) and m.fused_activation_quant_proxy
            is not None and not n.startswith("input_quant.")}


def exponent_of(quantizer: nn.Module) -> int:
    """The power-of-two exponent ``f`` (scale ``2^-f``) of an activation quantizer."""
    return int(round(-math.log2(float(quantizer.scale().detach()))))


def set_exponent(quantizer: nn.Module, f: int) -> None:
    """Give an int8 activation quantizer the scale ``2^-f``.

    Brevitas' fixed-point quantizer learns ``v = log2(threshold)`` and uses the scale
    ``2^ceil(v) / 2^7``; ``v`` is set half-way below the integer so that ``ceil`` is exact (and
    QAT starts from the middle of the exponent's interval). An exported model's quantizers
    cache the last output they produced (and report its scale): the cache is dropped.
    """
    impl = quantizer.fused_activation_quant_proxy.tensor_quant.scaling_impl
    quantizer._cached_act = None
    f0 = exponent_of(quantizer)
    c0 = math.ceil(float(impl.value.detach()))
    with torch.no_grad():
        impl.value.fill_(c0 + (f0 - f) - 0.5)
    quantizer._cached_act = None
    if exponent_of(quantizer) != f:  # the quantizer is not the contract's fixed-point one
        raise RuntimeError(f"cannot set exponent {f} (got {exponent_of(quantizer)})")


class _ExponentStats:
    """Per quantizer: squared error of every candidate exponent, and a sample of |x|."""

    def __init__(self, f0: int, span: tuple[int, int], sample: int, seed: int) -> None:
        self.fs = list(range(f0 - span[0], f0 + span[1] + 1))
        self.sse = torch.zeros(len(self.fs), dtype=torch.float64)
        self.samples: list[torch.Tensor] = []
        self.sample = sample
        self.gen = torch.Generator().manual_seed(seed)

    def add(self, x: torch.Tensor) -> None:
        x = x.detach().flatten().double()
        for i, f in enumerate(self.fs):
            q = torch.clamp(torch.round(x * 2.0 ** f), -128, 127) * 2.0 ** -f
            self.sse[i] += float(((q - x) ** 2).sum())
        a = x.abs()
        if a.numel() > self.sample:
            a = a[torch.randint(a.numel(), (self.sample,), generator=self.gen)]
        self.samples.append(a)

    def best_mse(self) -> int:
        return self.fs[int(torch.argmin(self.sse))]  # ties: the coarser scale (fewer clipped)

    def percentile(self, q: float) -> int:
        """The finest exponent whose range (127 * 2^-f) holds the q-th percentile of |x|."""
        t = float(torch.quantile(torch.cat(self.samples).float(), q / 100))
        if t <= 0:
            return self.fs[-1]
        return int(math.floor(math.log2(127.0 / t)))


@torch.no_grad()
def _candidate_stats(qmodel: QuantEfficientNet, data: ImageData, what: str, batch: int,
                     progress: Progress) -> dict[str, _ExponentStats]:
    """One float pass over ``data`` (quantizers off): per activation quantizer, the squared
    error of each exponent around its current one (2 coarser .. 6 finer) and a sample of |x|."""
    from brevitas.graph.calibrate import quantization_status_manager

    quants = _act_quantizers(qmodel)
    stats = {n: _ExponentStats(exponent_of(m), (2, 6), 1 << 16, i)
             for i, (n, m) in enumerate(quants.items())}
    hooks = [m.register_forward_hook(lambda _m, inp, _y, n=n: stats[n].add(inp[0]))
             for n, m in quants.items()]
    qmodel.eval()
    try:
        with quantization_status_manager(qmodel, disable_act_quant=True,
                                         disable_weight_quant=True, disable_bias_quant=True,
                                         is_training=False):
            _run(qmodel, data, batch, what, progress)
    finally:
        for h in hooks:
            h.remove()
    return stats


@torch.no_grad()
def choose_exponents(qmodel: QuantEfficientNet, data: ImageData, method: str, *,
                     batch: int = 16, percentile: float = PERCENTILE,
                     progress: Progress = NO_PROGRESS) -> dict[str, tuple[int, int]]:
    """Re-choose every activation exponent by ``method`` (``mse``, ``percentile`` or ``auto``)
    from the float tensors on ``data``; returns ``{quantizer: (before, after)}``.

    ``mse``: of the exponents around Brevitas' choice (2 coarser .. 6 finer), the one whose
    quantization (rounding and clipping to int8) of the float tensor has the least squared error
    over all of ``data``. ``percentile``: the finest exponent whose int8 range holds the
    ``percentile``-th percentile of |x| over all values (a sample of 2^16 per batch).
    ``auto``: :func:`choose_exponents_by_output` between the current (Brevitas'), the ``mse``
    and the ``percentile`` exponent of each tensor.
    """
    quants = _act_quantizers(qmodel)
    stats = _candidate_stats(qmodel, data, f"{method} exponents", batch, progress)
    before = {n: exponent_of(m) for n, m in quants.items()}
    if method == "auto":
        cands = {n: [before[n], st.best_mse(), st.percentile(percentile)]
                 for n, st in stats.items()}
        choose_exponents_by_output(qmodel, data, cands, batch=batch, progress=progress)
        return {n: (before[n], exponent_of(m)) for n, m in quants.items()}
    out = {}
    for n, m in quants.items():
        st = stats[n]
        f = st.best_mse() if method == "mse" else st.percentile(percentile)
        out[n] = (before[n], f)
        set_exponent(m, f)
    return out


def _centered(logits: torch.Tensor) -> torch.Tensor:
    # a common offset of an image's logits changes no prediction (and the classifier's
    # quantized classifier is centered, qmodel.center_classifier): it is not an error
    return logits - logits.mean(1, keepdim=True)


@torch.no_grad()
def choose_exponents_by_output(qmodel: QuantEfficientNet, data: ImageData,
                               candidates: dict[str, list[int]], *, batch: int = 16,
                               progress: Progress = NO_PROGRESS) -> dict[str, float]:
    """Greedy choice, per activation quantizer in network order, of the candidate exponent
    (``candidates[name]``, the first one is kept on a tie) whose fake-quantized network's
    logits on ``data`` are closest to the float network's (squared error, each image's logits
    centered).

    A per-tensor error cannot tell a rare large activation that carries the class (clip it and
    the prediction changes) from an outlier nobody reads (clip it for finer steps elsewhere);
    the network's output can. Later quantizers keep their current exponent while an earlier
    one is chosen. Costs one pass over ``data`` per extra candidate of each tensor whose
    candidates differ. Returns the output error (mean squared, per logit) after each choice.
    """
    from brevitas.graph.calibrate import quantization_status_manager

    quants = _act_quantizers(qmodel)
    batches = [x for x, _ in data.batches(batch, qmodel.cfg.resolution)]
    qmodel.eval()
    with quantization_status_manager(qmodel, disable_act_quant=True, disable_weight_quant=True,
                                     disable_bias_quant=True, is_training=False):
        ref = [_centered(qmodel(x).float()) for x in batches]
    for m in quants.values():
        m._cached_act = None  # a disabled quantizer may have cached a float output

    def error() -> float:
        sse = sum(float(((_centered(qmodel(x).float()) - r) ** 2).sum())
                  for x, r in zip(batches, ref, strict=True))
        return sse / sum(r.numel() for r in ref)

    todo = {n: list(dict.fromkeys(c)) for n, c in candidates.items() if n in quants}
    out = {}
    best_err = error()
    names = [n for n in quants if len(todo.get(n, ())) > 1]
    for n in progress.iter(names, "auto exponents (network output)", len(names), "tensor"):
        m = quants[n]
        best_f = exponent_of(m)
        for f in todo[n]:
            if f == best_f:
                continue
            set_exponent(m, f)
            e = error()
            if e < best_err:
                best_f, best_err = f, e
        set_exponent(m, best_f)
        out[n] = best_err
    return out


@torch.no_grad()
def correct_biases(qmodel: QuantEfficientNet, data: ImageData, *, batch: int = 16,
                   progress: Progress = NO_PROGRESS) -> dict[str, float]:
    """Empirical bias correction (Nagel et al. 2019): each conv/FC bias absorbs the mean, per
    output channel over ``data``, of what weight quantization shifts its output by.

    Both sides see the layer's own int8 input (the quantized model runs), so the correction is
    the layer's own error, not what earlier layers did. (Brevitas' ``bias_correction_mode``
    feeds float tensors downstream, which its ``Int32Bias`` quantizer cannot take.) Returns the
    largest correction per layer, in units of the layer's output scale.
    """
    import brevitas.nn as qnn
    import torch.nn.functional as F

    layers = {n: m for n, m in qmodel.named_modules()
              if isinstance(m, (qnn.QuantConv2d, qnn.QuantLinear))}
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def hook(m, inp, _out, name):
        x = getattr(inp[0], "value", inp[0])
        wq = m.quant_weight().value
        if isinstance(m, qnn.QuantConv2d):
            def op(w):
                return F.conv2d(x, w, None, m.stride, m.padding, m.dilation, m.groups)
            err = (op(m.weight) - op(wq)).transpose(0, 1).reshape(m.out_channels, -1)
        else:
            err = (F.linear(x, m.weight) - F.linear(x, wq)).transpose(0, 1)
        sums[name] = sums.get(name, 0) + err.double().sum(1)
        counts[name] = counts.get(name, 0) + err.shape[1]

    hooks = [m.register_forward_hook(lambda m, i, o, n=n: hook(m, i, o, n))
             for n, m in layers.items()]
    qmodel.eval()
    try:
        _run(qmodel, data, batch, "bias correction", progress)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n, m in layers.items():
        if n in sums:
            corr = (sums[n] / counts[n]).to(m.bias.dtype)
            m.bias.add_(corr)
            step = float(m.output_quant.scale().detach()) if m.output_quant.is_quant_enabled \
                else 1.0
            out[n] = float(corr.abs().max()) / step
    return out


def _pre_activation(m: nn.Module, x: torch.Tensor, quantized: bool) -> torch.Tensor:
    """A conv/FC layer's output before its output quantizer, (channels, values): with its
    quantized weights or its float ones."""
    import brevitas.nn as qnn
    import torch.nn.functional as F

    w = m.quant_weight().value if quantized else m.weight
    if isinstance(m, qnn.QuantConv2d):
        y = F.conv2d(x, w, m.bias, m.stride, m.padding, m.dilation, m.groups)
        return y.transpose(0, 1).reshape(m.out_channels, -1)
    return F.linear(x, w, m.bias).transpose(0, 1)


class _Stop(Exception):
    """Ends a forward pass once the layer being measured has been seen."""


@torch.no_grad()
def _channel_means(qmodel: QuantEfficientNet, data: ImageData, layers: dict[str, nn.Module],
                   quantized: bool, batch: int, stop: bool = False) -> dict[str, torch.Tensor]:
    """Per layer, the mean over ``data`` of each output channel before the output quantizer:
    of the fake-quantized network, or of the float network (every quantizer off). ``stop``: the
    pass ends after the (single) layer asked for."""
    from brevitas.graph.calibrate import quantization_status_manager

    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def hook(m, inp, _out, name):
        y = _pre_activation(m, getattr(inp[0], "value", inp[0]), quantized).double()
        sums[name] = sums.get(name, 0) + y.sum(1)
        counts[name] = counts.get(name, 0) + y.shape[1]
        if stop:
            raise _Stop

    hooks = [m.register_forward_hook(lambda m, i, o, n=n: hook(m, i, o, n))
             for n, m in layers.items()]
    qmodel.eval()
    off = {} if quantized else {"disable_act_quant": True, "disable_weight_quant": True,
                                "disable_bias_quant": True, "is_training": False}
    try:
        with quantization_status_manager(qmodel, **off) if off else nullcontext():
            for x, _ in data.batches(batch, qmodel.cfg.resolution):
                try:
                    qmodel(x)
                except _Stop:
                    pass
    finally:
        for h in hooks:
            h.remove()
        for m in qmodel.modules():  # a disabled or interrupted quantizer may have cached
            if hasattr(m, "_cached_act"):
                m._cached_act = None
    return {n: sums[n] / counts[n] for n in sums}


@torch.no_grad()
def correct_biases_to_float(qmodel: QuantEfficientNet, data: ImageData, *, batch: int = 16,
                            progress: Progress = NO_PROGRESS) -> dict[str, float]:
    """Bias correction against the float network, one layer at a time in network order.

    Each conv/FC bias absorbs the mean shift, per output channel over ``data``, between the
    float network's pre-activation (every quantizer off) and the fake-quantized network's,
    measured with every earlier layer already corrected. Unlike :func:`correct_biases` (each
    layer's own weight error on its own int8 input) this removes the *accumulated* drift: the
    rounding of swish outputs, gates and pooled means shifts channel means a little at every
    layer, and in a deep, briefly trained network those shifts add up (docs/numerics.md).
    Correcting all layers at once from one measurement overshoots (a layer would also
    absorb the shift its predecessors' corrections remove), hence one pass per layer, each
    ending at that layer: about half a network pass over ``data`` per layer. Returns the largest
    correction per layer, in units of the layer's output scale.
    """
    import brevitas.nn as qnn

    layers = {n: m for n, m in qmodel.named_modules()
              if isinstance(m, (qnn.QuantConv2d, qnn.QuantLinear))}
    target = _channel_means(qmodel, data, layers, quantized=False, batch=batch)
    out = {}
    for n, m in progress.iter(list(layers.items()), "bias correction (float network)",
                              len(layers), "layer"):
        got = _channel_means(qmodel, data, {n: m}, quantized=True, batch=batch, stop=True)[n]
        corr = (target[n] - got).to(m.bias.dtype)
        m.bias.add_(corr)
        step = float(m.output_quant.scale().detach()) if m.output_quant.is_quant_enabled \
            else 1.0
        out[n] = float(corr.abs().max()) / step
    return out


def bias_correction_mode(value) -> str:
    """``none``, ``local`` or ``float`` (:data:`BIAS_CORRECTIONS`); ``True``/``False`` (the
    older boolean option, and checkpoints that stored it) mean ``local``/``none``."""
    if value is True or value is False or value is None:
        return "local" if value else "none"
    if value not in BIAS_CORRECTIONS:
        raise HfaccelError(f"unknown bias correction {value!r}; choose one of "
                           f"{', '.join(BIAS_CORRECTIONS)}")
    return value


@torch.no_grad()
def calibrate(qmodel: QuantEfficientNet, data: ImageData, *, batch: int = 16,
              method: str = DEFAULT_CALIBRATION["method"],
              bias_correction: str | bool = DEFAULT_CALIBRATION["bias_correction"],
              percentile: float = PERCENTILE, progress: Progress = NO_PROGRESS) -> None:
    """Set every activation quantizer's power-of-two scale from ``data``.

    Brevitas' calibration first (``brevitas``: per batch the 99.999th percentile of |x|,
    averaged over the batches, rounded up to a power of two); ``mse``, ``percentile`` and
    ``auto`` re-choose each exponent from there (:func:`choose_exponents`); ``bias_correction`` then
    corrects the conv/FC biases: ``local`` by each layer's own weight error
    (:func:`correct_biases`), ``float`` against the float network, layer by layer
    (:func:`correct_biases_to_float`). docs/numerics.md compares them.
    """
    from brevitas.graph.calibrate import calibration_mode

    bias_correction = bias_correction_mode(bias_correction)
    if method not in CALIBRATION_METHODS:
        raise HfaccelError(f"unknown calibration method {method!r}; choose one of "
                           f"{', '.join(CALIBRATION_METHODS)}")
    qmodel.eval()
    with calibration_mode(qmodel):
        _run(qmodel, data, batch, "activation scales", progress)
    qmodel.eval()
    if method != "brevitas":  # mse, percentile, auto: from Brevitas' exponents
        choose_exponents(qmodel, data, method, batch=batch, percentile=percentile,
                         progress=progress)
    if bias_correction == "local":
        correct_biases(qmodel, data, batch=batch, progress=progress)
    elif bias_correction == "float":
        correct_biases_to_float(qmodel, data, batch=batch, progress=progress)


def default_quant_model(cfg: NetConfig, *, seed: int = DEFAULT_CALIBRATION["seed"],
                        data: str = DEFAULT_CALIBRATION["data"],
                        images: int = DEFAULT_CALIBRATION["images"],
                        batch: int = DEFAULT_CALIBRATION["batch"],
                        weight_bits: int = 8,
                        method: str = DEFAULT_CALIBRATION["method"],
                        bias_correction: str | bool = DEFAULT_CALIBRATION["bias_correction"],
                        progress: Progress = NO_PROGRESS) -> QuantEfficientNet:
    """Deterministic seeded weights, BN statistics and activation scales from real images
    (:func:`calibrate` with ``method`` and ``bias_correction``)."""
    calib = load_data(data, "train", limit=images, seed=seed)
    model = build_model(cfg, seed=seed)
    recalibrate_batchnorm(model, calib, batch=batch, progress=progress)
    qmodel = quantize_model(model, weight_bits)
    calibrate(qmodel, calib, batch=batch, method=method, bias_correction=bias_correction,
              progress=progress)
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
