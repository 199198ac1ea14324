"""Writing a report folder: for a compiled program (:func:`write_reports`, which ``hw-sim``
calls with its measurement), for an IR graph on a config (:func:`report_graph`, which
``hfaccel report`` calls) or for a zoo model (:func:`report_model`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from hfaccel.accel.compiler import Program, compile_graph
from hfaccel.accel.config import AccelConfig, get_preset
from hfaccel.accel.paths import run_dir
from hfaccel.accel.perf import Prediction, simulate
from hfaccel.accel.report.measured import load_measured
from hfaccel.accel.report.models import load_graph
from hfaccel.accel.report.render import summary_md, table_meta, write_table
from hfaccel.accel.report.rows import TILING_COLUMNS, UTIL_COLUMNS, Report, build_report
from hfaccel.errors import HfaccelError
from hfaccel.files import atomic_write_text

__all__ = ["report_graph", "report_model", "write_reports"]


def write_reports(prog: Program, pred: Prediction | None = None,
                  out_dir: str | Path = "build/reports", *, model: str | None = None,
                  measured: dict | None = None, measured_busy: dict | None = None,
                  measured_from: str = "", plots: bool = True) -> Report:
    """Write utilization.csv, tiling.csv (each with its JSON sidecar), summary.md and the
    plots into ``out_dir``; the report, with ``files`` naming what was written."""
    rep = build_report(prog, pred, model=model, measured=measured, measured_busy=measured_busy,
                       measured_from=measured_from)
    out = Path(out_dir)
    files = {"utilization": write_table(out / "utilization.csv", rep.util, UTIL_COLUMNS,
                                        table_meta(rep, "per-layer PE utilization")),
             "tiling": write_table(out / "tiling.csv", rep.tiling, TILING_COLUMNS,
                                   table_meta(rep, "per-layer SRAM tiling and traffic")),
             "summary": atomic_write_text(out / "summary.md", summary_md(rep))}
    files["utilization_json"] = files["utilization"].with_suffix(".json")
    files["tiling_json"] = files["tiling"].with_suffix(".json")
    if plots:
        from hfaccel.accel.report.plots import plot_roofline, plot_traffic, plot_utilization

        files["utilization_png"] = plot_utilization(rep, out / "utilization.png")
        files["roofline_png"] = plot_roofline(rep, out / "roofline.png")
        files["traffic_png"] = plot_traffic(rep, out / "traffic.png")
    return dataclasses.replace(rep, files=files)


def report_model(name: str, hw: str = "default", out_dir: str | Path | None = None, *,
                 measured: str | Path | None | bool = None, plots: bool = True) -> Report:
    """The report of a zoo model (``HF3``) on a preset: ``build/<model>/reports/``
    (``build/<model>-<hw>/reports/`` for other hardware, next to its hw-sim report.json;
    :func:`hfaccel.accel.paths.run_dir`).

    ``measured``: a report.json path, ``False`` for analytic only, ``None`` to use the
    report.json of that folder when it is from this program and config.
    """
    cfg = get_preset(hw)
    model, graph = load_graph(name)
    return report_graph(graph, cfg, run_dir(model, cfg), model=model, measured=measured,
                        out_dir=out_dir, plots=plots)


def report_graph(graph, cfg: AccelConfig, base: Path, *, model: str, out_dir=None,
                 measured=None, plots: bool = True, log=lambda s: None) -> Report:
    """Compile ``graph`` for ``cfg``, predict its cycles and write the report into
    ``out_dir`` (default ``base / "reports"``); measured cycles as in :func:`report_model`,
    from ``base / "report.json"`` by default."""
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
