"""``hfaccel ncs``: Network Candidate Search from the command line.

Only ``argparse`` is imported at module level: ``hfaccel --help`` must stay fast, so torch and
the search itself are imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from hfaccel.commands.args import (
    choice,
    data_source,
    input_file,
    int_range,
    nonneg_int,
    out_dir,
    positive_float,
    positive_int,
)
from hfaccel.commands.common import add_calibration_arguments
from hfaccel.errors import HfaccelError

__all__ = ["cmd_ncs", "register"]

DEFAULT_OUT = Path("build") / "ncs"
# the library's names, kept here as literals so that --help stays light (a test keeps them equal)
POOLS = ("elite", "hf")  # hfaccel.ncs.pool
CRITERIA = ("average", "specific")  # hfaccel.ncs.criteria.CRITERIA
BACKENDS = ("local", "ray")  # hfaccel.ncs.backends.BACKENDS
MIN_RESOLUTION = 8  # hfaccel.ncs.search.MIN_RESOLUTION


def _analyze_path(s: str) -> Path:
    p = Path(s)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"{s} does not exist (expected a curves CSV or a run "
                                         "folder)")
    return p


def _numbers(text: str, what: str, kind=float) -> tuple:
    items = [t.strip() for t in text.split(",")] if text.strip() else []
    out = []
    for t in items:
        try:
            out.append(kind(t))
        except ValueError:
            raise HfaccelError(f"{what}: {t!r} is not {'an integer' if kind is int else 'a number'}"
                               f" (give a comma-separated list, e.g. 1,0.7)") from None
    return tuple(out)


def register(sub) -> argparse.ArgumentParser:
    """Register the ``ncs`` sub-command on ``sub`` (an argparse sub-parsers object)."""
    p = sub.add_parser(
        "ncs", help="Network Candidate Search: grouped elimination tournament over a pool",
        description="Network Candidate Search (Section 3): build a candidate pool "
                    "Model(w_i, d_j, r_k), group it by Z-scores of parameters and MACs, train "
                    "the survivors round by round and eliminate the lower half of each group "
                    "by average accuracy until one champion per group remains. Resumable: the "
                    "same command continues a stopped search.",
        epilog="examples:\n"
               "  hfaccel ncs --pool hf --plan                # the pool, its groups and cost\n"
               "  hfaccel ncs --pool hf --max-resolution 32 --limit 512 --val-limit 256\n"
               "  hfaccel ncs --analyze build/ncs/hf-digits   # criterion analysis of a run")
    g = p.add_argument_group("candidate pool (Section 3.1)")
    g.add_argument("--pool", type=choice("pool", POOLS), default="elite", metavar="{elite,hf}",
                   help="elite (eLite scaling) or hf (hardware-friendly: power-of-two "
                        "channels and resolutions)")
    g.add_argument("--w", help="width coefficients, comma-separated (default: Table 3)")
    g.add_argument("--d", help="depth coefficients (default: Eq. 2, i.e. 1,0.7,0.6,0.5 for B0)")
    g.add_argument("--r", help="resolution coefficients of the base resolution, elite pool "
                               "(default: Table 3, i.e. 224,203,172,132 pixels)")
    g.add_argument("--resolutions", help="resolutions in pixels instead of --r (default for "
                                         "the hf pool: 128,256)")
    g.add_argument("--coefficients", default="table3", choices=("table3", "eq3"),
                   help="where the width/resolution lists come from when not given: Table 3 "
                        "as printed, or derived from the depths with Eq. 3")
    g.add_argument("--base", type=input_file(".json", what="a base network JSON"),
                   help="JSON file of another base network: {\"stages\": [[expand, kernel, "
                        "stride, channels, repeats], ...], \"stem\", \"head\", \"resolution\"} "
                        "(default: EfficientNet-B0)")
    g = p.add_argument_group("tournament (Sections 3.2-3.4)")
    g.add_argument("--group-size", type=int_range(2), default=4,
                   help="candidates per group, k")
    g.add_argument("--round-epochs", type=positive_int,
                   help="epochs per round, e (default: 1; --analyze: the run's, or 1 for a "
                        "CSV)")
    g.add_argument("--epochs", type=positive_int, default=4, help="full training budget, N")
    g.add_argument("--criterion", type=choice("criterion", CRITERIA), default="average",
                   metavar="{average,specific}",
                   help="average (Eq. 6) or specific (accuracy at the current epoch)")
    g.add_argument("--train-all", action="store_true",
                   help="keep eliminated candidates training to N too (complete curves for "
                        "--analyze; same decisions)")
    g = p.add_argument_group("training (quant/train.py's recipe)")
    g.add_argument("--data", type=data_source, default="digits",
                   help="digits, fashion-mnist or an image folder (root/<class>/<image>)")
    g.add_argument("--limit", type=positive_int, help="cap on training images (default: all)")
    g.add_argument("--val-limit", type=positive_int,
                   help="cap on validation images (default: all)")
    g.add_argument("--max-resolution", type=int_range(MIN_RESOLUTION),
                   help="train the largest resolution at this size and the others in "
                        "proportion (grouping still uses the full-resolution counts; default: "
                        "full resolution)")
    g.add_argument("--batch", type=positive_int, default=32, help="batch size")
    g.add_argument("--lr", type=positive_float, default=0.005,
                   help="RMSProp learning rate (as hfaccel train)")
    g.add_argument("--seed", type=nonneg_int, default=0, help="weights, data and dropout seed")
    add_calibration_arguments(g)
    g = p.add_argument_group("execution")
    g.add_argument("--backend", type=choice("backend", BACKENDS), default="local",
                   metavar="{local,ray}",
                   help="local (this process, GPU if any) or ray (survivors as parallel Ray "
                        "tasks)")
    g.add_argument("--ray-address", help="ray.init address, e.g. auto or ray://host:10001 "
                                         "(default: start a local Ray)")
    g.add_argument("--threads", type=positive_int,
                   help="CPU threads (local) or CPUs per Ray trial (default: torch's / 1)")
    g.add_argument("--device", help="torch device for the local backend (default: cuda when "
                                    "available, else cpu)")
    g.add_argument("--run", help="run name; the folder is OUT/RUN (default: POOL-DATA)")
    g.add_argument("--out", type=out_dir, default=str(DEFAULT_OUT),
                   help="parent folder of runs")
    g.add_argument("--fresh", action="store_true", help="delete the run folder and start over")
    g.add_argument("--no-export", action="store_true",
                   help="do not save champions as quantization checkpoints")
    g.add_argument("--qat-epochs", type=nonneg_int,
                   help="quantization-aware epochs per champion before export, 0 = PTQ only "
                        "(default: half of --epochs rounded down, 1 to 2)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("inspection").add_mutually_exclusive_group()
    g.add_argument("--plan", action="store_true",
                   help="print the pool, its Z-scores and groups and the planned cost; no "
                        "training")
    g.add_argument("--analyze", metavar="PATH", type=_analyze_path,
                   help="criterion analysis (P_spe, P_avg of Eqs. 5-6) of a curves CSV "
                        "(candidate,epoch,accuracy[,group] or epoch,<cand>,...) or a run folder")
    p.set_defaults(func=cmd_ncs)
    return p


def config_from_args(args: argparse.Namespace):
    """The :class:`~hfaccel.ncs.search.SearchConfig` the arguments describe."""
    from hfaccel.ncs.pool import BaseNetwork, PoolSpec
    from hfaccel.ncs.search import SearchConfig
    from hfaccel.quant.train import TrainConfig

    base = BaseNetwork()
    if args.base:
        try:
            base = BaseNetwork.from_dict(json.loads(Path(args.base).read_text()))
        except OSError as e:
            raise HfaccelError(f"cannot read base network {str(args.base)!r}: "
                               f"{e.strerror}") from None
        except ValueError as e:
            if isinstance(e, HfaccelError):
                raise
            raise HfaccelError(f"base network {str(args.base)!r} is not valid JSON: {e}") from None
    pool = PoolSpec(
        kind=args.pool, base=base, coefficients=args.coefficients,
        widths=_numbers(args.w, "--w") if args.w is not None else None,
        depths=_numbers(args.d, "--d") if args.d is not None else None,
        resolution_coeffs=_numbers(args.r, "--r") if args.r is not None else None,
        resolutions=(_numbers(args.resolutions, "--resolutions", int)
                     if args.resolutions is not None else None))
    tc = TrainConfig(data=args.data, batch=args.batch, lr=args.lr, limit=args.limit,
                     val_limit=args.val_limit, seed=args.seed, calibration=args.calibration,
                     bias_correction=args.bias_correction)
    e = 1 if args.round_epochs is None else args.round_epochs
    return SearchConfig(pool=pool, group_size=args.group_size, round_epochs=e,
                        epochs=args.epochs, criterion=args.criterion, train=tc,
                        max_resolution=args.max_resolution, train_all=args.train_all)


def default_run_name(args: argparse.Namespace) -> str:
    data = Path(args.data.rstrip("/")).name or "data"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{args.pool}-{data}")


def format_plan(plan) -> str:
    cfg = plan.config
    lines = [f"{'group':>5}  {'candidate':<18} {'zoo':<7} {'coefficients':<22} {'params M':>8} "
             f"{'MACs M':>8} {'Z_para':>7} {'Z_flops':>7} {'Z_sum':>7} {'train res':>9}"]
    for g in plan.groups:
        for m in g.members:
            c = m.candidate
            lines.append(f"{g.index:>5}  {c.name:<18} {c.zoo or '-':<7} {c.label:<22} "
                         f"{c.params / 1e6:8.2f} {c.macs / 1e6:8.2f} {m.z_params:7.3f} "
                         f"{m.z_macs:7.3f} {m.z_sum:7.3f} {plan.train_resolution[c.name]:>9}")
    lines.append(
        f"{len(plan.candidates)} candidates in {len(plan.groups)} groups of {cfg.group_size}; "
        f"{plan.rounds} elimination rounds of {cfg.round_epochs} epoch(s), budget "
        f"{cfg.epochs} epochs; planned {plan.planned_epochs()} epochs (tournament "
        f"{plan.tournament_epochs()}) vs {plan.full_epochs()} training every candidate fully")
    return "\n".join(lines)


def cmd_ncs(args: argparse.Namespace) -> int:
    if args.analyze:
        from hfaccel.ncs.report import analyze_path, format_analysis

        reports, skipped = analyze_path(args.analyze, args.round_epochs)
        print(format_analysis(reports, skipped))
        return 0
    from hfaccel.ncs.search import Search, make_plan

    config = config_from_args(args)
    if args.plan:
        print(format_plan(make_plan(config)))
        return 0
    run_dir = Path(args.out) / (args.run or default_run_name(args))
    search = Search(config, run_dir, backend=args.backend, device=args.device,
                    threads=args.threads, ray_address=args.ray_address,
                    export=not args.no_export, qat_epochs=args.qat_epochs,
                    progress=args.progress.enabled and not args.no_progress, fresh=args.fresh)
    plan = search.plan
    print(f"NCS {run_dir}: {len(plan.candidates)} candidates, {len(plan.groups)} groups of "
          f"{config.group_size}, {plan.rounds} rounds of {config.round_epochs} epoch(s), "
          f"budget {config.epochs}; {plan.planned_epochs()} epochs planned vs "
          f"{plan.full_epochs()} for full training; backend {args.backend}", flush=True)
    from hfaccel.ncs.report import format_summary

    result = search.run()
    print(format_summary(result))
    return 0
