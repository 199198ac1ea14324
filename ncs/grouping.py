"""Grouping (Section 3.2): Z-scores of parameters and MACs, ``Z_sum``, groups of ``k``.

Parameters (millions) and MACs (the paper's "Flops") live on different scales, so each is
standardised over the pool (Eq. 4): ``Z = (X - mean) / sigma``. ``Z_sum = Z_para + Z_flops``
orders the pool from the lightest to the heaviest candidate, and consecutive runs of ``k`` (4 by
default) form the groups: candidates that cost about the same are compared with each other.

``sigma`` is the population standard deviation (the pool is the whole population). The sample
deviation would scale both Z-scores by the same factor, so the order and the groups are the same
either way. A measure that does not vary over the pool contributes a Z-score of 0.

When the pool size is not a multiple of ``k``, the last (heaviest) group is smaller; a group of
one is decided without a contest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hfaccel.errors import ConfigError
from hfaccel.ncs.pool import Candidate

__all__ = ["Group", "Scored", "group_pool", "z_scores"]


def z_scores(values: Sequence[float]) -> tuple[float, ...]:
    """Eq. 4 over ``values``: offsets from the mean in population standard deviations."""
    n = len(values)
    if n == 0:
        return ()
    mean = sum(values) / n
    sigma = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    if sigma == 0:
        return tuple(0.0 for _ in values)
    return tuple((v - mean) / sigma for v in values)


@dataclass(frozen=True)
class Scored:
    """A candidate with its Z-scores over the pool."""

    candidate: Candidate
    z_params: float
    z_macs: float

    @property
    def z_sum(self) -> float:
        return self.z_params + self.z_macs

    @property
    def name(self) -> str:
        return self.candidate.name


@dataclass(frozen=True)
class Group:
    """Group ``index`` (1 = lightest) and its members in ascending ``Z_sum``."""

    index: int
    members: tuple[Scored, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    @property
    def rounds(self) -> int:
        """Elimination rounds until one survives: each round keeps ``ceil(n / 2)``."""
        n, r = len(self.members), 0
        while n > 1:
            n, r = (n + 1) // 2, r + 1
        return r


def group_pool(candidates: Sequence[Candidate], group_size: int = 4) -> tuple[Group, ...]:
    """Sort by ``Z_sum`` (ties: pool order) and cut into groups of ``group_size``."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
        raise ConfigError(f"group size must be an integer >= 2 (candidates compared per group), "
                          f"got {group_size!r}")
    if len(candidates) < 2:
        raise ConfigError(f"a candidate pool needs at least 2 candidates to search, got "
                          f"{len(candidates)}")
    zp = z_scores([c.params for c in candidates])
    zm = z_scores([c.macs for c in candidates])
    scored = [Scored(c, p, m) for c, p, m in zip(candidates, zp, zm, strict=True)]
    # Ties are broken by pool order so that grouping never depends on float noise in the sort.
    scored.sort(key=lambda s: (round(s.z_sum, 12), s.candidate.index))
    return tuple(Group(g + 1, tuple(scored[i:i + group_size]))
                 for g, i in enumerate(range(0, len(scored), group_size)))
