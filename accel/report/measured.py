"""Measured cycles for a report: a previous ``hfaccel hw-sim`` run's ``report.json`` (and the
perf port log of its last image), checked to be of the same program on the same config."""

from __future__ import annotations

import json
from pathlib import Path

from hfaccel.accel.compiler import Program
from hfaccel.accel.perf import PerfLog
from hfaccel.errors import HfaccelError

__all__ = ["load_measured", "measured_ops"]


def measured_ops(prog: Program, measured: dict) -> tuple[dict[int, int], int]:
    """{hw op: measured cycles} and the measured total of a hw-sim report.json dict.

    Raises :class:`HfaccelError` if the report is not of this program (every hardware
    operation's name and MACs must match) or has no total."""
    per: dict[int, int] = {}
    rows: dict[int, dict] = {}
    for r in measured.get("layers", []):
        if r.get("fused_into") is None and "hw_op" in r:
            per[int(r["hw_op"])] = int(r["cycles"])
            rows[int(r["hw_op"])] = r
    for op in prog.ops:
        r = rows.get(op.index, {})
        if r.get("name") != op.name or int(r.get("macs", op.macs)) != op.macs:
            got = f"{r['name']} ({r.get('macs', '?')} MACs)" if r else "nothing"
            raise HfaccelError(f"the measured report ({measured.get('model', '?')}) does not "
                               f"match the program: hardware op {op.index} is {op.name} "
                               f"({op.macs} MACs), the report has {got}")
    try:
        total = int(measured["total"]["cycles"])
    except (KeyError, TypeError, ValueError):
        raise HfaccelError("the measured report has no total cycles") from None
    return per, total


def load_measured(prog: Program, out_dir: str | Path) -> tuple[dict | None, dict | None, str]:
    """A previous ``hw-sim``'s ``out_dir/report.json`` if it ran this program on this config.

    Returns (report, measured busy cycles per op or None, a note for the user). The busy
    cycles come from the last image's perf log (:class:`~hfaccel.accel.perf.PerfLog`) when
    its attribution agrees with the report's cycles.
    """
    path = Path(out_dir) / "report.json"
    if not path.is_file():
        return None, None, f"no {path}: analytic only"
    try:
        rep = json.loads(path.read_text())
    except ValueError:
        return None, None, f"{path} is not JSON: analytic only"
    want = json.loads(json.dumps(prog.cfg.as_dict()))
    if rep.get("hw") != want:
        hw = (rep.get("hw") or {}).get("name", "?")
        return None, None, (f"{path} is for hardware {hw!r}, not {prog.cfg.name!r}: "
                            "analytic only")
    try:
        per, _ = measured_ops(prog, rep)
    except HfaccelError as e:
        return None, None, f"{path}: {e}; analytic only"
    busy = None
    perf = Path(out_dir) / "hwsim" / f"image{int(rep.get('images', 1)) - 1}" / "perf.txt"
    if perf.is_file():
        log = PerfLog.read(perf)
        if log.op_cycles(prog) == {op.index: per[op.index] for op in prog.ops}:
            busy = log.busy
    return rep, busy, f"measured cycles from {path}"
