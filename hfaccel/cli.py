"""The ``hfaccel`` command line.

Every sub-command lives in :mod:`hfaccel.commands` (one module per stage). Heavy libraries
(torch, onnx, amaranth) are imported inside the commands so that ``hfaccel --help`` and
``hfaccel models`` stay fast. Every argument is checked when it is parsed
(:mod:`hfaccel.commands.args`); a user's mistake found later raises
:class:`~hfaccel.errors.HfaccelError`. Either is printed as one line with exit status 2.

Each command gets ``args.progress`` (tqdm bars on stderr when it is a terminal, see
:mod:`hfaccel.progress`) and ``args.log`` (a flushed line on stdout that does not tear a bar).
"""

from __future__ import annotations

import importlib
import sys

from hfaccel.commands.args import Parser
from hfaccel.errors import HfaccelError

__all__ = ["build_parser", "main"]


def build_parser() -> Parser:
    from hfaccel import __version__
    from hfaccel.commands import COMMANDS

    parser = Parser(
        prog="hfaccel",
        description="Hardware/software codesign toolkit for EfficientNet-eLite/HF on edge "
                    "accelerators.",
        epilog="`hfaccel COMMAND --help` shows a command's options, defaults and examples.\n"
               "Progress bars appear on a terminal; HFACCEL_PROGRESS=1 or 0 forces them on "
               "or off.")
    parser.add_argument("--version", action="version", version=f"hfaccel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hfaccel.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (2 for a user's mistake, also when argparse
    rejects an argument, 0 for --help)."""
    from hfaccel.progress import Progress

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a bad argument (already printed)
        return e.code if isinstance(e.code, int) else 2
    args.progress = Progress.auto()
    args.log = args.progress.print
    try:
        return args.func(args)
    except HfaccelError as e:
        print(f"hfaccel {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hfaccel models | head` is fine
        return 0
    except PermissionError as e:  # a path the user cannot write or read: theirs to fix
        print(f"hfaccel {args.command}: error: {e.strerror}: {e.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hfaccel {args.command}: interrupted", file=sys.stderr)
        return 130
