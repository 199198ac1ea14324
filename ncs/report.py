"""What a search leaves for a person: leaderboard, champions, accuracy curves, criterion analysis.

``leaderboard.csv``: one row per candidate (group, coefficients, params, MACs, Z-scores, the
average accuracy at the end of every round it was trained through, when it was eliminated; for
an exported champion its float / PTQ / QAT accuracies, ``export_*``, int8 by the integer
reference). ``champions.json``: each group's champion, its curve, its quantization checkpoint
with the same accuracies side by side, and the search cost.
``curves.png``: accuracy per epoch, one panel per group, round boundaries dashed, eliminations
marked with a cross.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hfaccel.errors import HfaccelError
from hfaccel.files import atomic_path, atomic_write_text
from hfaccel.ncs.criteria import (
    CriterionReport,
    analyze_curves,
    average_accuracy,
    criterion_name,
    read_curves_csv,
)

__all__ = ["analyze_path", "format_analysis", "format_summary", "leaderboard_rows",
           "plot_curves", "write_champions", "write_leaderboard", "write_reports"]


def _fmt(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def leaderboard_rows(result) -> list[dict]:
    """Rows of ``leaderboard.csv``, groups in order, each best first."""
    plan, cfg = result.plan, result.plan.config
    total_rounds = cfg.epochs // cfg.round_epochs
    rows = []
    for g in plan.groups:
        champion = result.champions.get(g.index)

        def order(m, champion=champion):
            # Champion first, then candidates still in play, then later eliminations first,
            # each by its criterion when it was eliminated.
            n = m.name
            if n == champion:
                return (0, 0, 0.0)
            if n not in result.eliminated:
                return (1, 0, 0.0)
            r = result.eliminated[n]
            return (2, -r, -(result.criterion_value(n, r) or 0.0))

        for pos, m in enumerate(sorted(g.members, key=order), start=1):
            c, n = m.candidate, m.name
            curve = result.curve(n)
            row = {"group": g.index, "rank": pos, "candidate": n, "zoo": c.zoo or "",
                   "coefficients": c.label, "w": c.width, "d": c.depth,
                   "resolution": c.resolution, "train_resolution": plan.train_resolution[n],
                   "hf": int(c.hf), "params": c.params, "macs": c.macs,
                   "z_params": f"{m.z_params:.4f}", "z_macs": f"{m.z_macs:.4f}",
                   "z_sum": f"{m.z_sum:.4f}"}
            for r in range(1, total_rounds + 1):
                e = r * cfg.round_epochs
                row[f"avg_acc_r{r}"] = _fmt(average_accuracy(curve[:e]) if len(curve) >= e
                                            else None)
            row["epochs_trained"] = len(curve)
            row["final_acc"] = _fmt(curve[-1] if curve else None)
            row["eliminated_round"] = result.eliminated.get(n, "")
            # the champion's quantized model, all by the integer reference but search_acc
            meta = result.exports.get(n) or {}
            for k in ("float_acc", "ptq_acc", "qat_acc"):
                row[f"export_{k}"] = _fmt(meta.get(k))
            row["status"] = ("champion" if n == champion else
                             f"eliminated in round {result.eliminated[n]}"
                             if n in result.eliminated else "running")
            rows.append(row)
    return rows


def write_leaderboard(result) -> Path:
    rows = leaderboard_rows(result)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path = result.run_dir / "leaderboard.csv"
    atomic_write_text(path, buf.getvalue())
    return path


def write_champions(result) -> Path:
    plan = result.plan
    groups = []
    for g in plan.groups:
        name = result.champions[g.index]
        m = plan.scored[name]
        c = m.candidate
        groups.append({
            "group": g.index, "members": list(g.names),
            "eliminated": {n: result.eliminated[n] for n in g.names if n in result.eliminated},
            "champion": {"candidate": name, "zoo": c.zoo, "coefficients": c.label,
                         "w": c.width, "d": c.depth, "resolution": c.resolution, "hf": c.hf,
                         "train_resolution": plan.train_resolution[name],
                         "params": c.params, "macs": c.macs, "z_sum": m.z_sum,
                         "epochs": len(result.curve(name)),
                         "final_acc": result.curve(name)[-1] if result.curve(name) else None,
                         "average_acc": average_accuracy(result.curve(name))
                         if result.curve(name) else None,
                         "curve": result.curve(name),
                         "quant_checkpoint": result.exports.get(name)}})
    doc = {"run": str(result.run_dir), "criterion": criterion_name(plan.config.criterion),
           "settings": plan.config.to_dict(), "cost": result.cost(), "groups": groups}
    path = result.run_dir / "champions.json"
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    return path


def plot_curves(result, path: Path | None = None) -> Path:
    """``curves.png``: one panel per group (Agg, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    plan, cfg = result.plan, result.plan.config
    n = len(plan.groups)
    cols = min(4, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, g in zip(axes.flat, plan.groups, strict=False):  # spare axes hidden below
        for m in g.members:
            curve = result.curve(m.name)
            if not curve:
                continue
            champ = result.champions.get(g.index) == m.name
            epochs = range(1, len(curve) + 1)
            line, = ax.plot(epochs, [100 * a for a in curve], marker=".", lw=2.2 if champ else 1,
                            label=m.name + (" (champion)" if champ else ""))
            if m.name in result.eliminated:
                e = result.eliminated[m.name] * cfg.round_epochs
                ax.plot([e], [100 * curve[e - 1]], marker="x", ms=11, mew=2.5,
                        color=line.get_color())
        for r in range(1, plan.rounds + 1):
            ax.axvline(r * cfg.round_epochs, color="0.6", ls="--", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"group {g.index}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("val accuracy %")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(f"NCS {result.run_dir.name}: accuracy per group (x = eliminated, "
                 f"dashed = round ends, {criterion_name(cfg.criterion)} criterion)", fontsize=10)
    path = path or result.run_dir / "curves.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    return path


def write_reports(result) -> dict[str, Path]:
    return {"leaderboard": write_leaderboard(result), "champions": write_champions(result),
            "curves": plot_curves(result)}


def format_summary(result) -> str:
    """The champions and the cost, for the terminal."""
    plan, cost = result.plan, result.cost()
    lines = [f"{'group':>5}  {'champion':<18} {'zoo':<7} {'params M':>8} {'MACs M':>8} "
             f"{'avg acc':>7} {'final':>6}  eliminated"]
    for g in plan.groups:
        name = result.champions[g.index]
        c, curve = plan.scored[name].candidate, result.curve(name)
        out = ", ".join(f"{n} (r{result.eliminated[n]})" for n in g.names
                        if n in result.eliminated)
        lines.append(f"{g.index:>5}  {name:<18} {c.zoo or '-':<7} {c.params / 1e6:8.2f} "
                     f"{c.macs / 1e6:8.2f} {average_accuracy(curve):7.1%} {curve[-1]:6.1%}  "
                     f"{out or '-'}")
    lines.append(
        f"search cost: {cost['search_epochs']} epochs (tournament {cost['tournament_epochs']} "
        f"until one per group, then champions to {cost['epochs']}) vs {cost['full_epochs']} "
        f"training all {cost['candidates']} candidates fully "
        f"({cost['search_fraction']:.0%}); trained {cost['trained_epochs']} epochs in "
        f"{cost['trained_seconds']:.0f} s of training, {cost['wall_seconds']:.0f} s wall")
    lines.append(f"wrote {result.run_dir}/leaderboard.csv, champions.json, curves.png")
    for name, meta in result.exports.items():
        qat = meta.get("qat_acc")
        lines.append(f"champion {name}: float {meta['float_acc']:.1%}, PTQ {meta['ptq_acc']:.1%}"
                     + (f", QAT {qat:.1%}" if qat is not None else "")
                     + f" (int8: {meta['int8_measured_by']}) -> {meta['checkpoint']}")
    return "\n".join(lines)


def _run_curves(run_dir: Path) -> tuple[dict[str, dict[str, list[float]]], int]:
    """Full-length curves per group of a run folder, and its round length."""
    from hfaccel.ncs.trainer import load_state

    meta_path = run_dir / "search.json"
    try:
        meta = json.loads(meta_path.read_text())
        settings, groups = meta["settings"], meta["groups"]
    except (OSError, ValueError, KeyError):
        raise HfaccelError(f"{run_dir} is not an NCS run folder (no readable search.json)") \
            from None
    epochs = settings["epochs"]
    out = {}
    for g in groups:
        curves = {}
        for name in g["candidates"]:
            p = run_dir / "candidates" / f"{name}.pt"
            if p.exists():
                hist = load_state(p)["history"]
                if len(hist) >= epochs:
                    curves[name] = [h["val_acc"] for h in hist[:epochs]]
        out[str(g["group"])] = curves
    return out, settings["round_epochs"]


def analyze_path(path: str | Path, round_epochs: int | None = None
                 ) -> tuple[dict[str, CriterionReport], dict[str, str]]:
    """Eqs. 5-6 per group for a curves CSV or a run folder; ``(reports, skipped reasons)``.

    In a run folder only candidates trained to the full budget count (all of them with
    ``--train-all``; otherwise only the champion, and the group is skipped).
    """
    p = Path(path)
    if p.is_dir():
        groups, run_e = _run_curves(p)
        e = round_epochs or run_e
    else:
        groups, e = read_curves_csv(p), round_epochs or 1
    reports, skipped = {}, {}
    for g, curves in groups.items():
        if len(curves) < 2:
            skipped[g] = (f"{len(curves)} candidate(s) trained to the full budget; rerun the "
                          f"search with --train-all for complete curves")
            continue
        reports[g] = analyze_curves(curves, e)
    if not reports:
        raise HfaccelError(f"{p}: no group has two or more complete curves to analyse"
                           + (f" ({next(iter(skipped.values()))})" if skipped else ""))
    return reports, skipped


def format_analysis(reports: dict[str, CriterionReport], skipped: dict[str, str]) -> str:
    lines = [f"{'group':>5} {'rounds':>6} {'P_spe':>12} {'P_avg':>12} {'winner spe':>10} "
             f"{'winner avg':>10}  final ranking (best first)"]
    tot_s = tot_a = tot_r = 0
    for g, rep in reports.items():
        lines.append(f"{g:>5} {rep.rounds:>6} {rep.matches_spe:>4}/{rep.rounds:<3}{rep.p_spe:4.0%}"
                     f" {rep.matches_avg:>4}/{rep.rounds:<3}{rep.p_avg:4.0%} "
                     f"{rep.winner_spe:>6}/{rep.rounds:<3} {rep.winner_avg:>6}/{rep.rounds:<3} "
                     f"{', '.join(rep.final_ranking)}")
        tot_s, tot_a, tot_r = tot_s + rep.matches_spe, tot_a + rep.matches_avg, tot_r + rep.rounds
    if len(reports) > 1:
        lines.append(f"{'all':>5} {tot_r:>6} {tot_s:>4}/{tot_r:<3}{tot_s / tot_r:4.0%} "
                     f"{tot_a:>4}/{tot_r:<3}{tot_a / tot_r:4.0%}")
    for g, why in skipped.items():
        lines.append(f"group {g} skipped: {why}")
    return "\n".join(lines)
