"""Benchmarks (``make bench``): numbers written to ``build/bench/results.json``, not asserted.

* ``models_s``: wall time of computing the whole zoo table;
* ``reference_hf3_s_per_image``: the integer reference on one HF3 image (median of 3);
* ``train_hf3_images_per_s``: float and QAT training throughput of HF3 at 128x128 on digits.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def bench(out: Path = Path("build/bench/results.json")) -> dict:
    from hfaccel.model.zoo import zoo_rows
    from hfaccel.quant.data import load_data
    from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx
    from hfaccel.quant.train import TrainConfig, train
    from hfaccel.model import get_config
    from hfaccel.sim.reference import run_reference

    res: dict = {"machine": {"python": platform.python_version(), "cpu": platform.processor(),
                             "cores": os.cpu_count()}}
    t = time.perf_counter()
    zoo_rows()
    res["models_s"] = round(time.perf_counter() - t, 3)

    cfg = get_config("hf3")
    _, graph, _ = quantize_to_onnx(cfg, default_out_dir(cfg.name))
    x, _ = next(load_data("fashion-mnist", "val", limit=1).batches(1, cfg.resolution))
    times = []
    for _ in range(3):
        t = time.perf_counter()
        run_reference(graph, x.numpy())
        times.append(time.perf_counter() - t)
    res["reference_hf3_s_per_image"] = round(statistics.median(times), 3)

    ck = train(cfg, TrainConfig(data="digits", epochs=1, qat_epochs=1, limit=256, val_limit=64),
               log=lambda *_: None)
    for phase in ("float", "qat"):
        res[f"train_hf3_{phase}_images_per_s"] = round(
            float(np.mean([h["images_per_s"] for h in ck.history if h["phase"] == phase])), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
