"""The design-space sweep: lanes, bus width and buffer sizes for several models, analytic
cycles against an area proxy; ``build/sweep/sweep.csv`` (with its sidecar ``sweep.json``) and
``pareto.png``."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from hfaccel.accel.compiler import CompileError, compile_graph
from hfaccel.accel.config import DEFAULT, PRESETS, AccelConfig
from hfaccel.accel.perf import simulate
from hfaccel.accel.report.models import load_graph
from hfaccel.accel.report.plots import plot_pareto
from hfaccel.accel.report.render import write_table
from hfaccel.accel.report.rows import build_report, column, columns, pct
from hfaccel.errors import ConfigError
from hfaccel.progress import NO_PROGRESS, Progress

__all__ = ["MAC_BYTES", "SWEEP_COLUMNS", "SweepRow", "pareto_front", "sweep", "sweep_configs",
           "sweep_graphs"]

MAC_BYTES = 512  # area proxy: one int8 MAC with its 32-bit accumulator ~ 512 bytes of SRAM


@dataclass(frozen=True)
class SweepRow:
    """One (model, config) of a sweep; the result columns are ``None`` when it does not map."""

    model: str = column("model name", "")
    config: str = column("L<lanes>-bus<bytes>-ub<KiB>k-wgt<KiB>k", "")
    preset: str = column("the preset this config equals, if any", "")
    lanes: int = column("lanes; the PE array is lanes x lanes", 0)
    bus_bytes: int = column("external bus bytes per beat", 0)
    ub_kib: int = column("unified buffer KiB", 0)
    ub_banks: int = column("UB banks (= lanes, at least bus_bytes / lanes)", 0)
    wgt_kib: int = column("weight buffer KiB (both halves)", 0)
    wgt_tiles: int = column("weight buffer tiles of L^2 bytes", 0)
    prm_words: int = column("parameter buffer words", 0)
    mac_units: int = column("MAC units, lanes^2", 0)
    sram_bytes: int = column("all on-chip SRAM: UB + weights + parameters + tables", 0)
    area_proxy: int = column("sram_bytes + mac_bytes x mac_units (mac_bytes: SRAM bytes one MAC is "
                             "worth, --mac-bytes)", 0)
    status: str = column("ok | compile error | encode error", "ok")
    error: str = column("why it does not map", "")
    cycles: int | None = column("predicted cycles (analytic model)")
    macs: int = column("the model's MACs", 0)
    util_pct: float | None = column("MACs x 100 / (cycles x L^2)")
    compute_util_pct: float | None = column("MACs x 100 / (compute busy cycles x L^2)")
    stall_pct: float | None = column("cycles without compute / cycles x 100")
    ext_read_bytes: int | None = column("external bytes read by DMA (weights, params, tables, "
                                        "input, bands)")
    ext_write_bytes: int | None = column("external bytes written (logits, bands)")
    refetch_factor: float | None = column("external bytes / minimum traffic")
    instr_bytes: int | None = column("instruction fetch bytes")
    ub_peak_bytes: int | None = column("UB bytes live at the peak")
    pareto: int = column("1 if no other config of the model is both faster and smaller", 0)


SWEEP_COLUMNS: list[tuple[str, str]] = columns(SweepRow)


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


def _row(model: str, graph, cfg: AccelConfig, mac_bytes: int) -> SweepRow:
    r = SweepRow(model=model, config=cfg.name, preset=_preset_of(cfg), lanes=cfg.lanes,
                 bus_bytes=cfg.bus_bytes, ub_kib=cfg.ub_kib, ub_banks=cfg.ub_banks,
                 wgt_kib=cfg.wgt_tiles * cfg.tile_bytes // 1024, wgt_tiles=cfg.wgt_tiles,
                 prm_words=cfg.prm_words, mac_units=cfg.macs_per_cycle,
                 sram_bytes=cfg.sram_bytes, area_proxy=cfg.sram_bytes
                 + mac_bytes * cfg.macs_per_cycle, macs=graph.macs)
    try:
        prog = compile_graph(graph, cfg)
    except CompileError as e:
        return dataclasses.replace(r, status="compile error", error=str(e))
    except ValueError as e:  # an instruction field that does not fit
        return dataclasses.replace(r, status="encode error", error=str(e))
    T = build_report(prog, simulate(prog), model=model).totals
    return dataclasses.replace(
        r, cycles=T.cycles_pred, util_pct=T.util_pred_pct,
        compute_util_pct=T.compute_util_pred_pct, stall_pct=pct(T.stall_pred, T.cycles_pred),
        ext_read_bytes=T.ext_read_bytes, ext_write_bytes=T.ext_write_bytes,
        refetch_factor=T.refetch_factor, instr_bytes=T.instr_bytes,
        ub_peak_bytes=T.ub_peak_bytes)


def sweep_graphs(graphs: dict, configs: list[AccelConfig], out_dir: str | Path | None = None,
                 *, mac_bytes: int = MAC_BYTES, plots: bool = True) -> list[SweepRow]:
    """Compile and simulate every (model, config); one :class:`SweepRow` each.

    A config a model cannot map onto (:class:`CompileError`, or a field the instruction
    format cannot hold) is a row with its status and reason, not a failure.
    """
    rows = []
    for model, graph in graphs.items():
        model_rows = [_row(model, graph, cfg, mac_bytes) for cfg in configs]
        good = [i for i, r in enumerate(model_rows) if r.status == "ok"]
        front = pareto_front([(model_rows[i].area_proxy, model_rows[i].cycles) for i in good])
        for i, p in zip(good, front, strict=True):
            model_rows[i] = dataclasses.replace(model_rows[i], pareto=int(p))
        rows += model_rows
    if out_dir is not None:
        out = Path(out_dir)
        write_table(out / "sweep.csv", rows, SWEEP_COLUMNS, {
            "title": f"design-space sweep: {len(graphs)} model(s) x {len(configs)} configs, "
                     f"analytic cycle model (accel/perf.py); area proxy = SRAM bytes + "
                     f"{mac_bytes} x MAC units",
            "models": list(graphs), "configs": [c.name for c in configs],
            "mac_bytes": mac_bytes})
        if plots:
            plot_pareto(rows, out / "pareto.png", mac_bytes)
    return rows


def sweep(models=("HF0", "HF1", "HF2", "HF3", "HF4", "HF5"), configs=None,
          out_dir: str | Path = "build/sweep", *, mac_bytes: int = MAC_BYTES,
          plots: bool = True, log=lambda s: None,
          progress: Progress = NO_PROGRESS) -> list[SweepRow]:
    """:func:`sweep_graphs` over zoo models (quantized once, cached under build/<model>)."""
    from hfaccel.model import get_config

    for m in models:
        get_config(m)  # an unknown name fails before any work
    graphs = {}
    for m in models:
        t = time.perf_counter()
        name, graphs[m.lower()] = load_graph(m, log, progress)
        log(f"{name}: graph loaded in {time.perf_counter() - t:.1f} s")
    if configs is None:
        configs, _ = sweep_configs()
    return sweep_graphs(graphs, configs, out_dir, mac_bytes=mac_bytes, plots=plots)
