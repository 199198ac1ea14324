"""QCDQ ONNX export of a contract-following Brevitas model, with a metadata JSON.

The torch exporter runs with ``dynamo=False`` (Brevitas' QCDQ handlers need the TorchScript
exporter) and the biases are Int32-quantized (a float bias is requantized by onnxruntime's fused
kernels): bit-exact in onnxruntime 1.32's golden session (:mod:`hfaccel.quant.ort`) on every CPU.
Right after export the graph is lowered to the IR
(:func:`hfaccel.quant.ir.lower`), which rejects anything outside the contract; the error then names
the torch module the offending ONNX node came from.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from hfaccel.errors import HfaccelError
from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.quant.ir import Graph, OnnxError, lower
from hfaccel.quant.qmodel import QuantEfficientNet

__all__ = ["ExportError", "export_onnx", "module_of_node"]

OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


class ExportError(HfaccelError):
    """The exported graph breaks the contract; the message names the module."""


def module_of_node(node_name: str) -> str:
    """``/blocks/blocks.3/se/reduce/conv/Conv`` -> ``blocks.3.se.reduce.conv``."""
    parts: list[str] = []
    for seg in node_name.strip("/").split("/")[:-1]:
        if parts and seg.startswith(parts[-1] + "."):
            parts[-1] = seg
        elif seg != "export_handler":
            parts.append(seg)
    return ".".join(parts) or node_name


def export_onnx(qmodel: QuantEfficientNet, out_dir: str | Path, *, name: str = "model",
                metadata: dict | None = None,
                progress: Progress = NO_PROGRESS) -> tuple[Path, Graph]:
    """Write ``<out_dir>/<name>.onnx`` and ``<name>.json``; return the path and the IR."""
    from brevitas.export import export_onnx_qcdq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.onnx"
    r = qmodel.cfg.resolution
    qmodel.eval()
    # The export cannot count for itself: count the MBConv blocks its forward passes run
    # through. Brevitas runs the model twice (once to set up its export handlers, once under
    # the TorchScript tracer), then converts the trace to ONNX.
    blocks = list(getattr(qmodel, "blocks", ()))
    seen = [0]
    hooks = [b.register_forward_pre_hook(lambda *_: seen.__setitem__(0, seen[0] + 1))
             for b in blocks]

    def status() -> tuple[int, int, str]:
        n = len(blocks)
        phase = ("export handlers" if seen[0] < n else "tracing" if seen[0] < 2 * n
                 else "writing ONNX")
        return min(seen[0], 2 * n), 2 * n, phase

    try:
        with progress.timer("export QCDQ ONNX", status=status, unit="blocks"), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx_qcdq(qmodel, args=torch.zeros(1, 3, r, r), export_path=str(path),
                             dynamo=False, opset_version=OPSET, input_names=[INPUT_NAME],
                             output_names=[OUTPUT_NAME],
                             dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}})
    finally:
        for h in hooks:
            h.remove()
    try:
        graph = lower(path)
    except OnnxError as e:
        node = str(e).split("'")[1] if "'" in str(e) else ""
        raise ExportError(f"module {module_of_node(node)!r}: {e}") from None
    meta = dict(metadata or {})
    meta.update({
        "onnx": path.name,
        "opset": OPSET,
        "input": {"name": INPUT_NAME, "shape": [3, r, r], "range": [-1.0, 1.0]},
        "layers": [{"name": ly.name, "op": ly.op, "shape": list(ly.shape), "exponent": ly.f_out,
                    "scale": f"2^-{ly.f_out}" if ly.f_out >= 0 else f"2^{-ly.f_out}",
                    **({"weight_exponents": np.asarray(ly.f_w).tolist(),
                        "acc_bound": ly.acc_bound} if ly.op == "conv" else {}),
                    **({"function": ly.function} if ly.op == "act" else {})}
                   for ly in graph.layers],
    })
    (out / f"{name}.json").write_text(json.dumps(meta, indent=1))
    return path, graph
