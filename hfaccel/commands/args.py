"""The CLI's parser class, help formatter and argument types: every argument is checked when it
is parsed.

A bad value is one line, ``hfaccel CMD: error: argument --opt: VALUE ...: what is allowed``,
with exit status 2, before anything is loaded or computed. Only the standard library and
:mod:`hfaccel.errors` are imported here (``hfaccel --help`` builds every parser); ``hw_config``
imports :mod:`hfaccel.accel.config`, which is light, when an ``--hw`` value is parsed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["HelpFormatter", "Parser", "bias_correction", "calibration_method", "choice",
           "comma_choices", "data_source", "hw_config",
           "input_file", "int_range", "nonneg_int", "out_dir", "out_file", "positive_float",
           "positive_int"]

DATASETS = ("digits", "fashion-mnist")  # hfaccel.quant.data.DATASETS (a test keeps them equal)
# hfaccel.quant.defaults.CALIBRATION_METHODS (a test keeps them equal)
CALIBRATION_METHODS = ("brevitas", "mse", "percentile", "auto")
BIAS_CORRECTIONS = ("none", "local", "float")  # hfaccel.quant.defaults.BIAS_CORRECTIONS


class HelpFormatter(argparse.HelpFormatter):
    """Every option's default appended to its help; descriptions wrapped, examples (text with
    line breaks: the epilogs) kept as written.

    Defaults of ``None``/``False`` mean "not given" and are left out, as is a default the help
    already describes in words ("(default: ...)")."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if (d is None or d is False or d is argparse.SUPPRESS or action.nargs == 0
                or "(default" in text or not action.option_strings):
            return text
        shown = ",".join(map(str, d)) if isinstance(d, (tuple, list)) else str(d)
        return f"{text} (default: {shown.replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage dump) and whose help shows
    defaults; sub-parsers made with ``add_parser`` are of this class too."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        self.exit(2)


def _bad(value: str, allowed: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{value!r} is not allowed: expected {allowed}")


def _int(s: str, allowed: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise _bad(s, allowed) from None


def positive_int(s: str) -> int:
    """An integer >= 1."""
    v = _int(s, "a positive integer (1, 2, ...)")
    if v < 1:
        raise _bad(s, "a positive integer (1, 2, ...)")
    return v


def nonneg_int(s: str) -> int:
    """An integer >= 0."""
    v = _int(s, "an integer >= 0")
    if v < 0:
        raise _bad(s, "an integer >= 0")
    return v


def bus_address(s: str) -> int:
    """A bus byte address: decimal or 0x hex, >= 0, below 2**64."""
    allowed = "a bus address >= 0 below 2**64 (decimal or 0x hex, e.g. 0x1000)"
    try:
        v = int(s, 0)
    except ValueError:
        raise _bad(s, allowed) from None
    if not 0 <= v < 1 << 64:
        raise _bad(s, allowed)
    return v


def int_range(lo: int, hi: int | None = None):
    """An integer in ``lo..hi`` (``hi=None``: no upper bound)."""
    allowed = f"an integer from {lo} to {hi}" if hi is not None else f"an integer >= {lo}"

    def parse(s: str) -> int:
        v = _int(s, allowed)
        if v < lo or (hi is not None and v > hi):
            raise _bad(s, allowed)
        return v

    parse.__name__ = f"int_{lo}_{hi}"
    return parse


def positive_float(s: str) -> float:
    """A finite number > 0."""
    try:
        v = float(s)
    except ValueError:
        raise _bad(s, "a positive number") from None
    if not v > 0 or v == float("inf"):
        raise _bad(s, "a positive number")
    return v


def choice(what: str, choices: tuple[str, ...]):
    """One of ``choices`` (like argparse's ``choices``, with the project's wording)."""

    def parse(s: str) -> str:
        if s not in choices:
            raise argparse.ArgumentTypeError(f"unknown {what} {s!r}; choose one of "
                                             f"{', '.join(choices)}")
        return s

    parse.__name__ = what
    return parse


def calibration_method(s: str) -> str:
    """How activation exponents are chosen: one of :data:`CALIBRATION_METHODS`."""
    return choice("calibration method", CALIBRATION_METHODS)(s)


def bias_correction(s: str) -> str:
    """What the biases absorb after calibration: one of :data:`BIAS_CORRECTIONS`."""
    return choice("bias correction", BIAS_CORRECTIONS)(s)


def comma_choices(choices: tuple[str, ...]):
    """A comma-separated, non-empty list of ``choices`` (each at most once) -> tuple."""
    allowed = f"a comma-separated list of {', '.join(choices)}"

    def parse(s: str) -> tuple[str, ...]:
        items = tuple(t.strip() for t in s.split(",") if t.strip())
        bad = [t for t in items if t not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(
                f"{(bad[0] if bad else s)!r} is not allowed: expected {allowed}")
        return tuple(dict.fromkeys(items))

    parse.__name__ = "comma_choices"
    return parse


def input_file(*suffixes: str, what: str = "file"):
    """An existing, non-empty regular file (ending in one of ``suffixes`` when given) -> Path."""

    def parse(s: str) -> Path:
        p = Path(s)
        if p.is_dir():
            raise argparse.ArgumentTypeError(f"{s} is a directory, not {what}")
        if not p.exists():
            raise argparse.ArgumentTypeError(f"{s} does not exist (expected {what})")
        if not p.is_file():
            raise argparse.ArgumentTypeError(f"{s} is not a regular file (expected {what})")
        if suffixes and p.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{s} is not {what} (expected a name ending in "
                                             f"{' or '.join(suffixes)})")
        if p.stat().st_size == 0:
            raise argparse.ArgumentTypeError(f"{s} is empty (0 bytes), not {what}")
        return p

    parse.__name__ = "input_file"
    return parse


def _no_file_above(p: Path, s: str) -> None:
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise argparse.ArgumentTypeError(f"{s}: {parent} is a file, so nothing can be "
                                             "written below it")


def out_dir(s: str) -> Path:
    """An output folder: a folder or a path that does not exist yet, never a file."""
    p = Path(s)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{s} is an existing file; give a folder (it is "
                                         "created if missing)")
    _no_file_above(p, s)
    return p


def out_file(s: str) -> Path:
    """An output file: a file (overwritten) or a new path, never a folder."""
    p = Path(s)
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{s} is a folder; give a file name")
    _no_file_above(p, s)
    return p


def data_source(s: str) -> str:
    """``digits``, ``fashion-mnist`` or an existing image folder (root/<class>/<image>)."""
    if s in DATASETS:
        return s
    p = Path(s)
    if p.is_dir():
        return s
    what = "a file" if p.exists() else "neither a known data set nor an existing folder"
    raise argparse.ArgumentTypeError(f"{s!r} is {what}: expected {' or '.join(DATASETS)} or an "
                                     "image folder (root/<class>/<image>)")


def hw_config(s: str):
    """A hardware config: preset, config .json, either with ``,field=value`` overrides ->
    :class:`~hfaccel.accel.config.AccelConfig` (its own error names the problem)."""
    from hfaccel.accel.config import get_preset
    from hfaccel.errors import HfaccelError

    try:
        return get_preset(s)
    except HfaccelError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


HW_HELP = ("hardware config: a preset (default, also named zu7ev; small, z7020, ecp5, large) or a "
           "config .json, either followed by ,field=value overrides of AccelConfig fields, e.g. "
           "default,ub_kib=128 or small,dw_kernels=3:5:7")
