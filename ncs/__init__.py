"""Network Candidate Search (Section 3 of the paper): pools, grouping, elimination tournament.

>>> from hfaccel.ncs import PoolSpec, SearchConfig, make_plan, run_search
>>> plan = make_plan(SearchConfig(pool=PoolSpec(kind="hf")))   # 32 candidates, 8 groups
>>> result = run_search(SearchConfig(...), "build/ncs/my-run")  # resumable

Names are loaded on first use (PEP 562) so that ``hfaccel --help``, which imports
:mod:`hfaccel.commands.ncs`, does not import torch. See ``docs/ncs.md``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BaseNetwork": "pool", "Candidate": "pool", "PoolSpec": "pool", "build_pool": "pool",
    "depth_coefficients": "pool", "eq3_coefficients": "pool", "operator_count": "pool",
    "resolutions_from_coefficients": "pool",
    "Group": "grouping", "Scored": "grouping", "group_pool": "grouping", "z_scores": "grouping",
    "CRITERIA": "criteria", "CriterionReport": "criteria", "analyze_curves": "criteria",
    "average_accuracy": "criteria", "get_criterion": "criteria", "rank": "criteria",
    "read_curves_csv": "criteria", "specific_accuracy": "criteria",
    "Plan": "search", "Search": "search", "SearchConfig": "search", "SearchResult": "search",
    "make_plan": "search", "run_search": "search",
    "CandidateTrainer": "trainer",
    "analyze_path": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"hfaccel.ncs.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'hfaccel.ncs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
