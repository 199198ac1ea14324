"""The rows of a report: one :class:`UtilRow` and one :class:`TilingRow` per hardware operation
plus the output store, and the :class:`Totals`, computed from a compiled program, its cycle
prediction and (optionally) an RTL measurement.

Every CSV column is a field of a row class whose metadata holds its definition (``doc``); the
CSV writer, the JSON sidecar and the tests read :data:`UTIL_COLUMNS` / :data:`TILING_COLUMNS`,
which are derived from those fields. Fields without ``doc`` (``why``) are not CSV columns.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from hfaccel.accel import isa
from hfaccel.accel.compiler import HwOp, Program
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.depthwise import DwGeometry
from hfaccel.accel.perf import Prediction, roofline, simulate
from hfaccel.accel.report.measured import measured_ops

__all__ = ["KINDS", "PARAM_MIN_BYTES", "STORE_ROW", "TILING_COLUMNS", "UTIL_COLUMNS", "Report",
           "TilingRow", "Totals", "UtilRow", "build_report", "column", "columns"]

STORE_ROW = "(output store)"
KINDS = ("stem", "pointwise", "fc", "depthwise", "gap", "store")
PARAM_MIN_BYTES = 5  # per output channel: int32 bias + int8 shift (the hardware pads to 8)


def column(doc: str, default=None):
    """A CSV column: a field with its definition (written to the JSON sidecar and checked
    against docs/reports.md)."""
    return field(default=default, metadata={"doc": doc})


def columns(cls) -> list[tuple[str, str]]:
    """(column, definition) of a row class, in CSV order."""
    return [(f.name, f.metadata["doc"]) for f in dataclasses.fields(cls) if "doc" in f.metadata]


@dataclass(frozen=True)
class UtilRow:
    """One row of ``utilization.csv``; ``None`` is an empty cell (not applicable or not
    measured)."""

    index: int | None = column("hardware operation index (the instructions' layer field); "
                               "empty for the store")
    layer: str = column("the operation's main IR layer; the fused ones are listed in `fused`", "")
    kind: str = column("stem | pointwise | fc | depthwise | gap | store (the DMA of the logits)",
                       "")
    fused: str = column("IR ops fused into it: gate (SE multiply on its input), act (table), add "
                        "(residual)", "")
    in_shape: str = column("input feature map CxHxW (the stem reads host-side im2col patches of "
                           "it)", "")
    out_shape: str = column("output CxHxW (C for the logits)", "")
    kernel: str = column("KxK/stride of the conv; 'global' for pooling", "")
    macs: int = column("multiply-accumulates of the layer (no padding); they add up to the "
                       "model's", 0)
    cycles_pred: int = column("cycles attributed by the analytic model: from the end of the "
                              "previous op's last compute instruction to the end of its own; with "
                              "the store row they add up to the total", 0)
    cycles_meas: int | None = column("the same attribution measured in RTL (report.json "
                                     "layers[*].cycles); empty without a simulation")
    cycles_err_pct: float | None = column("(cycles_pred - cycles_meas) / cycles_meas x 100")
    busy_pred: int = column("cycles the compute unit spent running the op's instructions (model)",
                          0)
    stall_pred: int = column("cycles_pred - busy_pred: compute idle, waiting for "
                             "weights/params/tables or for instructions", 0)
    busy_meas: int | None = column("busy cycles counted by the RTL's perf port")
    stall_meas: int | None = column("cycles_meas - busy_meas")
    mapping_eff_pct: float | None = column(
        "SCALE-Sim mapping efficiency: share of the PEs that hold real work given the padding "
        "to lanes; GEMM: Ci x Co / (ceil(Ci/L) L x ceil(Co/L) L); depthwise: (C / (ceil(C/L) "
        "L)) x (output pixels / (pixel blocks x L)); empty for pooling")
    compute_util_pred_pct: float | None = column("MACs / (busy_pred x L^2) x 100: array use while "
                                                 "it runs")
    compute_util_meas_pct: float | None = column("MACs / (busy_meas x L^2) x 100")
    util_pred_pct: float | None = column("SCALE-Sim overall utilization: MACs x 100 / (cycles_pred "
                                         "x L^2)")
    util_meas_pct: float | None = column("MACs x 100 / (cycles_meas x L^2)")
    roofline_cycles: float | None = column("max(MACs / L^2, DMA beats of its weights/params/tables)"
                                           " (accel/perf.py roofline)")
    bound: str = column("compute if MACs / L^2 >= those DMA beats, else memory (roofline); empty "
                        "when both are 0", "")
    # not a column: the reason summary.md gives for the layer's cycles
    why: str = ""


@dataclass(frozen=True)
class TilingRow:
    """One row of ``tiling.csv``; ``None`` is an empty cell (not applicable)."""

    index: int | None = column("hardware operation index; empty for the store")
    layer: str = column("main IR layer", "")
    kind: str = column("stem | pointwise | fc | depthwise | gap | store", "")
    tile_cin: int | None = column("input channels per tile (the lanes; depthwise: channels per "
                                  "group)")
    n_cin_tiles: int | None = column("input channel tiles ceil(Ci/L) (depthwise/pool: channel "
                                     "groups)")
    tile_cout: int | None = column("output channels per tile (the lanes; depthwise: the group's "
                                   "channels)")
    n_cout_tiles: int | None = column("output channel tiles ceil(Co/L) (depthwise/pool: channel "
                                      "groups)")
    tile_pix: int | None = column("pixels per tile: GEMM streams the whole map (or band) past each "
                                  "weight tile; depthwise: L output pixels per block; pool: "
                                  "ub_banks pixels per wide read")
    n_pix_tiles: int | None = column("pixel tiles per channel tile (depthwise: blocks, pool: wide "
                                     "reads)")
    dw_mode: str = column("depthwise: flat (L pixels packed across rows) or row (L pixels of one "
                          "row)", "")
    chunk_tiles: int | None = column("output channel tiles (depthwise: groups) per weight chunk; "
                                     "one chunk fills at most one ping-pong half of the weight and "
                                     "parameter buffers")
    n_chunks: int | None = column("weight chunks (each one LOAD per buffer, overlapped with "
                                  "compute)")
    streamed: str | None = column("maps of the op in external memory, streamed through the UB in "
                                  "bands (x input, skip, out output; empty: all in the UB)")
    n_bands: int | None = column("row bands the op runs in (pool over a streamed map: pixel pieces "
                                 "per group)")
    band_rows: int | None = column("output rows per band (pool: pixels per piece)")
    staging_bytes: int | None = column("UB bytes of the two band slots per streamed map")
    ub_op_bytes: int | None = column("UB bytes of the op's own operands (input, output, skip, "
                                     "gate), bank-aligned")
    ub_live_bytes: int | None = column("UB bytes of every feature map live during the op (as the "
                                       "compiler allocated them)")
    ub_occ_pct: float | None = column("ub_live_bytes / UB size x 100")
    wgt_half_bytes: int | None = column("largest weight chunk, bytes")
    wgt_occ_pct: float | None = column("wgt_half_bytes / (wgt_tiles / 2 x L^2) x 100")
    prm_half_bytes: int | None = column("largest parameter chunk, bytes (8 per channel: bias, "
                                        "shift, padding)")
    prm_occ_pct: float | None = column("prm_half_bytes / (prm_words / 2 x 8 L) x 100")
    tbl_bytes: int | None = column("activation table bytes per chunk (256 with a fused "
                                   "activation)")
    tbl_occ_pct: float | None = column("tbl_bytes / one table slot (256 bytes) x 100")
    dw_window_words: int | None = column("depthwise: UB words the window reader fetches (groups x "
                                         "blocks x K x (L x stride + K - 1))")
    halo_factor: float | None = column("dw_window_words / input words (groups x H x W): re-reads "
                                       "of the input through overlapping windows")
    ext_wgt_bytes: int = column("external bytes DMA'd into the weight buffer", 0)
    ext_prm_bytes: int = column("external bytes DMA'd into the parameter buffer", 0)
    ext_tbl_bytes: int = column("external bytes DMA'd into the table buffer", 0)
    ext_in_bytes: int = column("external bytes DMA'd into the UB (the network input, im2col for a "
                               "stem; bands of streamed maps with their halos)", 0)
    ext_out_bytes: int = column("external bytes stored from the UB (bands of streamed outputs; the "
                                "store row: the logits)", 0)
    ext_read_bytes: int = column("ext_wgt + ext_prm + ext_tbl + ext_in", 0)
    ext_write_bytes: int = column("ext_out", 0)
    instr_bytes: int = column("instruction fetch of the op's instructions (64 bytes each; not in "
                              "ext_read)", 0)
    min_bytes: int = column("minimum traffic: weights unpadded + 5 bytes per output channel + one "
                            "table + the raw network input / logits", 0)
    refetch_factor: float | None = column(
        "(ext_read + ext_write) / min_bytes: padding to lanes and the bus, parameter padding, a "
        "table per chunk, im2col")


UTIL_COLUMNS: list[tuple[str, str]] = columns(UtilRow)
TILING_COLUMNS: list[tuple[str, str]] = columns(TilingRow)


@dataclass(frozen=True)
class Totals:
    """Whole-program numbers of a report; the measured ones are ``None`` without a run."""

    model: str
    hw: str
    lanes: int
    mac_units: int
    sram_bytes: int
    hw_ops: int
    instructions: int
    macs: int
    cycles_pred: int
    busy_pred: int
    stall_pred: int
    util_pred_pct: float | None
    compute_util_pred_pct: float | None
    roofline_cycles: int
    cycles_over_roofline: float | None
    ub_peak_bytes: int
    ub_peak_pct: float | None
    wgt_half_peak_pct: float
    spilled_maps: int  # feature maps in external memory (streamed in bands)
    banded_ops: int  # operations that run in more than one band
    band_bytes: int  # external traffic of the bands (loads into and stores from the UB)
    ext_wgt_bytes: int
    ext_prm_bytes: int
    ext_tbl_bytes: int
    ext_in_bytes: int
    ext_out_bytes: int
    ext_read_bytes: int
    ext_write_bytes: int
    ext_bytes: int
    instr_bytes: int
    min_bytes: int
    refetch_factor: float | None
    cycles_meas: int | None = None
    cycles_err_pct: float | None = None
    util_meas_pct: float | None = None
    mean_abs_layer_err_pct: float | None = None
    busy_meas: int | None = None
    stall_meas: int | None = None
    compute_util_meas_pct: float | None = None


@dataclass(frozen=True)
class Report:
    """Rows and totals of one program's report (see :data:`UTIL_COLUMNS`)."""

    prog: Program
    pred: Prediction
    model: str
    util: tuple[UtilRow, ...]
    tiling: tuple[TilingRow, ...]
    totals: Totals
    measured_from: str = ""  # where measured cycles came from ('' = analytic only)
    files: dict[str, Path] = field(default_factory=dict)  # what write_reports wrote

    @property
    def cfg(self) -> AccelConfig:
        return self.prog.cfg

    @property
    def measured(self) -> bool:
        return bool(self.measured_from)


# ------------------------------------------------------------------------------ helpers
def pct(num: float, den: float) -> float | None:
    return round(100.0 * num / den, 2) if den else None


def ratio(num: float, den: float) -> float | None:
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


def _band_rows(op: HwOp, h: int) -> int:
    """Output rows per band (a pool: pixels per piece); all ``h`` rows when nothing streams."""
    if op.stream is None:
        return h
    b = op.stream.bands[0]
    return b.npix if op.kind == "gap" else b.r1 - b.r0


def _aligned(words: int, banks: int) -> int:
    return -(-words // banks) * banks


@dataclass(frozen=True)
class _Shape:
    """What the reason for a layer's cycles needs to know about its mapping."""

    gemm: tuple[int, int, int, int] | None = None  # ci, co, cit, cot
    dw: tuple[int, int, int, int, bool] | None = None  # c, ho, wo, blocks, flat
    reads: tuple[int, int] | None = None  # depthwise: wide reads per window row, k


def _why(u: UtilRow, comp: float, beats: int, shape: _Shape, lanes: int) -> str:
    """Why the layer takes its cycles: roofline bound, poor mapping, reader-bound windows,
    stalls (summary.md's ranking of the most expensive layers)."""
    parts = []
    if u.bound == "compute":
        parts.append(f"compute-bound ({comp:.0f} cycles of MACs at full array vs {beats} DMA "
                     "beats)")
    elif u.bound == "memory":
        parts.append(f"memory-bound ({beats} DMA beats of weights/params/tables vs {comp:.0f} "
                     "cycles of MACs)")
    else:
        parts.append("pooling: wide UB reads, no MACs")
    m = u.mapping_eff_pct
    if m is not None and m < 90:
        if shape.gemm is not None:
            ci, co, cit, cot = shape.gemm
            parts.append(f"mapping {m:.0f}% ({ci} in x {co} out channels on {cit}x{cot} tiles "
                         f"of {lanes})")
        elif shape.dw is not None:
            c, ho, wo, blocks, flat = shape.dw
            parts.append(f"mapping {m:.0f}% ({c} channels, {ho}x{wo} outputs in {blocks} "
                         f"{'flat' if flat else 'row'} blocks of {lanes})")
    if shape.reads is not None and shape.reads[0] > shape.reads[1]:
        parts.append(f"window reader-bound ({shape.reads[0]} wide reads per {shape.reads[1]} "
                     "taps)")
    cyc = u.cycles_meas or u.cycles_pred
    stall = u.stall_meas if u.stall_meas is not None else u.stall_pred
    if cyc and stall / cyc > 0.2:
        parts.append(f"{100 * stall / cyc:.0f}% stalled (compute waiting for data)")
    return "; ".join(parts)


# ------------------------------------------------------------------------------ the rows
def build_report(prog: Program, pred: Prediction | None = None, *, model: str | None = None,
                 measured: dict | None = None, measured_busy: dict | None = None,
                 measured_from: str = "") -> Report:
    """Per-layer utilization and tiling rows of ``prog`` (and totals).

    ``measured``: a ``hw-sim`` report.json dict (its ``layers[*].cycles`` and total), checked
    against the program (:class:`~hfaccel.errors.HfaccelError` if it is another program's);
    ``measured_busy``: {hw op index: compute busy cycles} from the RTL's perf port.
    """
    cfg = prog.cfg
    pred = pred or simulate(prog)
    roof = roofline(prog)
    L, L2, bb = cfg.lanes, cfg.macs_per_cycle, cfg.bus_bytes
    graph = prog.graph
    layers = {ly.output: ly for ly in graph.layers}
    meas, meas_total = measured_ops(prog, measured) if measured else (None, None)
    if measured_busy is not None:
        measured_busy = {int(k): int(v) for k, v in measured_busy.items()}
    if measured and not measured_from:
        measured_from = "report.json" + (f" ({measured['sim']['simulator']})"
                                         if isinstance(measured.get("sim"), dict) else "")
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
    band_bytes = 0
    for op in prog.ops:
        kind = _op_kind(op)
        idx = op.index
        xl, ol = layers[op.x], layers[op.out]
        x, o = prog.tensors[op.x], prog.tensors[op.out]
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
        band_bytes += ext[isa.BUF_UB] + out_bytes
        own_input = idx == in_consumer and prog.input_load is not None
        in_bytes = beats(prog.input_load) * bb if own_input else 0
        n_instr = len(op.instrs) + len(op.loads) + int(own_input)
        r = roof[idx]
        # ---- geometry
        staging = op.staging.words if op.staging else 0
        stream = {"streamed": " ".join(op.stream.slots.streamed) if op.stream else "",
                  "n_bands": op.n_bands, "band_rows": _band_rows(op, o.h),
                  "staging_bytes": staging * cfg.word_bytes}
        mapping, kernel = None, "global"
        shape = _Shape()
        min_bytes = 0
        if op.kind == "gemm":
            conv = op.conv
            co = conv.weight.shape[0]
            ci = conv.weight.size // co
            wp = op.weights
            cit, cot = wp.in_tiles, wp.out_tiles
            mapping = pct(ci * co, cit * L * cot * L)
            kernel = f"{conv.weight.shape[2]}x{conv.weight.shape[3]}/{conv.stride}"
            geo = dict(tile_cin=L, n_cin_tiles=cit, tile_cout=L, n_cout_tiles=cot,
                       tile_pix=prog.instrs[op.instrs[0]]["npix"], n_pix_tiles=op.n_bands,
                       dw_mode="", chunk_tiles=wp.per_chunk, n_chunks=len(wp.chunks))
            min_bytes = conv.weight.size + PARAM_MIN_BYTES * co
            shape = _Shape(gemm=(ci, co, cit, cot))
        elif op.kind == "dw":
            conv = op.conv
            c = conv.weight.shape[0]
            ins0 = prog.instrs[op.instrs[0]]
            dwg = DwGeometry(L, ins0["k"], ins0["s"])
            groups = op.weights.out_tiles
            # blocks per channel group, summed over the op's bands
            blocks = sum(prog.instrs[i]["g"] * dwg.blocks(prog.instrs[i]["ho"],
                                                          prog.instrs[i]["wo"],
                                                          bool(prog.instrs[i]["flat"]))
                         for i in op.instrs) // groups
            flat = bool(ins0["flat"])
            mapping = pct(c * o.h * o.w, groups * L * blocks * L)
            kernel = f"{dwg.k}x{dwg.k}/{dwg.s}"
            window = groups * dwg.window_words(blocks)
            geo = dict(tile_cin=L, n_cin_tiles=groups, tile_cout=L, n_cout_tiles=groups,
                       tile_pix=L, n_pix_tiles=blocks, dw_mode="flat" if flat else "row",
                       chunk_tiles=op.weights.per_chunk, n_chunks=len(op.weights.chunks),
                       dw_window_words=window, halo_factor=ratio(window, groups * x.h * x.w))
            min_bytes = conv.weight.size + PARAM_MIN_BYTES * c
            shape = _Shape(dw=(c, o.h, o.w, blocks, flat),
                           reads=(dwg.reads(cfg.ub_banks), dwg.k))
        else:  # gap
            hw = op.gap.extra["in_hw"]
            groups = math.ceil(op.gap.shape[0] / L)
            geo = dict(tile_cin=L, n_cin_tiles=groups, tile_cout=L, n_cout_tiles=groups,
                       tile_pix=cfg.ub_banks, n_pix_tiles=math.ceil(hw / cfg.ub_banks),
                       dw_mode="", chunk_tiles=None, n_chunks=0)
        if op.table is not None:
            min_bytes += cfg.table_bytes
        if idx == in_consumer:
            min_bytes += math.prod(graph.input_shape)
        # ---- cycles
        cyc = pred.per_op[idx]
        busy = pred.compute_busy.get(idx, 0)
        m = meas[idx] if meas is not None else None
        mb = measured_busy.get(idx, 0) if m is not None and measured_busy is not None else None
        u = UtilRow(
            index=idx, layer=op.name, kind=kind, fused=_fused(op), in_shape=_shape(xl.shape),
            out_shape=_shape(ol.shape), kernel=kernel, macs=op.macs, cycles_pred=cyc,
            cycles_meas=m, cycles_err_pct=pct(cyc - m, m) if m is not None else None,
            busy_pred=busy, stall_pred=cyc - busy,
            busy_meas=mb, stall_meas=m - mb if mb is not None else None,
            mapping_eff_pct=mapping,
            compute_util_pred_pct=pct(op.macs, busy * L2) if op.macs else None,
            compute_util_meas_pct=pct(op.macs, mb * L2) if op.macs and mb is not None
            else None,
            util_pred_pct=pct(op.macs, cyc * L2) if op.macs else None,
            util_meas_pct=pct(op.macs, m * L2) if op.macs and m is not None else None,
            roofline_cycles=round(r.cycles, 1), bound=r.bound)
        util.append(dataclasses.replace(u, why=_why(u, r.compute, r.memory, shape, L)))
        # ---- buffers
        ub_op = staging + sum(
            _aligned(prog.tensors[n].words(L), cfg.ub_banks)
            for n in {op.x, op.out, op.skip, op.gate} - {None} if prog.tensors[n].home == "ub")
        live = prog.ub_live_words[idx]
        half_w = cfg.wgt_tiles // 2 * cfg.tile_bytes
        half_p = cfg.prm_words // 2 * cfg.prm_word_bytes
        rd = ext[isa.BUF_WGT] + ext[isa.BUF_PRM] + ext[isa.BUF_TBL] + ext[isa.BUF_UB] + in_bytes
        tiling.append(TilingRow(
            index=idx, layer=op.name, kind=kind, **geo, **stream,
            ub_op_bytes=ub_op * cfg.word_bytes, ub_live_bytes=live * cfg.word_bytes,
            ub_occ_pct=pct(live, cfg.ub_words),
            wgt_half_bytes=chunk_max[isa.BUF_WGT],
            wgt_occ_pct=pct(chunk_max[isa.BUF_WGT], half_w),
            prm_half_bytes=chunk_max[isa.BUF_PRM],
            prm_occ_pct=pct(chunk_max[isa.BUF_PRM], half_p),
            tbl_bytes=cfg.table_bytes if op.table is not None else 0,
            tbl_occ_pct=100.0 if op.table is not None else 0.0,
            ext_wgt_bytes=ext[isa.BUF_WGT], ext_prm_bytes=ext[isa.BUF_PRM],
            ext_tbl_bytes=ext[isa.BUF_TBL], ext_in_bytes=ext[isa.BUF_UB] + in_bytes,
            ext_out_bytes=out_bytes, ext_read_bytes=rd, ext_write_bytes=out_bytes,
            instr_bytes=n_instr * cfg.instr_bytes, min_bytes=min_bytes,
            refetch_factor=ratio(rd + out_bytes, min_bytes)))

    # ---- the output store (and the token drains before it): the tail of the schedule
    tail_ids = [i for i, ins in enumerate(prog.instrs) if i not in owner]
    st_read = sum(beats(i) * bb for i in tail_ids if prog.instrs[i].op == "LOAD")
    st_write = sum(beats(i) * bb for i in tail_ids if prog.instrs[i].op == "STORE")
    tail = pred.total - sum(pred.per_op.values())
    out_shape = _shape(layers[graph.output].shape)
    mt = meas_total - sum(meas.values()) if meas is not None else None
    util.append(UtilRow(
        index=None, layer=STORE_ROW, kind="store", fused="", in_shape=out_shape,
        out_shape=out_shape, kernel="", macs=0, cycles_pred=tail, cycles_meas=mt,
        cycles_err_pct=pct(tail - mt, mt) if mt is not None else None, busy_pred=0,
        stall_pred=tail, busy_meas=0 if mt is not None and measured_busy is not None else None,
        stall_meas=mt if measured_busy is not None else None, bound=""))
    out_min = math.prod(layers[graph.output].shape)
    tiling.append(TilingRow(
        index=None, layer=STORE_ROW, kind="store", dw_mode="", n_chunks=0,
        ub_op_bytes=_aligned(prog.tensors[graph.output].words(L), cfg.ub_banks) * cfg.word_bytes,
        wgt_half_bytes=0, prm_half_bytes=0, tbl_bytes=0, ext_wgt_bytes=0, ext_prm_bytes=0,
        ext_tbl_bytes=st_read, ext_in_bytes=0, ext_out_bytes=st_write, ext_read_bytes=st_read,
        ext_write_bytes=st_write, instr_bytes=len(tail_ids) * cfg.instr_bytes,
        min_bytes=out_min, refetch_factor=ratio(st_read + st_write, out_min)))

    # ---- totals
    def tot(key: str) -> int:
        return sum(getattr(t, key) or 0 for t in tiling)

    macs = graph.macs
    busy = sum(pred.compute_busy.values())
    roof_total = round(sum(u.roofline_cycles or 0 for u in util))
    ext_bytes = tot("ext_read_bytes") + tot("ext_write_bytes")
    measured_totals = {}
    if meas is not None:
        measured_totals = dict(
            cycles_meas=meas_total, cycles_err_pct=pct(pred.total - meas_total, meas_total),
            util_meas_pct=pct(macs, meas_total * L2),
            mean_abs_layer_err_pct=round(sum(abs(u.cycles_err_pct or 0) for u in util[:-1])
                                         / max(1, len(prog.ops)), 2))
        if measured_busy is not None:
            mb = sum(measured_busy.get(op.index, 0) for op in prog.ops)
            measured_totals.update(busy_meas=mb, stall_meas=meas_total - mb,
                                   compute_util_meas_pct=pct(macs, mb * L2))
    totals = Totals(
        model=model or (measured or {}).get("model") or graph.source or "network",
        hw=cfg.name, lanes=L, mac_units=L2, sram_bytes=cfg.sram_bytes, hw_ops=len(prog.ops),
        instructions=len(prog.instrs), macs=macs, cycles_pred=pred.total, busy_pred=busy,
        stall_pred=pred.total - busy, util_pred_pct=pct(macs, pred.total * L2),
        compute_util_pred_pct=pct(macs, busy * L2), roofline_cycles=roof_total,
        cycles_over_roofline=ratio(pred.total, roof_total),
        ub_peak_bytes=prog.ub_peak_words * cfg.word_bytes,
        ub_peak_pct=pct(prog.ub_peak_words, cfg.ub_words),
        wgt_half_peak_pct=max((t.wgt_occ_pct or 0 for t in tiling), default=0),
        spilled_maps=len(prog.spilled), banded_ops=sum(op.n_bands > 1 for op in prog.ops),
        band_bytes=band_bytes,
        **{k: tot(k) for k in ("ext_wgt_bytes", "ext_prm_bytes", "ext_tbl_bytes",
                               "ext_in_bytes", "ext_out_bytes", "ext_read_bytes",
                               "ext_write_bytes", "instr_bytes", "min_bytes")},
        ext_bytes=ext_bytes, refetch_factor=ratio(ext_bytes, tot("min_bytes")),
        **measured_totals)
    return Report(prog, pred, totals.model, tuple(util), tuple(tiling), totals,
                  measured_from=measured_from if measured else "")
