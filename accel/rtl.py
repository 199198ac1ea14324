"""Verilog generation: ``build/rtl/<hw>/`` with the top level, a file list and the config JSON.

Generation of the 32-lane engine takes about a minute and a half, so the result is cached: a
stamp holds a hash of the config and of the generator's sources, and an unchanged pair reuses
the files.
"""

from __future__ import annotations

import hashlib
import re
import json
from pathlib import Path

from hfaccel.accel.config import AccelConfig

__all__ = ["TOP", "generate_verilog", "rtl_dir"]

TOP = "hfaccel_top"
_SOURCES = ("hw.py", "arith.py", "isa.py", "config.py", "rtl.py")


def rtl_dir(cfg: AccelConfig, root: str | Path = "build/rtl") -> Path:
    return Path(root) / cfg.name


def _key(cfg: AccelConfig) -> str:
    h = hashlib.sha256(cfg.to_json().encode())
    here = Path(__file__).parent
    for s in _SOURCES:
        h.update((here / s).read_bytes())
    return h.hexdigest()[:16]


_KICK = re.compile(r"^\s*reg (\\\$auto\$verilog_backend\S*dump_module\$\d+ )\s*= 0;$")


def _portable(text: str) -> str:
    """Make the Verilog portable to Icarus 11 (Verilator accepts it either way).

    * Drop ``(* full_case *)`` attributes that precede no case statement (Yosys' back-end leaves
      one before an empty switch; Icarus rejects it as a syntax error).
    * Yosys guards every ``always @*`` block with a dummy register so that it evaluates at time
      zero, but declares it ``= 0`` and never changes it; Icarus then never runs blocks whose
      inputs do not change, and their outputs stay X. Toggling it once fixes that.
    """
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        m = _KICK.match(line)
        if m:  # toggle the time-zero trigger so that every always @* block evaluates once
            out += [line, f"  initial #0 {m.group(1)} = 1;"]
            continue
        if line.strip().startswith("(* full_case"):
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and not lines[j].strip().startswith(("case", "casez")):
                continue
        out.append(line)
    return "\n".join(out)


def generate_verilog(cfg: AccelConfig, out: str | Path | None = None, *, log=print) -> Path:
    """Write (or reuse) the Verilog of ``cfg``; returns the path of the top-level file."""
    out = Path(out) if out else rtl_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    top = out / f"{TOP}.v"
    stamp = out / ".stamp"
    key = _key(cfg)
    if top.exists() and stamp.exists() and stamp.read_text() == key:
        return top
    from amaranth.back import verilog

    from hfaccel.accel.hw import Accelerator

    log(f"generating Verilog for {cfg.name} ({cfg.lanes} lanes) ...")
    text = _portable(verilog.convert(Accelerator(cfg), name=TOP, emit_src=False))
    tmp = top.with_suffix(".v.tmp")
    tmp.write_text(text)
    tmp.replace(top)
    (out / "config.json").write_text(cfg.to_json())
    (out / "files.f").write_text(f"{top.name}\n")
    stamp.write_text(key)
    return top
