"""``hfaccel models``: the model zoo with its counts against the paper's Table 5."""

from __future__ import annotations

import argparse
import json

from hfaccel.commands.common import add_model_arguments, coefficients_given, custom_config

__all__ = ["register"]


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


def register(sub) -> None:
    p = sub.add_parser("models", help="print the model zoo with parameter/MAC counts",
                       description="Every registered model (or the ones named) with its "
                                   "coefficients, parameter and MAC counts and Table 5's numbers.",
                       epilog="examples:\n"
                              "  hfaccel models\n"
                              "  hfaccel models HF3 HF5 --stages\n"
                              "  hfaccel models --w 0.8 --d 0.6 --res 128 --hf --json")
    add_model_arguments(p, many=True)
    p.add_argument("--stages", action="store_true", help="also print per-stage channels/repeats")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

