"""Reports of a compiled program: per-layer PE utilization, SRAM tiling, memory traffic, sweeps.

Everything here is computed from the :class:`~hfaccel.accel.compiler.Program` (its hardware
operations, instructions, tensors and config) and the analytic cycle model
(:func:`hfaccel.accel.perf.simulate`); an RTL run (``hfaccel hw-sim``) adds measured cycles from
its ``report.json``. No RTL is needed: a report of HF3 takes a few seconds, most of it importing
the model code.

``build/<model>/reports/`` (:func:`write_reports`):

* ``utilization.csv``: one row per hardware operation (a GEMM with its fused activation, gate and
  residual add; a depthwise conv; a pool) plus the output store; cycles predicted and measured,
  stalls, mapping efficiency, compute and overall utilization (:data:`UTIL_COLUMNS`);
* ``tiling.csv``: tile sizes and counts, on-chip buffer bytes and occupancy, halo overhead,
  external traffic and the re-fetch factor (:data:`TILING_COLUMNS`);
* ``summary.md``: totals, the ten most expensive layers and why, the config;
* ``utilization.png``, ``roofline.png``, ``traffic.png``.

:func:`sweep` explores lanes, bus width and buffer sizes for several models and writes
``build/sweep/sweep.csv`` and ``pareto.png`` (cycles against an area proxy). The column
definitions are in ``docs/reports.md`` and in each CSV's comment header.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from hfaccel.accel import isa
from hfaccel.accel.compiler import CompileError, HwOp, Program, compile_graph
from hfaccel.accel.config import DEFAULT, PRESETS, AccelConfig, get_preset
from hfaccel.accel.paths import run_dir
from hfaccel.accel.perf import Prediction, simulate
from hfaccel.errors import ConfigError, HfaccelError
from hfaccel.progress import NO_PROGRESS, Progress

__all__ = ["Report", "SWEEP_COLUMNS", "STORE_ROW", "TILING_COLUMNS", "UTIL_COLUMNS",
           "build_report", "load_measured", "pareto_front", "read_csv",
           "report_model", "sweep", "sweep_configs", "sweep_graphs", "write_reports"]

STORE_ROW = "(output store)"
KINDS = ("stem", "pointwise", "fc", "depthwise", "gap", "store")
KIND_COLORS = {"stem": "#8c564b", "pointwise": "#1f77b4", "fc": "#ff7f0e",
               "depthwise": "#2ca02c", "gap": "#9467bd", "store": "#7f7f7f"}
PARAM_MIN_BYTES = 5  # per output channel: int32 bias + int8 shift (the hardware pads to 8)
MAC_BYTES = 512  # area proxy: one int8 MAC with its 32-bit accumulator ~ 512 bytes of SRAM

# (column, definition): written as the CSVs' comment header and documented in docs/reports.md.
UTIL_COLUMNS: list[tuple[str, str]] = [
    ("index", "hardware operation index (the instructions' layer field); empty for the store"),
    ("layer", "the operation's main IR layer; the fused ones are listed in `fused`"),
    ("kind", "stem | pointwise | fc | depthwise | gap | store (the DMA of the logits)"),
    ("fused", "IR ops fused into it: gate (SE multiply on its input), act (table), add "
              "(residual)"),
    ("in_shape", "input feature map CxHxW (the stem reads host-side im2col patches of it)"),
    ("out_shape", "output CxHxW (C for the logits)"),
    ("kernel", "KxK/stride of the conv; 'global' for pooling"),
    ("macs", "multiply-accumulates of the layer (no padding); they add up to the model's"),
    ("cycles_pred", "cycles attributed by the analytic model: from the end of the previous "
                    "op's last compute instruction to the end of its own; with the store row "
                    "they add up to the total"),
    ("cycles_meas", "the same attribution measured in RTL (report.json layers[*].cycles); "
                    "empty without a simulation"),
    ("cycles_err_pct", "(cycles_pred - cycles_meas) / cycles_meas x 100"),
    ("busy_pred", "cycles the compute unit spent running the op's instructions (model)"),
    ("stall_pred", "cycles_pred - busy_pred: compute idle, waiting for weights/params/tables "
                   "or for instructions"),
    ("busy_meas", "busy cycles counted by the RTL's perf port"),
    ("stall_meas", "cycles_meas - busy_meas"),
    ("mapping_eff_pct", "SCALE-Sim mapping efficiency: share of the PEs that hold real work "
                        "given the padding to lanes; GEMM: Ci x Co / (ceil(Ci/L) L x "
                        "ceil(Co/L) L); depthwise: (C / (ceil(C/L) L)) x (output pixels / "
                        "(pixel blocks x L)); empty for pooling"),
    ("compute_util_pred_pct", "MACs / (busy_pred x L^2) x 100: array use while it runs"),
    ("compute_util_meas_pct", "MACs / (busy_meas x L^2) x 100"),
    ("util_pred_pct", "SCALE-Sim overall utilization: MACs x 100 / (cycles_pred x L^2)"),
    ("util_meas_pct", "MACs x 100 / (cycles_meas x L^2)"),
    ("roofline_cycles", "max(MACs / L^2, DMA beats of its weights/params/tables) "
                        "(accel/perf.py roofline)"),
    ("bound", "compute if MACs / L^2 >= those DMA beats, else memory (roofline); empty when "
              "both are 0"),
]

TILING_COLUMNS: list[tuple[str, str]] = [
    ("index", "hardware operation index; empty for the store"),
    ("layer", "main IR layer"),
    ("kind", "stem | pointwise | fc | depthwise | gap | store"),
    ("tile_cin", "input channels per tile (the lanes; depthwise: channels per group)"),
    ("n_cin_tiles", "input channel tiles ceil(Ci/L) (depthwise/pool: channel groups)"),
    ("tile_cout", "output channels per tile (the lanes; depthwise: the group's channels)"),
    ("n_cout_tiles", "output channel tiles ceil(Co/L) (depthwise/pool: channel groups)"),
    ("tile_pix", "pixels per tile: GEMM streams the whole map (or band) past each weight "
                 "tile; depthwise: L output pixels per block; pool: ub_banks pixels per wide "
                 "read"),
    ("n_pix_tiles", "pixel tiles per channel tile (depthwise: blocks, pool: wide reads)"),
    ("dw_mode", "depthwise: flat (L pixels packed across rows) or row (L pixels of one row)"),
    ("chunk_tiles", "output channel tiles (depthwise: groups) per weight chunk; one chunk "
                    "fills at most one ping-pong half of the weight and parameter buffers"),
    ("n_chunks", "weight chunks (each one LOAD per buffer, overlapped with compute)"),
    ("streamed", "maps of the op in external memory, streamed through the UB in bands "
                 "(x input, skip, out output; empty: all in the UB)"),
    ("n_bands", "row bands the op runs in (pool over a streamed map: pixel pieces per group)"),
    ("band_rows", "output rows per band (pool: pixels per piece)"),
    ("staging_bytes", "UB bytes of the two band slots per streamed map"),
    ("ub_op_bytes", "UB bytes of the op's own operands (input, output, skip, gate), "
                    "bank-aligned"),
    ("ub_live_bytes", "UB bytes of every feature map live during the op (allocator replay)"),
    ("ub_occ_pct", "ub_live_bytes / UB size x 100"),
    ("wgt_half_bytes", "largest weight chunk, bytes"),
    ("wgt_occ_pct", "wgt_half_bytes / (wgt_tiles / 2 x L^2) x 100"),
    ("prm_half_bytes", "largest parameter chunk, bytes (8 per channel: bias, shift, padding)"),
    ("prm_occ_pct", "prm_half_bytes / (prm_words / 2 x 8 L) x 100"),
    ("tbl_bytes", "activation table bytes per chunk (256 with a fused activation)"),
    ("tbl_occ_pct", "tbl_bytes / one table slot (256 bytes) x 100"),
    ("dw_window_words", "depthwise: UB words the window reader fetches (groups x blocks x K x "
                        "(L x stride + K - 1))"),
    ("halo_factor", "dw_window_words / input words (groups x H x W): re-reads of the input "
                    "through overlapping windows"),
    ("ext_wgt_bytes", "external bytes DMA'd into the weight buffer"),
    ("ext_prm_bytes", "external bytes DMA'd into the parameter buffer"),
    ("ext_tbl_bytes", "external bytes DMA'd into the table buffer"),
    ("ext_in_bytes", "external bytes DMA'd into the UB (the network input, im2col for a stem; "
                     "bands of streamed maps with their halos)"),
    ("ext_out_bytes", "external bytes stored from the UB (bands of streamed outputs; the "
                      "store row: the logits)"),
    ("ext_read_bytes", "ext_wgt + ext_prm + ext_tbl + ext_in"),
    ("ext_write_bytes", "ext_out"),
    ("instr_bytes", "instruction fetch of the op's instructions (64 bytes each; not in "
                    "ext_read)"),
    ("min_bytes", "minimum traffic: weights unpadded + 5 bytes per output channel + one table "
                  "+ the raw network input / logits"),
    ("refetch_factor", "(ext_read + ext_write) / min_bytes: padding to lanes and the bus, "
                       "parameter padding, a table per chunk, im2col"),
]

SWEEP_COLUMNS: list[tuple[str, str]] = [
    ("model", "model name"),
    ("config", "L<lanes>-bus<bytes>-ub<KiB>k-wgt<KiB>k"),
    ("preset", "the preset this config equals, if any"),
    ("lanes", "lanes; the PE array is lanes x lanes"),
    ("bus_bytes", "external bus bytes per beat"),
    ("ub_kib", "unified buffer KiB"),
    ("ub_banks", "UB banks (= lanes, at least bus_bytes / lanes)"),
    ("wgt_kib", "weight buffer KiB (both halves)"),
    ("wgt_tiles", "weight buffer tiles of L^2 bytes"),
    ("prm_words", "parameter buffer words"),
    ("mac_units", "MAC units, lanes^2"),
    ("sram_bytes", "all on-chip SRAM: UB + weights + parameters + tables"),
    ("area_proxy", "sram_bytes + mac_bytes x mac_units (mac_bytes: SRAM bytes one MAC is "
                   "worth, --mac-bytes)"),
    ("status", "ok | compile error | encode error"),
    ("error", "why it does not map"),
    ("cycles", "predicted cycles (analytic model)"),
    ("macs", "the model's MACs"),
    ("util_pct", "MACs x 100 / (cycles x L^2)"),
    ("compute_util_pct", "MACs x 100 / (compute busy cycles x L^2)"),
    ("stall_pct", "cycles without compute / cycles x 100"),
    ("ext_read_bytes", "external bytes read by DMA (weights, params, tables, input)"),
    ("ext_write_bytes", "external bytes written (logits)"),
    ("refetch_factor", "external bytes / minimum traffic"),
    ("instr_bytes", "instruction fetch bytes"),
    ("ub_peak_bytes", "UB bytes live at the peak"),
    ("pareto", "1 if no other config of the model is both faster and smaller"),
]


# ------------------------------------------------------------------------------ helpers
def _pct(num: float, den: float) -> float | None:
    return round(100.0 * num / den, 2) if den else None


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 3) if den else None


def _shape(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def _op_kind(op: HwOp) -> str:
    if op.kind == "gap":
        return "gap"
    k = op.conv.kind
    return "stem" if k == "conv" else k


def _fused(op: HwOp) -> str:
    return "+".join(n for n, ly in (("gate", op.mul), ("act", op.act), ("add", op.add))
                    if ly is not None)


def _aligned(words: int, banks: int) -> int:
    return -(-words // banks) * banks


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    return str(v)


@dataclass
class Report:
    """Rows and totals of one program's report (see :data:`UTIL_COLUMNS`)."""

    prog: Program
    pred: Prediction
    model: str
    util: list[dict]
    tiling: list[dict]
    totals: dict
    measured_from: str = ""  # where measured cycles came from ('' = analytic only)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def cfg(self) -> AccelConfig:
        return self.prog.cfg

    @property
    def measured(self) -> bool:
        return bool(self.measured_from)


# ------------------------------------------------------------------------------ measured
def _measured_ops(prog: Program, measured: dict) -> tuple[dict[int, int], int]:
    """{hw op: measured cycles}, measured total from a hw-sim report.json (checked)."""
    per: dict[int, int] = {}
    rows: dict[int, dict] = {}
    for r in measured.get("layers", []):
        if r.get("fused_into") is None and "hw_op" in r:
            per[int(r["hw_op"])] = int(r["cycles"])
            rows[int(r["hw_op"])] = r
    for op in prog.ops:
        r = rows.get(op.index, {})
        if r.get("name") != op.name or int(r.get("macs", op.macs)) != op.macs:
            got = f"{r['name']} ({r.get('macs', '?')} MACs)" if r else "nothing"
            raise HfaccelError(f"the measured report ({measured.get('model', '?')}) does not "
                               f"match the program: hardware op {op.index} is {op.name} "
                               f"({op.macs} MACs), the report has {got}")
    try:
        total = int(measured["total"]["cycles"])
    except (KeyError, TypeError, ValueError):
        raise HfaccelError("the measured report has no total cycles") from None
    return per, total


def _parse_perf(path: Path) -> tuple[dict[int, int], dict[int, int]]:
    """RTL perf port log -> ({op: busy cycles}, {op: end cycle of its last instruction})."""
    busy: dict[int, int] = {}
    ends: dict[int, int] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        layer, t_end, _wait, b, _mac = map(int, parts)
        busy[layer] = busy.get(layer, 0) + b
        ends[layer] = t_end
    return busy, ends


def load_measured(prog: Program, out_dir: Path) -> tuple[dict | None, dict | None, str]:
    """A previous ``hw-sim``'s ``out_dir/report.json`` if it ran this program on this config.

    Returns (report, measured busy per op or None, note for the user). The busy cycles come
    from the last image's perf log when it agrees with the report's cycles.
    """
    path = Path(out_dir) / "report.json"
    if not path.is_file():
        return None, None, f"no {path}: analytic only"
    try:
        rep = json.loads(path.read_text())
    except ValueError:
        return None, None, f"{path} is not JSON: analytic only"
    want = json.loads(json.dumps(prog.cfg.as_dict()))
    if rep.get("hw") != want:
        hw = (rep.get("hw") or {}).get("name", "?")
        return None, None, (f"{path} is for hardware {hw!r}, not {prog.cfg.name!r}: "
                            "analytic only")
    try:
        per, _ = _measured_ops(prog, rep)
    except HfaccelError as e:
        return None, None, f"{path}: {e}; analytic only"
    busy = None
    perf = Path(out_dir) / "hwsim" / f"image{int(rep.get('images', 1)) - 1}" / "perf.txt"
    if perf.is_file():
        b, ends = _parse_perf(perf)
        prev, ok = 0, True
        for op in prog.ops:
            end = ends.get(op.index, prev)
            ok &= end - prev == per[op.index]
            prev = end
        busy = b if ok else None
    return rep, busy, f"measured cycles from {path}"


# ------------------------------------------------------------------------------ the rows
def _ub_live(prog: Program) -> dict[int, int]:
    """Words of every feature map live during each op (replays the compiler's allocator)."""
    banks = prog.cfg.ub_banks
    L = prog.cfg.lanes
    out = prog.graph.output
    last_use: dict[str, int] = {}
    for op in prog.ops:
        for t in (op.x, op.skip, op.gate):
            if t is not None:
                last_use[t] = op.index
    born = {name: -1 for name in prog.tensors}
    for op in prog.ops:
        born[op.out] = op.index
    live = {}
    for op in prog.ops:
        live[op.index] = op.plan.get("staging_words", 0) + sum(
            _aligned(t.words(L), banks) for name, t in prog.tensors.items()
            if t.home == "ub" and born[name] <= op.index
            and (name == out or name not in last_use or last_use[name] >= op.index))
    return live


def _dw_geometry(prog: Program, op: HwOp) -> dict:
    """Depthwise blocks per channel group, summed over the op's bands."""
    cfg = prog.cfg
    L = cfg.lanes
    ins0 = prog.instrs[op.instrs[0]]
    k, s = ins0["k"], ins0["s"]
    group_blocks = 0
    for i in op.instrs:
        ins = prog.instrs[i]
        if ins["flat"]:
            blocks = math.ceil(ins["ho"] * ins["wo"] / L)
        else:
            blocks = ins["ho"] * math.ceil(ins["wo"] / L)
        group_blocks += ins["g"] * blocks
    groups = op.plan["groups"]
    span = (2 * L if s == 2 else L) + k - 1
    x, o = prog.tensors[op.x], prog.tensors[op.out]
    return {"blocks": group_blocks // groups, "span": span,
            "nreads": math.ceil(span / cfg.ub_banks), "flat": bool(ins0["flat"]), "h": x.h,
            "w": x.w, "ho": o.h, "wo": o.w, "k": k, "s": s}


def build_report(prog: Program, pred: Prediction | None = None, *, model: str | None = None,
                 measured: dict | None = None, measured_busy: dict | None = None,
                 measured_from: str = "") -> Report:
    """Per-layer utilization and tiling rows of ``prog`` (and totals).

    ``measured``: a ``hw-sim`` report.json dict (its ``layers[*].cycles`` and total);
    ``measured_busy``: {hw op index: compute busy cycles} from the RTL's perf port.
    """
    cfg = prog.cfg
    pred = pred or simulate(prog)
    L, L2, bb = cfg.lanes, cfg.macs_per_cycle, cfg.bus_bytes
    graph = prog.graph
    layers = {ly.output: ly for ly in graph.layers}
    meas, meas_total = _measured_ops(prog, measured) if measured else (None, None)
    if measured_busy is not None:
        measured_busy = {int(k): int(v) for k, v in measured_busy.items()}
    if measured and not measured_from:
        measured_from = "report.json" + (f" ({measured['sim']['simulator']})"
                                         if isinstance(measured.get("sim"), dict) else "")
    live = _ub_live(prog)
    in_name = next(ly.output for ly in graph.layers if ly.op == "input")
    in_consumer = next((op.index for op in prog.ops if op.x == in_name), 0)
    owner: dict[int, int | None] = {}
    for op in prog.ops:
        for i in op.instrs + op.loads:
            owner[i] = op.index
    if prog.input_load is not None:  # a UB-resident network input's LOAD
        owner[prog.input_load] = in_consumer

    def beats(i: int) -> int:
        ins = prog.instrs[i]
        return ins["rows"] * ins["row_beats"]

    util, tiling = [], []
    for op in prog.ops:
        kind = _op_kind(op)
        idx = op.index
        xl, ol = layers[op.x], layers[op.out]
        # ---- external traffic by destination buffer
        ext = {isa.BUF_WGT: 0, isa.BUF_PRM: 0, isa.BUF_TBL: 0, isa.BUF_UB: 0}
        chunk_max = {isa.BUF_WGT: 0, isa.BUF_PRM: 0, isa.BUF_TBL: 0}
        out_bytes = 0
        for i in op.loads:
            n = beats(i) * bb
            dst = prog.instrs[i]["dst"]
            if prog.instrs[i].op == "STORE":
                out_bytes += n
                continue
            ext[dst] += n
            if dst in chunk_max:
                chunk_max[dst] = max(chunk_max[dst], n)
        own_input = idx == in_consumer and prog.input_load is not None
        in_bytes = beats(prog.input_load) * bb if own_input else 0
        n_instr = len(op.instrs) + len(op.loads) + int(own_input)
        dma_beats = sum(beats(i) for i in op.loads)
        comp = op.macs / L2
        # ---- geometry
        t = {"index": idx, "layer": op.name, "kind": kind,
             "streamed": " ".join(op.plan.get("streamed", [])),
             "n_bands": op.plan.get("bands", 1), "band_rows": op.plan.get("band_rows"),
             "staging_bytes": op.plan.get("staging_words", 0) * cfg.word_bytes}
        u = {"index": idx, "layer": op.name, "kind": kind, "fused": _fused(op),
             "in_shape": _shape(xl.shape), "out_shape": _shape(ol.shape)}
        mapping = None
        why: dict = {"comp": comp, "beats": dma_beats}
        min_bytes = 0
        if op.kind == "gemm":
            conv = op.conv
            co = conv.weight.shape[0]
            ci = conv.weight.size // co
            p = op.plan
            cit, cot = p["cit"], p["cot"]
            mapping = _pct(ci * co, cit * L * cot * L)
            u["kernel"] = f"{conv.weight.shape[2]}x{conv.weight.shape[3]}/{conv.stride}"
            t.update(tile_cin=L, n_cin_tiles=cit, tile_cout=L, n_cout_tiles=cot,
                     tile_pix=prog.instrs[op.instrs[0]]["npix"], n_pix_tiles=p["bands"],
                     dw_mode="",
                     chunk_tiles=p["co_tiles_per_chunk"], n_chunks=p["chunks"])
            min_bytes = conv.weight.size + PARAM_MIN_BYTES * co
            why.update(ci=ci, co=co, cit=cit, cot=cot)
        elif op.kind == "dw":
            conv = op.conv
            c = conv.weight.shape[0]
            g = _dw_geometry(prog, op)
            groups = op.plan["groups"]
            mapping = _pct(c * g["ho"] * g["wo"], groups * L * g["blocks"] * L)
            u["kernel"] = f"{g['k']}x{g['k']}/{g['s']}"
            window = groups * g["blocks"] * g["k"] * g["span"]
            t.update(tile_cin=L, n_cin_tiles=groups, tile_cout=L, n_cout_tiles=groups,
                     tile_pix=L, n_pix_tiles=g["blocks"], dw_mode="flat" if g["flat"] else "row",
                     chunk_tiles=op.plan["groups_per_chunk"], n_chunks=op.plan["chunks"],
                     dw_window_words=window,
                     halo_factor=_ratio(window, groups * g["h"] * g["w"]))
            min_bytes = conv.weight.size + PARAM_MIN_BYTES * c
            why.update(c=c, groups=groups, **g)
        else:  # gap
            hw = op.gap.extra["in_hw"]
            groups = math.ceil(op.gap.shape[0] / L)
            u["kernel"] = "global"
            t.update(tile_cin=L, n_cin_tiles=groups, tile_cout=L, n_cout_tiles=groups,
                     tile_pix=cfg.ub_banks, n_pix_tiles=math.ceil(hw / cfg.ub_banks),
                     dw_mode="", chunk_tiles=None, n_chunks=0)
        if op.act is not None:
            min_bytes += cfg.table_bytes
        if idx == in_consumer:
            min_bytes += math.prod(graph.input_shape)
        # ---- cycles
        cyc = pred.per_op[idx]
        busy = pred.compute_busy.get(idx, 0)
        u.update(macs=op.macs, cycles_pred=cyc, cycles_meas=None, cycles_err_pct=None,
                 busy_pred=busy, stall_pred=cyc - busy, busy_meas=None, stall_meas=None,
                 mapping_eff_pct=mapping,
                 compute_util_pred_pct=_pct(op.macs, busy * L2) if op.macs else None,
                 compute_util_meas_pct=None,
                 util_pred_pct=_pct(op.macs, cyc * L2) if op.macs else None,
                 util_meas_pct=None,
                 roofline_cycles=round(max(comp, dma_beats), 1),
                 bound=("compute" if comp >= dma_beats else "memory")
                 if comp or dma_beats else "")
        if meas is not None:
            m = meas[idx]
            u.update(cycles_meas=m, cycles_err_pct=_pct(cyc - m, m),
                     util_meas_pct=_pct(op.macs, m * L2) if op.macs else None)
            if measured_busy is not None:
                mb = measured_busy.get(idx, 0)
                u.update(busy_meas=mb, stall_meas=m - mb,
                         compute_util_meas_pct=_pct(op.macs, mb * L2) if op.macs else None)
        # ---- buffers
        ub_op = op.plan.get("staging_words", 0) + sum(
            _aligned(prog.tensors[n].words(L), cfg.ub_banks)
            for n in {op.x, op.out, op.skip, op.gate} - {None} if prog.tensors[n].home == "ub")
        half_w = cfg.wgt_tiles // 2 * cfg.tile_bytes
        half_p = cfg.prm_words // 2 * cfg.prm_word_bytes
        t.update(ub_op_bytes=ub_op * cfg.word_bytes,
                 ub_live_bytes=live[idx] * cfg.word_bytes,
                 ub_occ_pct=_pct(live[idx], cfg.ub_words),
                 wgt_half_bytes=chunk_max[isa.BUF_WGT],
                 wgt_occ_pct=_pct(chunk_max[isa.BUF_WGT], half_w),
                 prm_half_bytes=chunk_max[isa.BUF_PRM],
                 prm_occ_pct=_pct(chunk_max[isa.BUF_PRM], half_p),
                 tbl_bytes=cfg.table_bytes if op.act is not None else 0,
                 tbl_occ_pct=100.0 if op.act is not None else 0.0)
        t.setdefault("dw_window_words", None)
        t.setdefault("halo_factor", None)
        rd = ext[isa.BUF_WGT] + ext[isa.BUF_PRM] + ext[isa.BUF_TBL] + ext[isa.BUF_UB] + in_bytes
        t.update(ext_wgt_bytes=ext[isa.BUF_WGT], ext_prm_bytes=ext[isa.BUF_PRM],
                 ext_tbl_bytes=ext[isa.BUF_TBL], ext_in_bytes=ext[isa.BUF_UB] + in_bytes,
                 ext_out_bytes=out_bytes, ext_read_bytes=rd, ext_write_bytes=out_bytes,
                 instr_bytes=n_instr * cfg.instr_bytes, min_bytes=min_bytes,
                 refetch_factor=_ratio(rd + out_bytes, min_bytes))
        u["_why"] = why
        util.append(u)
        tiling.append(t)

    # ---- the output store (and the token drains before it): the tail of the schedule
    tail_ids = [i for i, ins in enumerate(prog.instrs) if i not in owner]
    st_read = sum(beats(i) * bb for i in tail_ids if prog.instrs[i].op == "LOAD")
    st_write = sum(beats(i) * bb for i in tail_ids if prog.instrs[i].op == "STORE")
    tail = pred.total - sum(pred.per_op.values())
    out_min = math.prod(layers[graph.output].shape)
    u = {c: None for c, _ in UTIL_COLUMNS}
    u.update(index=None, layer=STORE_ROW, kind="store", fused="",
             in_shape=_shape(layers[graph.output].shape),
             out_shape=_shape(layers[graph.output].shape), kernel="", macs=0, cycles_pred=tail,
             busy_pred=0, stall_pred=tail, bound="", _why={})
    if meas is not None:
        mt = meas_total - sum(meas.values())
        u.update(cycles_meas=mt, cycles_err_pct=_pct(tail - mt, mt))
        if measured_busy is not None:
            u.update(busy_meas=0, stall_meas=mt)
    util.append(u)
    t = {c: None for c, _ in TILING_COLUMNS}
    t.update(index=None, layer=STORE_ROW, kind="store", dw_mode="", n_chunks=0,
             ub_op_bytes=_aligned(prog.tensors[graph.output].words(L), cfg.ub_banks)
             * cfg.word_bytes, wgt_half_bytes=0, prm_half_bytes=0, tbl_bytes=0,
             ext_wgt_bytes=0, ext_prm_bytes=0, ext_tbl_bytes=st_read, ext_in_bytes=0,
             ext_out_bytes=st_write, ext_read_bytes=st_read, ext_write_bytes=st_write,
             instr_bytes=len(tail_ids) * cfg.instr_bytes, min_bytes=out_min,
             refetch_factor=_ratio(st_read + st_write, out_min))
    tiling.append(t)

    # ---- totals
    def tot(rows, key):
        return sum(r[key] or 0 for r in rows)

    macs = graph.macs
    busy = sum(pred.compute_busy.values())
    totals = {
        "model": model or (measured or {}).get("model") or graph.source or "network",
        "hw": cfg.name, "lanes": L, "mac_units": L2, "sram_bytes": cfg.sram_bytes,
        "hw_ops": len(prog.ops), "instructions": len(prog.instrs), "macs": macs,
        "cycles_pred": pred.total, "busy_pred": busy, "stall_pred": pred.total - busy,
        "util_pred_pct": _pct(macs, pred.total * L2),
        "compute_util_pred_pct": _pct(macs, busy * L2),
        "roofline_cycles": round(sum(r["roofline_cycles"] or 0 for r in util)),
        "ub_peak_bytes": prog.ub_peak_words * cfg.word_bytes,
        "ub_peak_pct": _pct(prog.ub_peak_words, cfg.ub_words),
        "wgt_half_peak_pct": max((r["wgt_occ_pct"] or 0 for r in tiling), default=0),
    }
    for k in ("ext_wgt_bytes", "ext_prm_bytes", "ext_tbl_bytes", "ext_in_bytes",
              "ext_out_bytes", "ext_read_bytes", "ext_write_bytes", "instr_bytes",
              "min_bytes"):
        totals[k] = tot(tiling, k)
    totals["ext_bytes"] = totals["ext_read_bytes"] + totals["ext_write_bytes"]
    totals["refetch_factor"] = _ratio(totals["ext_bytes"], totals["min_bytes"])
    totals["cycles_over_roofline"] = _ratio(pred.total, totals["roofline_cycles"])
    if meas is not None:
        totals.update(cycles_meas=meas_total, cycles_err_pct=_pct(pred.total - meas_total,
                                                                 meas_total),
                      util_meas_pct=_pct(macs, meas_total * L2),
                      mean_abs_layer_err_pct=round(
                          sum(abs(r["cycles_err_pct"] or 0) for r in util[:-1])
                          / max(1, len(prog.ops)), 2))
        if measured_busy is not None:
            mb = sum(measured_busy.get(op.index, 0) for op in prog.ops)
            totals.update(busy_meas=mb, stall_meas=meas_total - mb,
                          compute_util_meas_pct=_pct(macs, mb * L2))
    return Report(prog, pred, totals["model"], util, tiling, totals,
                  measured_from=measured_from if measured else "")


# ------------------------------------------------------------------------------ CSV
def _csv_text(rows: list[dict], columns: list[tuple[str, str]], title: str) -> str:
    buf = io.StringIO()
    for line in title.splitlines():
        buf.write(f"# {line}\n")
    buf.write("# columns (docs/reports.md):\n")
    for c, doc in columns:
        buf.write(f"#   {c}: {doc}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c for c, _ in columns])
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c, _ in columns])
    return buf.getvalue()


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of a report CSV (skipping its ``#`` comment header)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _title(rep: Report, what: str) -> str:
    c = rep.cfg
    return (f"{what}: {rep.model} on {c.name} ({c.lanes} lanes, {c.lanes}x{c.lanes} PEs, "
            f"bus {c.bus_bytes} B, UB {c.ub_kib} KiB, {c.ub_banks} banks, WGT {c.wgt_tiles} "
            f"tiles, PRM {c.prm_words} words)\n"
            f"cycles predicted by accel/perf.py; measured: "
            f"{rep.measured_from or 'none (analytic only)'}\n"
            f"L = lanes; empty cells: not applicable or not measured")


# ------------------------------------------------------------------------------ summary
def _why(r: dict, rep: Report) -> str:
    w = r["_why"]
    if not w:
        return ""
    parts = []
    if r["bound"] == "compute":
        parts.append(f"compute-bound ({w['comp']:.0f} cycles of MACs at full array vs "
                     f"{w['beats']} DMA beats)")
    elif r["bound"] == "memory":
        parts.append(f"memory-bound ({w['beats']} DMA beats of weights/params/tables vs "
                     f"{w['comp']:.0f} cycles of MACs)")
    else:
        parts.append("pooling: wide UB reads, no MACs")
    m = r["mapping_eff_pct"]
    if m is not None and m < 90:
        if "ci" in w:
            parts.append(f"mapping {m:.0f}% ({w['ci']} in x {w['co']} out channels on "
                         f"{w['cit']}x{w['cot']} tiles of {rep.cfg.lanes})")
        else:
            parts.append(f"mapping {m:.0f}% ({w['c']} channels, {w['ho']}x{w['wo']} outputs "
                         f"in {w['blocks']} {'flat' if w['flat'] else 'row'} blocks of "
                         f"{rep.cfg.lanes})")
    if "nreads" in w and w["nreads"] > w["k"]:
        parts.append(f"window reader-bound ({w['nreads']} wide reads per {w['k']} taps)")
    cyc = r["cycles_meas"] or r["cycles_pred"]
    stall = r["stall_meas"] if r["stall_meas"] is not None else r["stall_pred"]
    if cyc and stall / cyc > 0.2:
        parts.append(f"{100 * stall / cyc:.0f}% stalled (compute waiting for data)")
    return "; ".join(parts)


def _md_table(header: list[str], rows: list[list]) -> str:
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)
               for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    out += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def _kb(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    return f"{n / 1024:,.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):,.2f} MiB"


def summary_md(rep: Report) -> str:
    c, T = rep.cfg, rep.totals
    meas = rep.measured
    lines = [f"# {rep.model} on `{c.name}`", "",
             "Analytic cycle model (accel/perf.py)"
             + (f" and RTL measurement ({rep.measured_from})." if meas else
                "; no RTL measurement (run `hfaccel hw-sim` for measured cycles)."), "",
             "## Configuration", "",
             _md_table(["preset", "lanes", "PE array", "MAC units", "bus B/cycle", "UB",
                        "UB banks", "WGT", "PRM", "TBL", "SRAM total"],
                       [[c.name, c.lanes, f"{c.lanes} x {c.lanes}", c.macs_per_cycle,
                         c.bus_bytes, _kb(c.ub_kib * 1024), c.ub_banks,
                         f"{c.wgt_tiles} tiles ({_kb(c.wgt_tiles * c.tile_bytes)})",
                         f"{c.prm_words} words ({_kb(c.prm_words * c.prm_word_bytes)})",
                         f"{c.table_slots} x {c.table_bytes} B", _kb(c.sram_bytes)]]), "",
             "## Totals", ""]
    rows = [["cycles", T["cycles_pred"], T.get("cycles_meas"),
             T.get("cycles_err_pct")],
            ["compute busy cycles", T["busy_pred"], T.get("busy_meas"), None],
            ["stall cycles", T["stall_pred"], T.get("stall_meas"), None],
            ["overall utilization %", T["util_pred_pct"], T.get("util_meas_pct"), None],
            ["compute utilization %", T["compute_util_pred_pct"],
             T.get("compute_util_meas_pct"), None]]
    lines += [_md_table(["", "predicted", "measured", "error %"], rows), ""]
    lines += [
        f"- {T['macs']:,} MACs in {T['hw_ops']} hardware operations, {T['instructions']} "
        f"instructions ({_kb(T['instr_bytes'])} fetched).",
        f"- External traffic: read {_kb(T['ext_read_bytes'])} (weights "
        f"{_kb(T['ext_wgt_bytes'])}, parameters {_kb(T['ext_prm_bytes'])}, tables "
        f"{_kb(T['ext_tbl_bytes'])}, input {_kb(T['ext_in_bytes'])}), written "
        f"{_kb(T['ext_write_bytes'])}; minimum {_kb(T['min_bytes'])}, re-fetch factor "
        f"{T['refetch_factor']}. Feature maps never leave the unified buffer.",
        f"- Unified buffer peak {_kb(T['ub_peak_bytes'])} of {_kb(c.ub_kib * 1024)} "
        f"({T['ub_peak_pct']}%); largest weight chunk fills {T['wgt_half_peak_pct']}% of a "
        f"ping-pong half.",
        f"- Roofline: the per-layer bounds add up to {T['roofline_cycles']:,} cycles; the "
        f"prediction is {T['cycles_over_roofline']}x that."]
    if meas:
        lines.append(f"- Per-layer prediction error: mean |error| "
                     f"{T['mean_abs_layer_err_pct']}% over {T['hw_ops']} operations.")
    lines += ["", "## By op kind", ""]
    krows = []
    key = "cycles_meas" if meas else "cycles_pred"
    total_c = T.get("cycles_meas") if meas else T["cycles_pred"]
    for kind in KINDS:
        rs = [r for r in rep.util if r["kind"] == kind]
        if not rs:
            continue
        macs = sum(r["macs"] for r in rs)
        cyc = sum(r[key] or 0 for r in rs)
        maps = [(r["mapping_eff_pct"], r["macs"]) for r in rs if r["mapping_eff_pct"] is not None]
        mw = sum(m * w for m, w in maps) / max(1, sum(w for _, w in maps)) if maps else None
        krows.append([kind, len(rs), macs, cyc, _pct(cyc, total_c),
                      _pct(macs, cyc * c.macs_per_cycle) if macs else None,
                      round(mw, 2) if mw is not None else None])
    lines += [_md_table(["kind", "ops", "MACs", "cycles", "% of cycles", "utilization %",
                         "mapping % (MAC-weighted)"], krows), ""]
    lines += ["## The ten most expensive layers", "",
              f"Ranked by {'measured' if meas else 'predicted'} cycles; `bound` from the "
              "roofline (MACs / L^2 against DMA beats of weights, parameters and tables).", ""]
    ops = sorted((r for r in rep.util if r["kind"] != "store"),
                 key=lambda r: -(r[key] or 0))[:10]
    trows = []
    for r in ops:
        trows.append([r["layer"], r["kind"] + (f" +{r['fused']}" if r["fused"] else ""),
                      f"{r['in_shape']} -> {r['out_shape']} {r['kernel']}", r["macs"],
                      r["cycles_pred"], r["cycles_meas"], _pct(r[key] or 0, total_c),
                      r["util_meas_pct"] if meas else r["util_pred_pct"], r["bound"],
                      _why(r, rep)])
    lines += [_md_table(["layer", "kind", "shape", "MACs", "cycles pred", "cycles meas",
                         "% of total", "util %", "bound", "why"], trows), ""]
    if meas:
        worst = sorted((r for r in rep.util if r["cycles_err_pct"] is not None),
                       key=lambda r: -abs(r["cycles_err_pct"]))[:5]
        lines += ["## Predicted vs measured: largest per-layer errors", "",
                  _md_table(["layer", "kind", "predicted", "measured", "error %"],
                            [[r["layer"], r["kind"], r["cycles_pred"], r["cycles_meas"],
                              r["cycles_err_pct"]] for r in worst]), ""]
    lines += ["## Files", "",
              "`utilization.csv` and `tiling.csv` (one row per hardware operation plus the "
              "output store; column definitions in their comment headers and "
              "docs/reports.md), `utilization.png`, `roofline.png`, `traffic.png`.", "",
              "## Config JSON", "", "```json", c.to_json(), "```", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ plots
def _save(fig, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=90, format="png")
    tmp.replace(path)
    return path


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_utilization(rep: Report, path: Path) -> Path:
    rows = [r for r in rep.util if r["kind"] != "store"]
    n = len(rows)
    fig = _figure(max(8.0, 0.13 * n + 2), 4.2)
    ax = fig.subplots()
    xs = range(n)
    ax.bar(xs, [r["util_pred_pct"] or 0 for r in rows],
           color=[KIND_COLORS[r["kind"]] for r in rows], width=0.8)
    ax.scatter(xs, [r["mapping_eff_pct"] if r["mapping_eff_pct"] is not None else float("nan")
                    for r in rows], marker="_", color="black", s=40, zorder=3,
               label="mapping efficiency")
    if rep.measured:
        ax.scatter(xs, [r["util_meas_pct"] if r["util_meas_pct"] is not None else float("nan")
                        for r in rows], marker="D", facecolors="none", edgecolors="red", s=14,
                   zorder=4, label="measured")
    ax.set_xticks(list(xs), [r["layer"] for r in rows], rotation=90, fontsize=5)
    ax.set_xlim(-1, n)
    ax.set_ylim(0, 118)
    ax.set_ylabel("utilization % (MACs / (cycles x L²))")
    T = rep.totals
    ax.set_title(f"{rep.model} on {rep.cfg.name}: per-layer utilization (predicted bars; "
                 f"total {T['util_pred_pct']}%"
                 + (f", measured {T['util_meas_pct']}%" if rep.measured else "") + ")",
                 fontsize=10)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    kinds = {r["kind"] for r in rows}
    handles = [Patch(color=KIND_COLORS[k], label=k) for k in KINDS if k in kinds]
    handles.append(Line2D([], [], marker="_", color="black", ls="", label="mapping efficiency"))
    if rep.measured:
        handles.append(Line2D([], [], marker="D", mfc="none", mec="red", ls="",
                              label="measured"))
    ax.legend(handles=handles, fontsize=7, loc="upper center", ncol=len(handles))
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_roofline(rep: Report, path: Path) -> Path:
    c = rep.cfg
    tile = {t["index"]: t for t in rep.tiling}
    fig = _figure(7.0, 5.0)
    ax = fig.subplots()
    pts = []
    for r in rep.util:
        if r["kind"] == "store" or not r["macs"]:
            continue
        t = tile[r["index"]]
        nbytes = t["ext_wgt_bytes"] + t["ext_prm_bytes"] + t["ext_tbl_bytes"]
        if not nbytes:
            continue
        pts.append((r, r["macs"] / nbytes))
    if pts:
        lo = min(i for _, i in pts) / 2
        hi = max(i for _, i in pts) * 2
        ridge = c.macs_per_cycle / c.bus_bytes
        xs = [lo, min(max(ridge, lo), hi), hi]
        ax.plot(xs, [min(c.macs_per_cycle, x * c.bus_bytes) for x in xs], color="black",
                lw=1.5, label=f"roof: {c.macs_per_cycle} MAC/cycle, {c.bus_bytes} B/cycle")
        for kind in KINDS:
            sel = [(r, i) for r, i in pts if r["kind"] == kind]
            if not sel:
                continue
            ax.scatter([i for _, i in sel], [r["macs"] / r["cycles_pred"] for r, _ in sel],
                       color=KIND_COLORS[kind], s=18, label=kind, zorder=3)
            if rep.measured:
                ax.scatter([i for _, i in sel], [r["macs"] / max(1, r["cycles_meas"])
                                                 for r, _ in sel],
                           facecolors="none", edgecolors=KIND_COLORS[kind], s=30, zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("operational intensity: MACs per external byte (weights, params, tables)")
    ax.set_ylabel("MACs per cycle" + (" (filled: predicted, hollow: measured)"
                                      if rep.measured else " (predicted)"))
    ax.set_title(f"{rep.model} on {c.name}: roofline, one point per layer", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_traffic(rep: Report, path: Path) -> Path:
    rows = rep.tiling
    n = len(rows)
    fig = _figure(max(8.0, 0.13 * n + 2), 4.2)
    ax = fig.subplots()
    xs = list(range(n))
    bottom = [0.0] * n
    for key, label, color in (("ext_wgt_bytes", "weights", "#1f77b4"),
                              ("ext_prm_bytes", "parameters", "#ff7f0e"),
                              ("ext_tbl_bytes", "tables", "#2ca02c"),
                              ("ext_in_bytes", "input", "#9467bd"),
                              ("ext_out_bytes", "output", "#8c564b")):
        vals = [(r[key] or 0) / 1024 for r in rows]
        if any(vals):
            ax.bar(xs, vals, bottom=bottom, color=color, label=label, width=0.8)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.scatter(xs, [(r["min_bytes"] or float("nan")) / 1024 if r["min_bytes"] else float("nan")
                    for r in rows], marker="_", color="black", s=40, zorder=3,
               label="minimum traffic")
    ax.set_xticks(xs, [r["layer"] for r in rows], rotation=90, fontsize=5)
    ax.set_xlim(-1, n)
    ax.set_yscale("log")
    ax.set_ylabel("external traffic, KiB (log)")
    T = rep.totals
    ax.set_title(f"{rep.model} on {rep.cfg.name}: external traffic per layer (total "
                 f"{_kb(T['ext_bytes'])}, re-fetch factor {T['refetch_factor']})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", ncol=6)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


# ------------------------------------------------------------------------------ writing
def write_reports(prog: Program, pred: Prediction | None = None,
                  out_dir: str | Path = "build/reports", *, model: str | None = None,
                  measured: dict | None = None, measured_busy: dict | None = None,
                  measured_from: str = "", plots: bool = True) -> Report:
    """Write utilization.csv, tiling.csv, summary.md and the plots into ``out_dir``."""
    rep = build_report(prog, pred, model=model, measured=measured, measured_busy=measured_busy,
                       measured_from=measured_from)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"utilization": out / "utilization.csv", "tiling": out / "tiling.csv",
             "summary": out / "summary.md"}
    files["utilization"].write_text(_csv_text(rep.util, UTIL_COLUMNS,
                                              _title(rep, "per-layer PE utilization")))
    files["tiling"].write_text(_csv_text(rep.tiling, TILING_COLUMNS,
                                         _title(rep, "per-layer SRAM tiling and traffic")))
    files["summary"].write_text(summary_md(rep))
    if plots:
        files["utilization_png"] = plot_utilization(rep, out / "utilization.png")
        files["roofline_png"] = plot_roofline(rep, out / "roofline.png")
        files["traffic_png"] = plot_traffic(rep, out / "traffic.png")
    rep.files = files
    return rep


def format_text(rep: Report) -> str:
    """A few lines for the terminal."""
    T, c = rep.totals, rep.cfg
    lines = [f"{rep.model} on {c.name} ({c.lanes} lanes): {T['macs'] / 1e6:.2f} M MACs, "
             f"{T['hw_ops']} hardware operations",
             f"cycles predicted {T['cycles_pred']:,}"
             + (f", measured {T['cycles_meas']:,} (error {T['cycles_err_pct']}%)"
                if rep.measured else " (analytic only)")
             + f"; utilization {T['util_pred_pct']}% (compute {T['compute_util_pred_pct']}% "
               f"while busy)",
             f"external traffic {_kb(T['ext_bytes'])} (minimum {_kb(T['min_bytes'])}, "
             f"re-fetch {T['refetch_factor']}x); UB peak {_kb(T['ub_peak_bytes'])} "
             f"({T['ub_peak_pct']}%)"]
    key = "cycles_meas" if rep.measured else "cycles_pred"
    top = sorted((r for r in rep.util if r["kind"] != "store"), key=lambda r: -(r[key] or 0))
    lines.append("most expensive: " + ", ".join(
        f"{r['layer']} ({r[key]:,}, {r['bound']}-bound)" for r in top[:3]))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ models
def _load_graph(name: str, log=lambda s: None, progress: Progress = NO_PROGRESS):
    """(registry name, IR graph) of a zoo model, quantized once and cached under build/."""
    from hfaccel.model import get_config
    from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx

    net = get_config(name)
    _, graph, _ = quantize_to_onnx(net, default_out_dir(net.name), log=log, progress=progress)
    return net.name, graph


def report_model(name: str, hw: str = "default", out_dir: str | Path | None = None, *,
                 measured: str | Path | None | bool = None, plots: bool = True) -> Report:
    """The report of a zoo model (``HF3``) on a preset: ``build/<model>/reports/``
    (``build/<model>-<hw>/reports/`` for other hardware, next to its hw-sim report.json).

    ``measured``: a report.json path, ``False`` for analytic only, ``None`` to use
    ``build/<model>/report.json`` when it is from this program and config.
    """
    cfg = get_preset(hw)
    model, graph = _load_graph(name)
    base = run_dir(model, cfg)
    return report_graph(graph, cfg, base, model=model, measured=measured,
                        out_dir=out_dir, plots=plots)


def report_graph(graph, cfg: AccelConfig, base: Path, *, model: str, out_dir=None,
                 measured=None, plots: bool = True, log=lambda s: None) -> Report:
    prog = compile_graph(graph, cfg)
    pred = simulate(prog)
    rep_json, busy, note = None, None, "analytic only (--analytic)"
    if measured is None:
        rep_json, busy, note = load_measured(prog, base)
    elif measured is not False:
        p = Path(measured)
        if not p.is_file():
            raise HfaccelError(f"measured report {p} does not exist")
        rep_json, busy, note = load_measured(prog, p.parent) if p.name == "report.json" \
            else (json.loads(p.read_text()), None, f"measured cycles from {p}")
        if rep_json is None:
            raise HfaccelError(note)
    log(note)
    src = note.removeprefix("measured cycles from ") if rep_json else ""
    return write_reports(prog, pred, Path(out_dir) if out_dir else base / "reports",
                         model=model, measured=rep_json, measured_busy=busy,
                         measured_from=src, plots=plots)


# ------------------------------------------------------------------------------ sweep
def sweep_configs(lanes=(8, 16, 32, 64), bus=(32, 64, 128), ub_kib=(512, 1024, 2048, 4096),
                  wgt_kib=(64, 256), base: AccelConfig = DEFAULT
                  ) -> tuple[list[AccelConfig], list[tuple[str, str]]]:
    """The grid's valid configs, and (name, reason) of the combinations AccelConfig rejects.

    ``ub_banks`` follows the presets (one bank per lane, at least ``bus_bytes / lanes``);
    the weight buffer is given in KiB so that it means the same for every lane count.
    """
    ok, bad = [], []
    for n in lanes:
        for b in bus:
            for u in ub_kib:
                for w in wgt_kib:
                    name = f"L{n}-bus{b}-ub{u}k-wgt{w}k"
                    try:
                        cfg = base.replace(name=name, lanes=n, bus_bytes=b, ub_kib=u,
                                           ub_banks=min(64, max(n, b // n)),
                                           wgt_tiles=w * 1024 // (n * n))
                    except ConfigError as e:
                        bad.append((name, str(e).split(": ", 1)[-1]))
                        continue
                    ok.append(cfg)
    return ok, bad


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For each (area, cycles): True if no other point is <= in both and < in one."""
    out = []
    for a, c in points:
        out.append(not any((a2 <= a and c2 <= c) and (a2 < a or c2 < c) for a2, c2 in points))
    return out


def _preset_of(cfg: AccelConfig) -> str:
    for name, p in PRESETS.items():
        if p.replace(name=cfg.name) == cfg:
            return name
    return ""


def sweep_graphs(graphs: dict, configs: list[AccelConfig], out_dir: str | Path | None = None,
                 *, mac_bytes: int = MAC_BYTES, plots: bool = True) -> list[dict]:
    """Compile and simulate every (model, config); rows of :data:`SWEEP_COLUMNS`.

    A config a model cannot map onto (:class:`CompileError`, or a field the instruction
    format cannot hold) is a row with its status and reason, not a failure.
    """
    rows = []
    for model, graph in graphs.items():
        model_rows = []
        for cfg in configs:
            r = {"model": model, "config": cfg.name, "preset": _preset_of(cfg),
                 "lanes": cfg.lanes, "bus_bytes": cfg.bus_bytes, "ub_kib": cfg.ub_kib,
                 "ub_banks": cfg.ub_banks, "wgt_kib": cfg.wgt_tiles * cfg.tile_bytes // 1024,
                 "wgt_tiles": cfg.wgt_tiles, "prm_words": cfg.prm_words,
                 "mac_units": cfg.macs_per_cycle, "sram_bytes": cfg.sram_bytes,
                 "area_proxy": cfg.sram_bytes + mac_bytes * cfg.macs_per_cycle,
                 "status": "ok", "error": "", "macs": graph.macs, "pareto": 0}
            try:
                prog = compile_graph(graph, cfg)
            except CompileError as e:
                r.update(status="compile error", error=str(e))
            except ValueError as e:  # an instruction field that does not fit
                r.update(status="encode error", error=str(e))
            else:
                T = build_report(prog, simulate(prog), model=model).totals
                r.update(cycles=T["cycles_pred"], util_pct=T["util_pred_pct"],
                         compute_util_pct=T["compute_util_pred_pct"],
                         stall_pct=_pct(T["stall_pred"], T["cycles_pred"]),
                         ext_read_bytes=T["ext_read_bytes"], ext_write_bytes=T["ext_write_bytes"],
                         refetch_factor=T["refetch_factor"], instr_bytes=T["instr_bytes"],
                         ub_peak_bytes=T["ub_peak_bytes"])
            model_rows.append(r)
        good = [r for r in model_rows if r["status"] == "ok"]
        for r, p in zip(good, pareto_front([(r["area_proxy"], r["cycles"]) for r in good]),
                        strict=True):
            r["pareto"] = int(p)
        rows += model_rows
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.csv").write_text(_csv_text(
            rows, SWEEP_COLUMNS, f"design-space sweep: {len(graphs)} model(s) x {len(configs)} "
            f"configs, analytic cycle model (accel/perf.py); area proxy = SRAM bytes + "
            f"{mac_bytes} x MAC units"))
        if plots:
            plot_pareto(rows, out / "pareto.png", mac_bytes)
    return rows


def plot_pareto(rows: list[dict], path: Path, mac_bytes: int = MAC_BYTES) -> Path:
    models = list(dict.fromkeys(r["model"] for r in rows))
    cols = min(3, len(models))
    nrows = -(-len(models) // cols)
    fig = _figure(4.4 * cols, 3.6 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False)
    lane_colors = {4: "#7f7f7f", 8: "#1f77b4", 16: "#2ca02c", 32: "#ff7f0e", 64: "#d62728"}
    for ax, m in zip(axes.flat, models, strict=False):
        rs = [r for r in rows if r["model"] == m]
        good = [r for r in rs if r["status"] == "ok"]
        for lanes in sorted({r["lanes"] for r in good}):
            sel = [r for r in good if r["lanes"] == lanes]
            ax.scatter([r["area_proxy"] / 2 ** 20 for r in sel], [r["cycles"] for r in sel],
                       s=16, color=lane_colors.get(lanes, "black"), label=f"{lanes} lanes",
                       zorder=3)
        front = sorted((r for r in good if r["pareto"]), key=lambda r: r["area_proxy"])
        if front:
            ax.step([r["area_proxy"] / 2 ** 20 for r in front], [r["cycles"] for r in front],
                    where="post", color="black", lw=1, label="Pareto front")
        for r in rs:
            if r["preset"] and r["status"] == "ok":
                ax.annotate(r["preset"], (r["area_proxy"] / 2 ** 20, r["cycles"]), fontsize=7,
                            xytext=(4, 4), textcoords="offset points")
        ax.set_yscale("log")
        ax.set_title(f"{m}: {len(good)} of {len(rs)} configs map", fontsize=10)
        ax.set_xlabel(f"area proxy, MiB of SRAM equivalent ({mac_bytes} B per MAC)")
        ax.set_ylabel("cycles (predicted)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(models):]:
        ax.set_visible(False)
    fig.suptitle("design-space sweep: cycles vs area proxy", fontsize=11)
    return _save(fig, path)


def sweep(models=("HF0", "HF1", "HF2", "HF3", "HF4", "HF5"), configs=None,
          out_dir: str | Path = "build/sweep", *, mac_bytes: int = MAC_BYTES,
          plots: bool = True, log=lambda s: None,
          progress: Progress = NO_PROGRESS) -> list[dict]:
    """:func:`sweep_graphs` over zoo models (quantized once, cached under build/<model>)."""
    from hfaccel.model import get_config

    for m in models:
        get_config(m)  # an unknown name fails before any work
    graphs = {}
    for m in models:
        t = time.perf_counter()
        name, graphs[m.lower()] = _load_graph(m, log, progress)
        log(f"{name}: graph loaded in {time.perf_counter() - t:.1f} s")
    if configs is None:
        configs, _ = sweep_configs()
    return sweep_graphs(graphs, configs, out_dir, mac_bytes=mac_bytes, plots=plots)
