"""Where a run's artifacts go: the one rule for ``build/<model>[-<hw>]``.

hw-sim writes ``report.json`` there, ``hfaccel report`` writes ``reports/`` beside it and reads
that report.json back; the bench reads it too. Every one of them calls :func:`run_dir`.
"""

from __future__ import annotations

from pathlib import Path

from hfaccel.accel.config import AccelConfig

__all__ = ["BUILD", "run_dir"]

BUILD = Path("build")


def run_dir(model: str, cfg: AccelConfig, root: str | Path = BUILD) -> Path:
    """``build/<model>`` on the default hardware, ``build/<model>-<hw>`` on any other (a preset
    or an override such as ``default-ub_kib128``), so that runs on two configs never mix."""
    return Path(root) / (model if cfg.name == "default" else f"{model}-{cfg.name}")
