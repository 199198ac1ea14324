"""The quantize step: a model (default weights or a checkpoint) -> QCDQ ONNX + metadata on disk.

The artifact directory (``build/<model>/quant`` by default) holds ``model.onnx`` and
``model.json``. A later call with the same inputs reuses it (the JSON records a cache key).
Weights narrower than 8 bits (``weight_bits=7``, see :func:`hfaccel.quant.qmodel.weight_quant`)
go to ``build/<model>-w7/quant`` by default, so the two variants do not evict each other.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from hfaccel import __version__
from hfaccel.errors import HfaccelError
from hfaccel.model.spec import NetConfig
from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.quant.defaults import DEFAULT_CALIBRATION
from hfaccel.quant.ir import Graph, lower

__all__ = ["default_out_dir", "quantize_to_onnx"]


def default_out_dir(name: str, weight_bits: int = 8) -> Path:
    return Path("build") / (name if weight_bits == 8 else f"{name}-w{weight_bits}") / "quant"


def quantize_to_onnx(cfg: NetConfig, out_dir: str | Path, *, checkpoint: str | None = None,
                     seed: int = DEFAULT_CALIBRATION["seed"],
                     data: str = DEFAULT_CALIBRATION["data"],
                     images: int = DEFAULT_CALIBRATION["images"],
                     weight_bits: int | None = None,
                     method: str = DEFAULT_CALIBRATION["method"],
                     bias_correction: str | bool = DEFAULT_CALIBRATION["bias_correction"],
                     force: bool = False, log=lambda s: None,
                     progress: Progress = NO_PROGRESS) -> tuple[Path, Graph, dict]:
    """Quantize ``cfg`` (seeded default weights, or ``checkpoint``) and export it; ``log``
    hears when the cache is missed (a step of a minute or more), ``progress`` every batch.

    ``method`` and ``bias_correction``: how the activation scales are calibrated
    (:func:`hfaccel.quant.calibrate.calibrate`); a checkpoint keeps the scales it was calibrated
    (or trained) with, and they are ignored.

    ``weight_bits``: 8 (full int8, the default) or fewer (7: exact in onnxruntime's optimized
    session on every x86 CPU); a checkpoint's weights keep the width it was trained with, and
    asking for another is an error.
    """
    out = Path(out_dir)
    if weight_bits is not None and weight_bits not in range(2, 9):
        raise HfaccelError(f"weight bits must be an integer from 2 to 8 (7 for exact "
                           f"onnxruntime on every x86 CPU), got {weight_bits!r}")
    ck = None
    if checkpoint:
        from hfaccel.quant.train import load_checkpoint

        ck = load_checkpoint(checkpoint)
        if weight_bits is not None and weight_bits != ck.train.weight_bits:
            raise HfaccelError(f"checkpoint {checkpoint} was trained with "
                               f"{ck.train.weight_bits}-bit weights, not {weight_bits}: train "
                               f"it with --weight-bits {weight_bits} (hfaccel train), or leave "
                               "--weight-bits out")
    bits = ck.train.weight_bits if ck else weight_bits or 8
    key = {"version": __version__, "model": cfg.name, "scaling": asdict(cfg.scaling),
           "num_classes": cfg.num_classes, "seed": seed,
           "calibration": {"data": data, "images": images}, "weight_bits": bits}
    from hfaccel.quant.calibrate import bias_correction_mode

    bias_correction = bias_correction_mode(bias_correction)
    if not checkpoint and (method, bias_correction) != ("brevitas", "none"):
        key["calibration"].update(method=method, bias_correction=bias_correction)
    if checkpoint:
        p = Path(checkpoint)
        key["checkpoint"] = {"path": str(p.resolve()), "mtime": p.stat().st_mtime}
    meta_path, onnx_path = out / "model.json", out / "model.onnx"
    if not force and meta_path.exists() and onnx_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("cache_key") == key:
            return onnx_path, lower(onnx_path), meta

    from hfaccel.quant.export import export_onnx

    t0 = time.perf_counter()
    log(f"quantizing {cfg.name} into {out} ("
        + (f"checkpoint {checkpoint}" if checkpoint else
           f"calibration on {images} {data} images") + ", then QCDQ export) ...")
    if ck:
        qmodel = ck.qmodel
    else:
        from hfaccel.quant.calibrate import default_quant_model

        qmodel = default_quant_model(cfg, seed=seed, data=data, images=images,
                                     weight_bits=bits, method=method,
                                     bias_correction=bias_correction, progress=progress)
    meta = {"cache_key": key, "model": cfg.name, "scaling": asdict(cfg.scaling),
            "num_classes": cfg.num_classes, "seed": seed,
            "weights": f"checkpoint {checkpoint}" if checkpoint else
            f"seeded init (seed {seed}), BatchNorm statistics and activation scales from "
            f"{images} {data} images",
            "calibration": key["calibration"], "weight_bits": bits}
    path, graph = export_onnx(qmodel, out, metadata=meta, progress=progress)
    log(f"quantized and exported {cfg.name} in {time.perf_counter() - t0:.0f} s")
    return path, graph, json.loads((out / "model.json").read_text())
