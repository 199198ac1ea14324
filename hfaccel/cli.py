"""The ``hfaccel`` command line.

Every sub-command lives in :mod:`hfaccel.commands` (one module per stage). Heavy libraries
(torch, onnx, amaranth) are imported inside the commands so that ``hfaccel --help`` and
``hfaccel models`` stay fast. A user's mistake raises :class:`~hfaccel.errors.HfaccelError`,
printed here as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hfaccel.errors import HfaccelError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from hfaccel import __version__
    from hfaccel.commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="hfaccel",
        description="Hardware/software codesign toolkit for EfficientNet-eLite/HF on edge "
                    "accelerators.")
    parser.add_argument("--version", action="version", version=f"hfaccel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hfaccel.commands.{name}").register(sub)
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
