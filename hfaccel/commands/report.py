"""``hfaccel report`` and ``sweep``: utilization, tiling and traffic reports, the design space."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hfaccel.commands.args import HW_HELP, hw_config, input_file, out_dir, positive_int
from hfaccel.commands.common import add_model_arguments, add_quant_arguments, resolve_quant_model
from hfaccel.errors import HfaccelError

__all__ = ["register"]

MAC_BYTES = 512  # area proxy default (hfaccel.accel.report.MAC_BYTES; a test keeps them equal)


def _int_list(s: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") \
            from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {s!r}")
    return vals


def cmd_report(args: argparse.Namespace) -> int:
    from hfaccel.accel.capability import require_fit
    from hfaccel.accel.paths import run_dir
    from hfaccel.accel.report import format_text, report_graph

    t0 = time.perf_counter()
    cfg = args.hw  # parsed (and checked) before the model is loaded
    path, graph, meta = resolve_quant_model(args)
    require_fit(graph, cfg, str(meta.get("model", path)))
    name = Path(path).parent.parent.name if not args.onnx else Path(path).stem
    base = run_dir(name, cfg)
    measured = False if args.analytic else (args.measured or None)
    rep = report_graph(graph, cfg, base, model=meta.get("model", name), out_dir=args.report_dir,
                       measured=measured, plots=not args.no_plots, log=args.log)
    print(format_text(rep))
    out = rep.files["summary"].parent
    print(f"wrote {out}/: " + ", ".join(p.name for p in rep.files.values())
          + f" in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from hfaccel.accel.report import sweep, sweep_configs

    t0 = time.perf_counter()
    models = args.models or ["HF0", "HF1", "HF2", "HF3", "HF4", "HF5"]
    configs, bad = sweep_configs(args.lanes, args.bus, args.ub_kib, args.wgt_kib, base=args.hw)
    if not configs:
        raise HfaccelError("no valid config in the grid: " + "; ".join(
            f"{n}: {why}" for n, why in bad[:3]))
    print(f"sweep: {len(models)} model(s) x {len(configs)} configs "
          f"({len(bad)} grid points skipped: invalid AccelConfig)")
    rows = sweep(models, configs, args.out, mac_bytes=args.mac_bytes, plots=not args.no_plots,
                 log=args.log, progress=args.progress)
    for m in dict.fromkeys(r.model for r in rows):
        rs = [r for r in rows if r.model == m]
        ok = [r for r in rs if r.status == "ok"]
        front = sorted((r for r in ok if r.pareto), key=lambda r: r.area_proxy)
        print(f"{m}: {len(ok)} of {len(rs)} configs map; Pareto front (area proxy MiB, "
              "cycles, utilization):")
        for r in front:
            print(f"    {r.config:<26} {r.area_proxy / 2 ** 20:7.2f} {r.cycles:>10,} "
                  f"{r.util_pct:6.1f}%" + (f"  ({r.preset})" if r.preset else ""))
    print(f"wrote {args.out}/sweep.csv, sweep.json" + ("" if args.no_plots else ", pareto.png")
          + f" in {time.perf_counter() - t0:.1f} s")
    return 0


def register(sub) -> None:
    """Register ``hfaccel report`` and ``hfaccel sweep`` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "report", help="per-layer utilization, tiling and traffic reports",
        description="Checks that the model fits the hardware config, compiles it, predicts "
                    "cycles analytically (no RTL) and writes build/<model>/reports/ "
                    "(build/<model>-<hw>/reports/ for other hardware): utilization.csv, "
                    "tiling.csv (with JSON sidecars), summary.md and plots. Measured cycles come "
                    "from a previous hw-sim's report.json on the same config.",
        epilog="examples:\n"
               "  hfaccel report HF3\n"
               "  hfaccel report HF3 --hw small,wgt_tiles=128 --no-plots\n"
               "  hfaccel report HF3 --measured build/hf3/report.json")
    add_model_arguments(p)
    add_quant_arguments(p)
    p.add_argument("--onnx", type=input_file(".onnx", what="an ONNX file"),
                   help="a QCDQ ONNX file instead of a zoo model")
    p.add_argument("--hw", type=hw_config, default="default", help=HW_HELP)
    p.add_argument("--report-dir", type=out_dir,
                   help="output folder (default: build/<model>[-<hw>]/reports)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--measured", type=input_file(".json", what="a hw-sim report.json"),
                   help="a hw-sim report.json with measured cycles (default: "
                        "build/<model>[-<hw>]/report.json when it matches)")
    g.add_argument("--analytic", action="store_true", help="ignore any measured report")
    p.add_argument("--no-plots", action="store_true", help="CSVs and summary only")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "sweep", help="design-space sweep: lanes, bus, buffers -> Pareto plot",
        description="Compiles and simulates (analytic model) every model on every config of "
                    "the grid; writes sweep.csv and pareto.png (cycles vs an area proxy). "
                    "Configs a model cannot map onto are recorded with the reason.",
        epilog="examples:\n"
               "  hfaccel sweep\n"
               "  hfaccel sweep HF3 HF5 --lanes 16,32 --bus 64,128 --ub-kib 512,1024 "
               "--wgt-kib 64")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="zoo models (default: HF0 ... HF5)")
    p.add_argument("--hw", type=hw_config, default="default",
                   help="base config for the parameters not swept (preset or .json, with "
                        ",field=value overrides)")
    p.add_argument("--lanes", type=_int_list, default=(8, 16, 32, 64), help="lanes, e.g. 8,16")
    p.add_argument("--bus", type=_int_list, default=(32, 64, 128),
                   help="bus bytes per beat (invalid combinations skipped)")
    p.add_argument("--ub-kib", type=_int_list, default=(512, 1024, 2048, 4096),
                   help="unified buffer KiB")
    p.add_argument("--wgt-kib", type=_int_list, default=(64, 256),
                   help="weight buffer KiB (both halves)")
    p.add_argument("--mac-bytes", type=positive_int, default=MAC_BYTES,
                   help="area proxy: SRAM bytes one MAC unit is worth")
    p.add_argument("--out", type=out_dir, default="build/sweep", help="output folder")
    p.add_argument("--no-plots", action="store_true", help="CSV only")
    p.set_defaults(func=cmd_sweep)
