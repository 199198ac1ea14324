"""Verilog generation: ``build/rtl/<hw>/`` with the top level, a file list and the config JSON.

Generation of the 32-lane engine takes about a minute and a half, so the result is cached: a
stamp holds a hash of the config and of the generator's sources, and an unchanged pair reuses
the files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hfaccel.accel.config import AccelConfig

__all__ = ["TOP", "generate_verilog", "rtl_dir"]

TOP = "hfaccel_top"
_SOURCES = ("hw.py", "arith.py", "isa.py", "config.py")


def rtl_dir(cfg: AccelConfig, root: str | Path = "build/rtl") -> Path:
    return Path(root) / cfg.name


def _key(cfg: AccelConfig) -> str:
    h = hashlib.sha256(cfg.to_json().encode())
    here = Path(__file__).parent
    for s in _SOURCES:
        h.update((here / s).read_bytes())
    return h.hexdigest()[:16]


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
    text = verilog.convert(Accelerator(cfg), name=TOP, emit_src=False)
    tmp = top.with_suffix(".v.tmp")
    tmp.write_text(text)
    tmp.replace(top)
    (out / "config.json").write_text(cfg.to_json())
    (out / "files.f").write_text(f"{top.name}\n")
    stamp.write_text(key)
    return top
