"""Zoo models for reports and sweeps: quantized once and cached under ``build/<model>/quant``."""

from __future__ import annotations

from hfaccel.progress import NO_PROGRESS, Progress

__all__ = ["load_graph"]


def load_graph(name: str, log=lambda s: None, progress: Progress = NO_PROGRESS):
    """(registry name, IR graph) of a zoo model (an unknown name is an
    :class:`~hfaccel.errors.UnknownModelError`)."""
    from hfaccel.model import get_config
    from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx

    net = get_config(name)
    _, graph, _ = quantize_to_onnx(net, default_out_dir(net.name), log=log, progress=progress)
    return net.name, graph
