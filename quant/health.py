"""Per-layer signal health of a quantized network: where int8 loses what the float model has.

:func:`diagnose` runs the same images through

* the float model: the Brevitas model with every quantizer disabled (BatchNorm folded, so equal
  to the float network to ~1e-5), the output of every module that quantizes recorded;
* the integer reference on the exported graph (what the hardware computes),

and reports, for every quantized tensor (IR layer) in execution order:

``exponent``    the chosen power-of-two scale 2^-f
``float_max``   max |x| of the float tensor over the images; ``range`` = 127 * 2^-f
``clipped``     share of float values outside the int8 range (the quantizer saturates them)
``zero``        share of int8 codes that are 0 (underflow: the scale is too coarse)
``codes``       distinct int8 codes used
``sqnr_local``  dB of quantizing *this* float tensor alone at its scale (its own loss)
``sqnr``        dB of the integer reference's tensor against the float one (the loss so far,
                accumulated over every layer before it)

A layer whose ``sqnr`` drops far below its predecessors' while its ``sqnr_local`` is high lost
signal through its inputs (e.g. a collapsed gate); a low ``sqnr_local`` with a high ``clipped``
is a saturating scale, with a high ``zero`` an underflowing one. ``hfaccel quantize --diagnose``
prints the table and writes it as CSV.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from hfaccel.quant.ir import Graph
from hfaccel.quant.reference import run_reference

__all__ = ["LayerDiagnosis", "diagnose", "float_tensors", "format_diagnosis", "ir_name",
           "write_diagnosis"]

SQNR_CAP_DB = 99.0  # an exact tensor (e.g. all zeros in both) reports this


@dataclass(frozen=True)
class LayerDiagnosis:
    name: str
    op: str
    exponent: int
    float_max: float
    range: float  # largest positive value the codes represent, 127 * 2^-f
    clipped: float
    zero: float
    codes: int
    sqnr_local: float
    sqnr: float

    @property
    def problem(self) -> str:
        """What is wrong with the layer's quantization ('' when nothing stands out)."""
        if self.clipped > 0.01:
            return f"saturates {self.clipped:.1%} of its values"
        if self.zero > 0.95:
            return f"{self.zero:.0%} zero codes"
        if self.codes < 4:
            return f"only {self.codes} distinct codes"
        if self.sqnr_local < 20:
            return f"coarse scale ({self.sqnr_local:.0f} dB alone)"
        return ""


def ir_name(module_name: str) -> str | None:
    """The IR layer a quantizing module's output becomes (None: the module quantizes nothing).

    ``input_quant`` -> ``input``; ``blocks.3.expand.conv`` (its output quantizer) ->
    ``blocks.3.expand``; ``blocks.3.expand.act_quant`` -> ``blocks.3.expand.act``;
    ``blocks.3.se.gate_quant`` -> ``blocks.3.se.gate``; ``classifier`` -> ``classifier``.
    """
    parts = module_name.split(".")
    if parts[-1] == "input_quant":
        return "input"
    if parts[-1] == "conv":  # QConv's conv: its output quantizer is the layer
        return ".".join(parts[:-1])
    if parts[-1] == "classifier":
        return module_name
    if parts[-1] == "act_quant":
        return ".".join(parts[:-1] + ["act"])
    if parts[-1].endswith("_quant"):
        return ".".join(parts[:-1] + [parts[-1][:-len("_quant")]])
    return None


@torch.no_grad()
def float_tensors(qmodel, x: torch.Tensor) -> dict[str, np.ndarray]:
    """The float value of every quantized tensor (by IR layer name) for the batch ``x``: the
    model with its quantizers disabled, each quantizing module's output."""
    import brevitas.nn as qnn
    from brevitas.graph.calibrate import quantization_status_manager

    out: dict[str, np.ndarray] = {}
    hooks = []
    for name, m in qmodel.named_modules():
        if not isinstance(m, (qnn.QuantIdentity, qnn.QuantConv2d, qnn.QuantLinear)):
            continue
        layer = ir_name(name)
        if layer is None:
            continue

        def hook(_m, _inp, y, layer=layer):
            y = getattr(y, "value", y)
            out[layer] = y.detach().float().numpy().copy()

        hooks.append(m.register_forward_hook(hook))
    was_training = qmodel.training
    try:
        qmodel.eval()
        with quantization_status_manager(qmodel, disable_act_quant=True,
                                         disable_weight_quant=True, disable_bias_quant=True,
                                         is_training=False):
            qmodel(x)
    finally:
        for h in hooks:
            h.remove()
        qmodel.train(was_training)
    return out


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    sig = float(np.sum(ref.astype(np.float64) ** 2))
    err = float(np.sum((got.astype(np.float64) - ref) ** 2))
    if err == 0:
        return SQNR_CAP_DB
    if sig == 0:
        return -SQNR_CAP_DB
    return min(SQNR_CAP_DB, 10 * math.log10(sig / err))


def diagnose(qmodel, graph: Graph, x: torch.Tensor) -> list[LayerDiagnosis]:
    """Signal health of every IR layer of ``graph`` (exported from ``qmodel``) on images ``x``.

    Layers the float model has no tensor for (a graph not exported from ``qmodel``) are left
    out; the input layer is kept (its float tensor is the image).
    """
    floats = float_tensors(qmodel, x)
    codes = run_reference(graph, x.numpy())
    out = []
    for ly in graph.layers:
        fl = floats.get(ly.name)
        if ly.op == "input":
            fl = x.numpy()
        if fl is None:
            continue
        q = codes[ly.output].astype(np.int64)
        fl = fl.reshape(q.shape)
        step = 2.0 ** -ly.f_out
        local = np.clip(np.rint(fl / step), -128, 127)
        clipped = float(np.mean((fl / step > 127.5) | (fl / step < -128.5)))
        out.append(LayerDiagnosis(
            name=ly.name, op=ly.op if ly.op != "act" else (ly.function or "act"),
            exponent=int(ly.f_out), float_max=float(np.abs(fl).max()), range=127 * step,
            clipped=clipped, zero=float(np.mean(q == 0)), codes=int(np.unique(q).size),
            sqnr_local=_sqnr(fl, local * step), sqnr=_sqnr(fl, q * step)))
    return out


def format_diagnosis(rows: list[LayerDiagnosis]) -> str:
    """The table ``hfaccel quantize --diagnose`` prints; problems flagged at the end of a row."""
    lines = [f"{'layer':<26} {'op':<8} {'f':>3} {'float max':>9} {'range':>8} {'clipped':>7} "
             f"{'zero':>6} {'codes':>5} {'SQNR own':>8} {'SQNR':>6}  problem"]
    for r in rows:
        lines.append(f"{r.name:<26} {r.op:<8} {r.exponent:>3} {r.float_max:9.3g} {r.range:8.3g} "
                     f"{r.clipped:7.2%} {r.zero:6.1%} {r.codes:>5} {r.sqnr_local:8.1f} "
                     f"{r.sqnr:6.1f}  {r.problem}")
    return "\n".join(lines)


def write_diagnosis(rows: list[LayerDiagnosis], path: str | Path) -> Path:
    """``rows`` as CSV (one row per layer, the fields of :class:`LayerDiagnosis` + problem)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*asdict(rows[0]), "problem"], lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**asdict(r), "problem": r.problem})
    return path
