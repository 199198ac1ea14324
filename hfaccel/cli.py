"""The ``hfaccel`` command line.

Each sub-command lives in a small ``cmd_*`` function; heavy libraries (torch, onnx, amaranth) are
imported inside them so that ``hfaccel models`` and ``--help`` stay fast. A user's mistake raises
:class:`~hfaccel.errors.HfaccelError`, printed here as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from hfaccel.errors import HfaccelError

__all__ = ["add_model_arguments", "config_from_args", "main"]


def add_model_arguments(p: argparse.ArgumentParser, *, many: bool = False) -> None:
    """A model by registry name (``HF3``) or by coefficients (``--w --d --res [--hf]``)."""
    if many:
        p.add_argument("models", nargs="*", metavar="MODEL",
                       help="registered model names (default: all), case-insensitive")
    else:
        p.add_argument("model", nargs="?", metavar="MODEL",
                       help="registered model name, e.g. HF3 (case-insensitive)")
    g = p.add_argument_group("model by coefficients")
    g.add_argument("--w", type=float, help="width coefficient, 0 < w <= 1")
    g.add_argument("--d", type=float, help="depth coefficient, d > 0")
    g.add_argument("--res", type=int, help="input resolution in pixels")
    g.add_argument("--hf", action="store_true",
                   help="hardware-friendly transform (power-of-two channels and resolution)")
    g.add_argument("--name", default=None, help="name of the model given by coefficients")


def coefficients_given(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.w, args.d, args.res)) or args.hf


def custom_config(args: argparse.Namespace, num_classes: int = 1000):
    from hfaccel.model import Scaling, scale

    missing = [f"--{k}" for k in ("w", "d", "res") if getattr(args, k) is None]
    if missing:
        raise HfaccelError(f"a model by coefficients needs {', '.join(missing)} as well")
    s = Scaling(args.w, args.d, args.res, args.hf)
    name = args.name or (f"{'hf' if s.hf else 'custom'}-w{s.width:g}-d{s.depth:g}-r{s.resolution}")
    return scale(s, name=name, num_classes=num_classes)


def config_from_args(args: argparse.Namespace, num_classes: int = 1000):
    """The :class:`NetConfig` named by ``add_model_arguments`` (one model)."""
    from hfaccel.model import get_config

    if coefficients_given(args):
        if args.model:
            raise HfaccelError(f"give either a model name ({args.model}) or coefficients, "
                               "not both")
        return custom_config(args, num_classes)
    if not args.model:
        raise HfaccelError("no model given: name one (e.g. HF3) or give --w --d --res [--hf]")
    return get_config(args.model, num_classes=num_classes)


def cmd_models(args: argparse.Namespace) -> int:
    from hfaccel.model.registry import get_entry
    from hfaccel.model.zoo import ZooRow, format_table, zoo_rows

    names = [get_entry(n).name for n in args.models]
    rows = [] if coefficients_given(args) and not names else zoo_rows(names or None)
    if coefficients_given(args):
        rows.append(ZooRow(custom_config(args), None))
    if args.json:
        print(json.dumps([r.as_dict(stages=True) for r in rows], indent=2))
    else:
        print(format_table(rows, stages=args.stages))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from hfaccel import __version__

    parser = argparse.ArgumentParser(
        prog="hfaccel",
        description="Hardware/software codesign toolkit for EfficientNet-eLite/HF on edge "
                    "accelerators.")
    parser.add_argument("--version", action="version", version=f"hfaccel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="print the model zoo with parameter/MAC counts",
                       description="Every registered model (or the ones named) with its "
                                   "coefficients, parameter and MAC counts and Table 5's numbers.")
    add_model_arguments(p, many=True)
    p.add_argument("--stages", action="store_true", help="also print per-stage channels/repeats")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HfaccelError as e:
        print(f"hfaccel {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hfaccel models | head` is fine
        return 0
