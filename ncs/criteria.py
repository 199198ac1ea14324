"""Elimination criteria (Section 3.3) and their analysis (Eqs. 5 and 6).

A criterion maps a candidate's accuracy history (one value per finished epoch, oldest first) to a
score; higher is better:

* ``average`` (the paper's choice, Eq. 6): the mean accuracy from the first epoch to now;
* ``specific``: the accuracy at the current epoch (MnasNet, PNAS and AmoebaNet style).

Any callable ``history -> float`` works as well. :func:`rank` orders candidates by a criterion,
ties broken by the order given (the lighter candidate, in a group).

:func:`analyze_curves` measures how often a criterion's per-round ranking equals the final
ranking: with rounds of ``e`` epochs and ``R`` rounds, ``Rank_spe(r)`` orders by accuracy at
epoch ``e r`` and ``Rank_avg(r)`` by average accuracy over epochs ``1..e r``;
``P_spe = #{r : Rank_spe(r) == Rank_spe(R)} / R`` and ``P_avg = #{r : Rank_avg(r) == Rank_spe(R)}
/ R``. The final ranking is always the accuracy at the last round's epoch (``Rank_spe(R)``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hfaccel.errors import ConfigError, HfaccelError

__all__ = [
    "CRITERIA",
    "CriterionReport",
    "analyze_curves",
    "average_accuracy",
    "get_criterion",
    "rank",
    "read_curves_csv",
    "specific_accuracy",
    "survivor_count",
]

Criterion = Callable[[Sequence[float]], float]


def average_accuracy(history: Sequence[float]) -> float:
    """Eq. 6: ``Acc_avg(1, k) = sum_{i=1..k} Acc_spe(i) / k`` over the history given."""
    if not history:
        raise HfaccelError("average accuracy of an empty history")
    return sum(history) / len(history)


def specific_accuracy(history: Sequence[float]) -> float:
    """The accuracy at the latest epoch (Eq. 5's ``Acc_spe``)."""
    if not history:
        raise HfaccelError("specific accuracy of an empty history")
    return history[-1]


CRITERIA: dict[str, Criterion] = {"average": average_accuracy, "specific": specific_accuracy}


def get_criterion(criterion: str | Criterion) -> Criterion:
    """A criterion by name (``average``, ``specific``) or a callable ``history -> score``."""
    if callable(criterion):
        return criterion
    if criterion not in CRITERIA:
        raise ConfigError(f"unknown criterion {criterion!r}; choose one of "
                          f"{', '.join(CRITERIA)} (or pass a callable)")
    return CRITERIA[criterion]


def criterion_name(criterion: str | Criterion) -> str:
    if isinstance(criterion, str):
        return criterion
    return f"{getattr(criterion, '__module__', '?')}.{getattr(criterion, '__qualname__', '?')}"


def rank(curves: Mapping[str, Sequence[float]], epoch: int,
         criterion: str | Criterion = "average") -> tuple[str, ...]:
    """Candidates best first by ``criterion`` over epochs ``1..epoch``; ties keep input order."""
    fn = get_criterion(criterion)
    scores = {}
    for name, curve in curves.items():
        if len(curve) < epoch:
            raise HfaccelError(f"{name}: ranking at epoch {epoch} needs {epoch} epochs of "
                               f"history, it has {len(curve)}")
        scores[name] = fn(list(curve[:epoch]))
    order = list(curves)
    return tuple(sorted(order, key=lambda n: (-scores[n], order.index(n))))


def survivor_count(n: int) -> int:
    """Eliminating the lower half of ``n`` keeps ``ceil(n / 2)`` (3 -> 2, 2 -> 1)."""
    return (n + 1) // 2


@dataclass(frozen=True)
class CriterionReport:
    """Eqs. 5-6 for one group of curves: per-round rankings and how often they match the end."""

    candidates: tuple[str, ...]
    round_epochs: int
    rounds: int
    final_ranking: tuple[str, ...]
    rank_spe: tuple[tuple[str, ...], ...]
    rank_avg: tuple[tuple[str, ...], ...]

    @property
    def matches_spe(self) -> int:
        return sum(r == self.final_ranking for r in self.rank_spe)

    @property
    def matches_avg(self) -> int:
        return sum(r == self.final_ranking for r in self.rank_avg)

    @property
    def p_spe(self) -> float:
        return self.matches_spe / self.rounds

    @property
    def p_avg(self) -> float:
        return self.matches_avg / self.rounds

    @property
    def winner_spe(self) -> int:
        """Rounds whose specific-accuracy leader is the final winner (a weaker, useful check)."""
        return sum(r[0] == self.final_ranking[0] for r in self.rank_spe)

    @property
    def winner_avg(self) -> int:
        return sum(r[0] == self.final_ranking[0] for r in self.rank_avg)

    def to_dict(self) -> dict:
        return {"candidates": list(self.candidates), "round_epochs": self.round_epochs,
                "rounds": self.rounds, "final_ranking": list(self.final_ranking),
                "matches_spe": self.matches_spe, "matches_avg": self.matches_avg,
                "p_spe": self.p_spe, "p_avg": self.p_avg,
                "winner_spe": self.winner_spe, "winner_avg": self.winner_avg,
                "rank_spe": [list(r) for r in self.rank_spe],
                "rank_avg": [list(r) for r in self.rank_avg]}


def analyze_curves(curves: Mapping[str, Sequence[float]], round_epochs: int) -> CriterionReport:
    """P_spe and P_avg (Eqs. 5-6) of equally long accuracy curves, in rounds of ``round_epochs``.

    Only whole rounds count: with ``E`` epochs there are ``R = E // round_epochs`` rounds and the
    final ranking is taken at epoch ``R x round_epochs``.
    """
    if isinstance(round_epochs, bool) or not isinstance(round_epochs, int) or round_epochs < 1:
        raise ConfigError(f"round epochs must be a positive integer, got {round_epochs!r}")
    if len(curves) < 2:
        raise HfaccelError(f"criterion analysis needs at least 2 curves, got {len(curves)}")
    lengths = {n: len(c) for n, c in curves.items()}
    if len(set(lengths.values())) != 1:
        raise HfaccelError("criterion analysis needs curves of equal length, got "
                           + ", ".join(f"{n}: {k}" for n, k in lengths.items()))
    for n, c in curves.items():
        if any(not isinstance(a, (int, float)) or not math.isfinite(a) for a in c):
            raise HfaccelError(f"curve {n} has a value that is not a finite number")
    rounds = next(iter(lengths.values())) // round_epochs
    if rounds < 1:
        raise HfaccelError(f"curves of {next(iter(lengths.values()))} epochs hold no whole "
                           f"round of {round_epochs} epochs")
    spe = tuple(rank(curves, r * round_epochs, "specific") for r in range(1, rounds + 1))
    avg = tuple(rank(curves, r * round_epochs, "average") for r in range(1, rounds + 1))
    return CriterionReport(tuple(curves), round_epochs, rounds, spe[-1], spe, avg)


def read_curves_csv(path: str | Path) -> dict[str, dict[str, list[float]]]:
    """Accuracy curves by group from a CSV file.

    Two layouts are read: *long* with columns ``candidate, epoch, accuracy`` (and optionally
    ``group``), or *wide* with an ``epoch`` column followed by one column per candidate (one
    group). Epochs must run 1, 2, ... without gaps. Returns ``{group: {candidate: curve}}``.
    """
    p = Path(path)
    if not p.is_file():
        raise HfaccelError(f"curves file {str(p)!r} does not exist")
    with p.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise HfaccelError(f"curves file {str(p)!r} has no data rows")
    cols = [c.strip() for c in rows[0]]
    rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in rows]

    def num(v: str, where: str) -> float:
        try:
            return float(v)
        except ValueError:
            raise HfaccelError(f"{p}: {where}: {v!r} is not a number") from None

    points: dict[str, dict[str, dict[int, float]]] = {}
    if {"candidate", "epoch", "accuracy"} <= set(cols):
        for i, r in enumerate(rows, start=2):
            e = num(r["epoch"], f"line {i}")
            points.setdefault(r.get("group") or "1", {}).setdefault(r["candidate"], {})[int(e)] \
                = num(r["accuracy"], f"line {i}")
    elif cols and cols[0] == "epoch" and len(cols) > 1:
        for i, r in enumerate(rows, start=2):
            e = int(num(r["epoch"], f"line {i}"))
            for c in cols[1:]:
                if r.get(c, "") != "":
                    points.setdefault("1", {}).setdefault(c, {})[e] = num(r[c], f"line {i}")
    else:
        raise HfaccelError(f"{p}: expected columns 'candidate,epoch,accuracy[,group]' or "
                           f"'epoch,<candidate>,...', got {','.join(cols)}")
    out: dict[str, dict[str, list[float]]] = {}
    for g, cands in points.items():
        for c, by_epoch in cands.items():
            epochs = sorted(by_epoch)
            if epochs != list(range(1, len(epochs) + 1)):
                raise HfaccelError(f"{p}: curve {c} must have epochs 1..N without gaps, got "
                                   f"{epochs[:5]}{'...' if len(epochs) > 5 else ''}")
            out.setdefault(g, {})[c] = [by_epoch[e] for e in epochs]
    return out
