"""The int8 accuracy the tools report: the integer reference's, on the exported graph.

A Brevitas model in fake quantization computes in float32 what the integer network computes in
integers; the two agree on almost every logit but not on every one (float rounding of a scaled
sum, the activation tables built from the exported graph's own nodes). The hardware computes the
integer reference's numbers (0 LSB, docs/numerics.md), so the accuracy a person is shown for the
int8 network is measured there: the model is exported to QCDQ ONNX, lowered to the IR, and the
integer reference (:func:`hfaccel.quant.reference.run_reference`) runs the validation images.
Top-1 is the first class with the largest int8 logit, as ``check-reference`` counts it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.quant.data import ImageData
from hfaccel.quant.ir import Graph
from hfaccel.quant.reference import run_reference

__all__ = ["graph_accuracy", "int8_accuracy"]


def graph_accuracy(graph: Graph, data: ImageData, *, batch: int = 64,
                   progress: Progress = NO_PROGRESS) -> float:
    """Top-1 accuracy of the integer reference running ``graph`` on ``data`` (0 when empty)."""
    _, h, w = graph.input_shape
    if graph.batch is not None:
        batch = graph.batch
    correct = 0
    steps = -(-len(data) // batch)
    for x, y in progress.iter(data.batches(batch, (h, w)), "int8 accuracy (integer reference)",
                              steps, "batch"):
        logits = run_reference(graph, x.numpy())[graph.output]
        top1 = np.argmax(logits.reshape(len(x), -1), 1)
        correct += int((top1 == y.numpy()).sum())
    return correct / max(1, len(data))


def int8_accuracy(qmodel, data: ImageData, *, batch: int = 64, out_dir: str | Path | None = None,
                  progress: Progress = NO_PROGRESS) -> float:
    """Export ``qmodel`` (a calibrated :class:`~hfaccel.quant.qmodel.QuantEfficientNet`) and
    return the integer reference's top-1 accuracy on ``data``.

    The ONNX file goes to ``out_dir`` when given (kept), else to a temporary folder (removed).
    The export fails with a message naming the module when the model is outside the contract.
    """
    from hfaccel.quant.export import export_onnx

    was_training = qmodel.training
    try:
        if out_dir is not None:
            _, graph = export_onnx(qmodel, out_dir, progress=progress)
            return graph_accuracy(graph, data, batch=batch, progress=progress)
        with tempfile.TemporaryDirectory(prefix="hfaccel-int8-") as tmp:
            _, graph = export_onnx(qmodel, tmp, progress=progress)
            return graph_accuracy(graph, data, batch=batch, progress=progress)
    finally:
        qmodel.train(was_training)
