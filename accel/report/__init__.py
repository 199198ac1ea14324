"""Reports of a compiled program: per-layer PE utilization, SRAM tiling, memory traffic, sweeps.

Everything here is computed from the :class:`~hfaccel.accel.compiler.Program` (its hardware
operations, instructions, tensors and config) and the analytic cycle model
(:func:`hfaccel.accel.perf.simulate`); an RTL run (``hfaccel hw-sim``) adds measured cycles from
its ``report.json``. No RTL is needed: a report of HF3 takes a few seconds, most of it importing
the model code.

``build/<model>/reports/`` (:func:`write_reports`):

* ``utilization.csv``: one row per hardware operation (a GEMM with its fused activation, gate and
  residual add; a depthwise conv; a pool) plus the output store; cycles predicted and measured,
  stalls, mapping efficiency, compute and overall utilization (:class:`UtilRow`);
* ``tiling.csv``: tile sizes and counts, on-chip buffer bytes and occupancy, halo overhead,
  band streaming, external traffic and the re-fetch factor (:class:`TilingRow`);
* ``utilization.json``, ``tiling.json``: the CSVs' sidecars (model, config, where measured cycles
  came from, every column's definition); the CSVs themselves are plain, header first;
* ``summary.md``: totals, the ten most expensive layers and why, the config;
* ``utilization.png``, ``roofline.png``, ``traffic.png``.

:func:`sweep` explores lanes, bus width and buffer sizes for several models and writes
``build/sweep/sweep.csv`` (and ``sweep.json``) and ``pareto.png`` (cycles against an area proxy).
The column definitions are in ``docs/reports.md`` and in the sidecars.

The modules, by concern: :mod:`.rows` (the typed rows and :func:`build_report`),
:mod:`.measured` (a hw-sim run's cycles), :mod:`.render` (CSV, sidecar, Markdown, terminal),
:mod:`.plots`, :mod:`.sweep`, :mod:`.write` (report folders), :mod:`.models` (zoo graphs).
"""

from hfaccel.accel.report.measured import load_measured
from hfaccel.accel.report.render import format_text, read_csv, summary_md
from hfaccel.accel.report.rows import (
    STORE_ROW,
    TILING_COLUMNS,
    UTIL_COLUMNS,
    Report,
    TilingRow,
    Totals,
    UtilRow,
    build_report,
)
from hfaccel.accel.report.sweep import (
    MAC_BYTES,
    SWEEP_COLUMNS,
    SweepRow,
    pareto_front,
    sweep,
    sweep_configs,
    sweep_graphs,
)
from hfaccel.accel.report.write import report_graph, report_model, write_reports

__all__ = ["MAC_BYTES", "Report", "STORE_ROW", "SWEEP_COLUMNS", "SweepRow", "TILING_COLUMNS",
           "TilingRow", "Totals", "UTIL_COLUMNS", "UtilRow", "build_report", "format_text",
           "load_measured", "pareto_front", "read_csv", "report_graph", "report_model",
           "summary_md", "sweep", "sweep_configs", "sweep_graphs", "write_reports"]
