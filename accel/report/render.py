"""Rendering a report: plain CSVs with a JSON sidecar, the Markdown summary, terminal lines.

A CSV is the header line and the rows, nothing else, so that ``csv``, pandas and spreadsheets
read it as it is. What describes it (the model and config, where measured cycles came from,
each column's definition) is in the sidecar ``<name>.json`` next to it (:func:`write_table`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hfaccel.accel.report.rows import KINDS, Report, pct
from hfaccel.files import atomic_write_text

__all__ = ["csv_text", "format_text", "read_csv", "summary_md", "write_table"]

NOTES = "L = lanes; empty cells: not applicable or not measured"


def fmt(v) -> str:
    """A cell: empty for None, floats without trailing zeros."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    return str(v)


def csv_text(rows, columns: list[tuple[str, str]]) -> str:
    """The header line and one line per row (dataclass rows; ``None`` is an empty cell)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c for c, _ in columns])
    for r in rows:
        w.writerow([fmt(getattr(r, c)) for c, _ in columns])
    return buf.getvalue()


def write_table(path: Path, rows, columns: list[tuple[str, str]], meta: dict) -> Path:
    """``path`` (CSV) and its sidecar ``path.with_suffix('.json')``: ``meta`` (title, model,
    config, ...) and ``columns``, each column's definition (the ones in docs/reports.md)."""
    atomic_write_text(path, csv_text(rows, columns))
    side = {"table": path.name, **meta, "columns": dict(columns)}
    atomic_write_text(path.with_suffix(".json"), json.dumps(side, indent=2) + "\n")
    return path


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of a report CSV as {column: cell text}."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def table_meta(rep: Report, what: str) -> dict:
    """The sidecar of a report table: what it is, of which model on which config, and where
    its cycles came from."""
    c = rep.cfg
    return {"title": (f"{what}: {rep.model} on {c.name} ({c.lanes} lanes, {c.lanes}x{c.lanes} "
                      f"PEs, bus {c.bus_bytes} B, UB {c.ub_kib} KiB, {c.ub_banks} banks, WGT "
                      f"{c.wgt_tiles} tiles, PRM {c.prm_words} words)"),
            "model": rep.model, "hw": c.as_dict(),
            "cycles_predicted_by": "accel/perf.py",
            "cycles_measured_from": rep.measured_from or None,
            "notes": NOTES}


# ------------------------------------------------------------------------------ Markdown
def _md_table(header: list[str], rows: list[list]) -> str:
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)
               for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    out += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def kb(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    return f"{n / 1024:,.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):,.2f} MiB"


def _maps_line(rep: Report) -> str:
    """Where the feature maps lived: all in the unified buffer, or spilled and streamed."""
    T = rep.totals
    if not T.spilled_maps:
        return "All feature maps stay in the unified buffer."
    return (f"{T.spilled_maps} feature map(s) did not fit the unified buffer: they live in "
            f"external memory and {T.banded_ops} operation(s) stream them through the buffer "
            f"in row bands ({kb(T.band_bytes)} of the traffic above).")


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
                         c.bus_bytes, kb(c.ub_kib * 1024), c.ub_banks,
                         f"{c.wgt_tiles} tiles ({kb(c.wgt_tiles * c.tile_bytes)})",
                         f"{c.prm_words} words ({kb(c.prm_words * c.prm_word_bytes)})",
                         f"{c.table_slots} x {c.table_bytes} B", kb(c.sram_bytes)]]), "",
             "## Totals", ""]
    rows = [["cycles", T.cycles_pred, T.cycles_meas, T.cycles_err_pct],
            ["compute busy cycles", T.busy_pred, T.busy_meas, None],
            ["stall cycles", T.stall_pred, T.stall_meas, None],
            ["overall utilization %", T.util_pred_pct, T.util_meas_pct, None],
            ["compute utilization %", T.compute_util_pred_pct, T.compute_util_meas_pct, None]]
    lines += [_md_table(["", "predicted", "measured", "error %"], rows), ""]
    lines += [
        f"- {T.macs:,} MACs in {T.hw_ops} hardware operations, {T.instructions} "
        f"instructions ({kb(T.instr_bytes)} fetched).",
        f"- External traffic: read {kb(T.ext_read_bytes)} (weights "
        f"{kb(T.ext_wgt_bytes)}, parameters {kb(T.ext_prm_bytes)}, tables "
        f"{kb(T.ext_tbl_bytes)}, input {kb(T.ext_in_bytes)}), written "
        f"{kb(T.ext_write_bytes)}; minimum {kb(T.min_bytes)}, re-fetch factor "
        f"{T.refetch_factor}. {_maps_line(rep)}",
        f"- Unified buffer peak {kb(T.ub_peak_bytes)} of {kb(c.ub_kib * 1024)} "
        f"({T.ub_peak_pct}%); largest weight chunk fills {T.wgt_half_peak_pct}% of a "
        f"ping-pong half.",
        f"- Roofline: the per-layer bounds add up to {T.roofline_cycles:,} cycles; the "
        f"prediction is {T.cycles_over_roofline}x that."]
    if meas:
        lines.append(f"- Per-layer prediction error: mean |error| "
                     f"{T.mean_abs_layer_err_pct}% over {T.hw_ops} operations.")
    lines += ["", "## By op kind", ""]
    krows = []
    key = "cycles_meas" if meas else "cycles_pred"
    total_c = T.cycles_meas if meas else T.cycles_pred
    for kind in KINDS:
        rs = [r for r in rep.util if r.kind == kind]
        if not rs:
            continue
        macs = sum(r.macs for r in rs)
        cyc = sum(getattr(r, key) or 0 for r in rs)
        maps = [(r.mapping_eff_pct, r.macs) for r in rs if r.mapping_eff_pct is not None]
        mw = sum(m * w for m, w in maps) / max(1, sum(w for _, w in maps)) if maps else None
        krows.append([kind, len(rs), macs, cyc, pct(cyc, total_c),
                      pct(macs, cyc * c.macs_per_cycle) if macs else None,
                      round(mw, 2) if mw is not None else None])
    lines += [_md_table(["kind", "ops", "MACs", "cycles", "% of cycles", "utilization %",
                         "mapping % (MAC-weighted)"], krows), ""]
    lines += ["## The ten most expensive layers", "",
              f"Ranked by {'measured' if meas else 'predicted'} cycles; `bound` from the "
              "roofline (MACs / L^2 against DMA beats of weights, parameters and tables).", ""]
    ops = sorted((r for r in rep.util if r.kind != "store"),
                 key=lambda r: -(getattr(r, key) or 0))[:10]
    trows = [[r.layer, r.kind + (f" +{r.fused}" if r.fused else ""),
              f"{r.in_shape} -> {r.out_shape} {r.kernel}", r.macs, r.cycles_pred, r.cycles_meas,
              pct(getattr(r, key) or 0, total_c), r.util_meas_pct if meas else r.util_pred_pct,
              r.bound, r.why] for r in ops]
    lines += [_md_table(["layer", "kind", "shape", "MACs", "cycles pred", "cycles meas",
                         "% of total", "util %", "bound", "why"], trows), ""]
    if meas:
        worst = sorted((r for r in rep.util if r.cycles_err_pct is not None),
                       key=lambda r: -abs(r.cycles_err_pct))[:5]
        lines += ["## Predicted vs measured: largest per-layer errors", "",
                  _md_table(["layer", "kind", "predicted", "measured", "error %"],
                            [[r.layer, r.kind, r.cycles_pred, r.cycles_meas, r.cycles_err_pct]
                             for r in worst]), ""]
    lines += ["## Files", "",
              "`utilization.csv` and `tiling.csv` (one row per hardware operation plus the "
              "output store; plain CSV, header first), their sidecars `utilization.json` and "
              "`tiling.json` (model, config, where measured cycles came from, every column's "
              "definition, as in docs/reports.md), `utilization.png`, `roofline.png`, "
              "`traffic.png`.", "",
              f"{NOTES}.", "",
              "## Config JSON", "", "```json", c.to_json(), "```", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ terminal
def format_text(rep: Report) -> str:
    """A few lines for the terminal."""
    T, c = rep.totals, rep.cfg
    lines = [f"{rep.model} on {c.name} ({c.lanes} lanes): {T.macs / 1e6:.2f} M MACs, "
             f"{T.hw_ops} hardware operations",
             f"cycles predicted {T.cycles_pred:,}"
             + (f", measured {T.cycles_meas:,} (error {T.cycles_err_pct}%)"
                if rep.measured else " (analytic only)")
             + f"; utilization {T.util_pred_pct}% (compute {T.compute_util_pred_pct}% "
               f"while busy)",
             f"external traffic {kb(T.ext_bytes)} (minimum {kb(T.min_bytes)}, "
             f"re-fetch {T.refetch_factor}x); UB peak {kb(T.ub_peak_bytes)} "
             f"({T.ub_peak_pct}%)"]
    key = "cycles_meas" if rep.measured else "cycles_pred"
    top = sorted((r for r in rep.util if r.kind != "store"), key=lambda r: -(getattr(r, key) or 0))
    lines.append("most expensive: " + ", ".join(
        f"{r.layer} ({getattr(r, key):,}, {r.bound}-bound)" for r in top[:3]))
    return "\n".join(lines)
