"""The report's plots (matplotlib, Agg: no display needed): per-layer utilization, the
roofline, external traffic per layer, and the sweep's Pareto panels."""

from __future__ import annotations

from pathlib import Path

from hfaccel.accel.report.render import kb
from hfaccel.accel.report.rows import KINDS, Report
from hfaccel.files import atomic_path

__all__ = ["plot_pareto", "plot_roofline", "plot_traffic", "plot_utilization"]

KIND_COLORS = {"stem": "#8c564b", "pointwise": "#1f77b4", "fc": "#ff7f0e",
               "depthwise": "#2ca02c", "gap": "#9467bd", "store": "#7f7f7f"}


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    return path


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_utilization(rep: Report, path: Path) -> Path:
    rows = [r for r in rep.util if r.kind != "store"]
    n = len(rows)
    fig = _figure(max(8.0, 0.13 * n + 2), 4.2)
    ax = fig.subplots()
    xs = range(n)
    ax.bar(xs, [r.util_pred_pct or 0 for r in rows],
           color=[KIND_COLORS[r.kind] for r in rows], width=0.8)
    ax.scatter(xs, [r.mapping_eff_pct if r.mapping_eff_pct is not None else float("nan")
                    for r in rows], marker="_", color="black", s=40, zorder=3,
               label="mapping efficiency")
    if rep.measured:
        ax.scatter(xs, [r.util_meas_pct if r.util_meas_pct is not None else float("nan")
                        for r in rows], marker="D", facecolors="none", edgecolors="red", s=14,
                   zorder=4, label="measured")
    ax.set_xticks(list(xs), [r.layer for r in rows], rotation=90, fontsize=5)
    ax.set_xlim(-1, n)
    ax.set_ylim(0, 118)
    ax.set_ylabel("utilization % (MACs / (cycles x L²))")
    T = rep.totals
    ax.set_title(f"{rep.model} on {rep.cfg.name}: per-layer utilization (predicted bars; "
                 f"total {T.util_pred_pct}%"
                 + (f", measured {T.util_meas_pct}%" if rep.measured else "") + ")",
                 fontsize=10)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    kinds = {r.kind for r in rows}
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
    tile = {t.index: t for t in rep.tiling}
    fig = _figure(7.0, 5.0)
    ax = fig.subplots()
    pts = []
    for r in rep.util:
        if r.kind == "store" or not r.macs:
            continue
        t = tile[r.index]
        nbytes = t.ext_wgt_bytes + t.ext_prm_bytes + t.ext_tbl_bytes
        if not nbytes:
            continue
        pts.append((r, r.macs / nbytes))
    if pts:
        lo = min(i for _, i in pts) / 2
        hi = max(i for _, i in pts) * 2
        ridge = c.macs_per_cycle / c.bus_bytes
        xs = [lo, min(max(ridge, lo), hi), hi]
        ax.plot(xs, [min(c.macs_per_cycle, x * c.bus_bytes) for x in xs], color="black",
                lw=1.5, label=f"roof: {c.macs_per_cycle} MAC/cycle, {c.bus_bytes} B/cycle")
        for kind in KINDS:
            sel = [(r, i) for r, i in pts if r.kind == kind]
            if not sel:
                continue
            ax.scatter([i for _, i in sel], [r.macs / r.cycles_pred for r, _ in sel],
                       color=KIND_COLORS[kind], s=18, label=kind, zorder=3)
            if rep.measured:
                ax.scatter([i for _, i in sel], [r.macs / max(1, r.cycles_meas)
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
        vals = [(getattr(r, key) or 0) / 1024 for r in rows]
        if any(vals):
            ax.bar(xs, vals, bottom=bottom, color=color, label=label, width=0.8)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.scatter(xs, [(r.min_bytes or float("nan")) / 1024 if r.min_bytes else float("nan")
                    for r in rows], marker="_", color="black", s=40, zorder=3,
               label="minimum traffic")
    ax.set_xticks(xs, [r.layer for r in rows], rotation=90, fontsize=5)
    ax.set_xlim(-1, n)
    ax.set_yscale("log")
    ax.set_ylabel("external traffic, KiB (log)")
    T = rep.totals
    ax.set_title(f"{rep.model} on {rep.cfg.name}: external traffic per layer (total "
                 f"{kb(T.ext_bytes)}, re-fetch factor {T.refetch_factor})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", ncol=6)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)



def plot_pareto(rows: list, path: Path, mac_bytes: int) -> Path:
    """Cycles against the area proxy, one panel per model (rows: :class:`SweepRow`)."""
    models = list(dict.fromkeys(r.model for r in rows))
    cols = min(3, len(models))
    nrows = -(-len(models) // cols)
    fig = _figure(4.4 * cols, 3.6 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False)
    lane_colors = {4: "#7f7f7f", 8: "#1f77b4", 16: "#2ca02c", 32: "#ff7f0e", 64: "#d62728"}
    for ax, m in zip(axes.flat, models, strict=False):
        rs = [r for r in rows if r.model == m]
        good = [r for r in rs if r.status == "ok"]
        for lanes in sorted({r.lanes for r in good}):
            sel = [r for r in good if r.lanes == lanes]
            ax.scatter([r.area_proxy / 2 ** 20 for r in sel], [r.cycles for r in sel],
                       s=16, color=lane_colors.get(lanes, "black"), label=f"{lanes} lanes",
                       zorder=3)
        front = sorted((r for r in good if r.pareto), key=lambda r: r.area_proxy)
        if front:
            ax.step([r.area_proxy / 2 ** 20 for r in front], [r.cycles for r in front],
                    where="post", color="black", lw=1, label="Pareto front")
        for r in rs:
            if r.preset and r.status == "ok":
                ax.annotate(r.preset, (r.area_proxy / 2 ** 20, r.cycles), fontsize=7,
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
