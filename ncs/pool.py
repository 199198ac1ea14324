"""Candidate pools (Section 3.1): ``CP = {Model(w_i, d_j, r_k)}`` over coefficient lists.

A pool is the Cartesian product of a width list, a depth list and a resolution list applied to a
base network (EfficientNet-B0 by default, or any other network built from the zoo's MBConv
stages, :class:`BaseNetwork`).

* **Depth** coefficients come from Eq. 2: ``d_1 = 1.0`` and ``d_j = d_{j-1} - 0.1 x`` for the
  smallest natural ``x`` that strictly lowers the total operator count
  ``t = sum_s ceil(R_s d)`` over the nine stages (stem and head count one each). For B0 this gives
  1.0, 0.7, 0.6, 0.5 with 18, 17, 15, 12 operators (Table 3); 0.9 and 0.8 are Table 2's
  "don't care" values because they keep all 18.
* **Width and resolution** coefficients default to Table 3 as printed (so the pool's members are
  exactly the zoo's eLite models). :func:`eq3_coefficients` derives them from the depth list with
  Eq. 3 (``Δw : Δd : Δr = 1.1 : 1.2 : 1.15`` with ``Δd = t_{u+1} / t_u``); that reproduces
  Table 3 to within 0.001 (the paper rounded intermediate values) and is what a pool of another
  base network can use (``coefficients="eq3"``).
* **Resolution** in pixels is ``ceil(r_k x base resolution)``: 224, 203, 172, 132 for B0, as
  Table 3 prints them (rounding to nearest would give 131 for ``r_4 = 0.587``).
* An **HF pool** applies the hardware-friendly transform of Section 4: power-of-two channels
  (compound rounding) and power-of-two input resolutions, 128 and 256 by default.

The pool is a set: two coefficient triples that decode to the same network (e.g. ``d = 0.9`` and
``d = 1.0``) are one candidate; the later triple is recorded as an alias of the first.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field, replace

from hfaccel.errors import ConfigError, HfaccelError
from hfaccel.model.registry import REGISTRY, RESOLUTIONS, WIDTH_COEFFS
from hfaccel.model.spec import (
    B0_HEAD,
    B0_RESOLUTION,
    B0_STAGES,
    B0_STEM,
    NetConfig,
    Scaling,
    StageRow,
    is_power_of_two,
    round_repeats,
    scale,
)

__all__ = [
    "EFFICIENTNET_RATIOS",
    "HF_RESOLUTIONS",
    "POOL_KINDS",
    "TABLE3_RESOLUTION_COEFFS",
    "TABLE3_WIDTHS",
    "BaseNetwork",
    "Candidate",
    "PoolSpec",
    "build_pool",
    "depth_coefficients",
    "eq3_coefficients",
    "operator_count",
    "resolutions_from_coefficients",
]

POOL_KINDS = ("elite", "hf")
TABLE3_WIDTHS: tuple[float, ...] = WIDTH_COEFFS  # 1.0, 0.8666, 0.701, 0.514
TABLE3_RESOLUTION_COEFFS: tuple[float, ...] = (1.0, 0.905, 0.766, 0.587)
HF_RESOLUTIONS: tuple[int, ...] = (128, 256)
# EfficientNet's compound-scaling constants per unit of phi: width beta, depth alpha, resolution
# gamma (Eq. 3 writes them as  Δw : Δd : Δr = 1.1 : 1.2 : 1.15).
EFFICIENTNET_RATIOS = {"width": 1.1, "depth": 1.2, "resolution": 1.15}
DEFAULT_DEPTH_COUNT = 4  # "we only consider i, u, k less or equal than 4"
DEPTH_STEP = 0.1  # Eq. 2 lowers d in steps of 0.1
COEFFICIENT_SOURCES = ("table3", "eq3")


@dataclass(frozen=True, kw_only=True)
class BaseNetwork:
    """The network a pool scales down: MBConv stages (Table 2 rows), stem, head, input size.

    The default is EfficientNet-B0. Another base is any list of the zoo's MBConv stages
    (:class:`hfaccel.model.spec.StageRow`); the stem (3x3, stride 2) and the 1x1 head keep their
    roles, so the total operator count of Eq. 2 is ``2 + sum_s ceil(R_s d)``.
    """

    name: str = "b0"
    stages: tuple[StageRow, ...] = B0_STAGES
    stem: int = B0_STEM
    head: int = B0_HEAD
    resolution: int = B0_RESOLUTION

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"base network name must be a non-empty string, got {self.name!r}")
        stages = tuple(self.stages)
        if not stages:
            raise ConfigError("base network needs at least one MBConv stage")
        for i, row in enumerate(stages, start=1):
            if not isinstance(row, StageRow):
                raise ConfigError(f"base network stage {i} must be a StageRow, got {row!r}")
            for key in ("expand", "kernel", "stride", "channels", "repeats"):
                v = getattr(row, key)
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ConfigError(f"base network stage {i}: {key} must be a positive "
                                      f"integer, got {v!r}")
            if row.kernel % 2 == 0:
                raise ConfigError(f"base network stage {i}: kernel must be odd, got {row.kernel}")
        object.__setattr__(self, "stages", stages)
        for key in ("stem", "head", "resolution"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"base network {key} must be a positive integer, got {v!r}")

    @property
    def is_b0(self) -> bool:
        return (self.stages, self.stem, self.head, self.resolution) == \
            (B0_STAGES, B0_STEM, B0_HEAD, B0_RESOLUTION)

    def to_dict(self) -> dict:
        return {"name": self.name, "stem": self.stem, "head": self.head,
                "resolution": self.resolution, "stages": [asdict(r) for r in self.stages]}

    @classmethod
    def from_dict(cls, d: dict) -> BaseNetwork:
        """A base network from JSON-like data; stages as objects or ``[e, k, s, c, r]`` lists."""
        if not isinstance(d, dict):
            raise ConfigError(f"base network must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - {"name", "stem", "head", "resolution", "stages"})
        if unknown:
            raise ConfigError(f"base network: unknown keys {', '.join(unknown)} (valid: name, "
                              "stem, head, resolution, stages)")
        if "stages" not in d or not isinstance(d["stages"], list):
            raise ConfigError("base network needs 'stages': a list of [expand, kernel, stride, "
                              "channels, repeats] rows")
        rows = []
        for i, s in enumerate(d["stages"], start=1):
            try:
                rows.append(StageRow(**s) if isinstance(s, dict) else StageRow(*s))
            except TypeError:
                raise ConfigError(f"base network stage {i} must be [expand, kernel, stride, "
                                  f"channels, repeats] or an object with those keys, got "
                                  f"{s!r}") from None
        kw = {k: d[k] for k in ("name", "stem", "head", "resolution") if k in d}
        return cls(stages=tuple(rows), **kw)

    def config(self, scaling: Scaling, *, name: str, num_classes: int = 1000) -> NetConfig:
        return scale(scaling, name=name, num_classes=num_classes, stages=self.stages,
                     stem=self.stem, head=self.head)


B0 = BaseNetwork()


def operator_count(depth: float, base: BaseNetwork = B0) -> int:
    """Eq. 2's total operators ``sum_{s=1}^{9} ceil(R_s d)``: stem and head are one each."""
    return 2 + sum(round_repeats(row.repeats, depth) for row in base.stages)


def depth_coefficients(base: BaseNetwork = B0, *, count: int = DEFAULT_DEPTH_COUNT
                       ) -> tuple[float, ...]:
    """Eq. 2: ``d_1 = 1``, then each ``d_j`` the largest ``d_{j-1} - 0.1 x`` with fewer operators.

    For B0: (1.0, 0.7, 0.6, 0.5), i.e. 18, 17, 15 and 12 operators. Raises
    :class:`~hfaccel.errors.ConfigError` when the base cannot give ``count`` distinct depths.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"number of depth coefficients must be a positive integer, got "
                          f"{count!r}")
    # Count in integer tenths: 1.0 - 0.1 - 0.1 - 0.1 is 0.7000000000000001 in binary.
    tenths = round(1 / DEPTH_STEP)
    out = [1.0]
    ops = operator_count(1.0, base)
    k = tenths
    while len(out) < count:
        k -= 1
        if k <= 0:
            raise ConfigError(
                f"Eq. 2 gives only {len(out)} depth coefficients for base network {base.name} "
                f"({', '.join(f'{d:g}' for d in out)}); ask for at most {len(out)}")
        d = round(k * DEPTH_STEP, 10)
        t = operator_count(d, base)
        if t < ops:
            out.append(d)
            ops = t
    return tuple(out)


def eq3_coefficients(depths: tuple[float, ...], base: BaseNetwork = B0
                     ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Eq. 3: width and resolution coefficients that follow a depth list at EfficientNet's ratios.

    With ``Δd_u = t_{u+1} / t_u`` (operator counts), ``Δw = Δd x 1.1/1.2`` and
    ``Δr = Δd x 1.15/1.2``, accumulated from ``w_1 = r_1 = 1``. For B0's depths this gives
    w = (1, 0.8657, 0.7002, 0.5135) and r = (1, 0.9051, 0.7653, 0.5868) against Table 3's printed
    (1, 0.8666, 0.701, 0.514) and (1, 0.905, 0.766, 0.587); ``ceil(224 r)`` is exactly
    224, 203, 172, 132.
    """
    depths = _coefficient_list("depth", depths, upper=None)
    t = [operator_count(d, base) for d in depths]
    a, b, g = (EFFICIENTNET_RATIOS[k] for k in ("depth", "width", "resolution"))
    widths, res = [1.0], [1.0]
    for u in range(1, len(t)):
        dd = t[u] / t[u - 1]
        widths.append(widths[-1] * dd * b / a)
        res.append(res[-1] * dd * g / a)
    return tuple(widths), tuple(res)


def resolutions_from_coefficients(coeffs: tuple[float, ...], base_resolution: int
                                  ) -> tuple[int, ...]:
    """``ceil(r_k x base)`` pixels (float noise rounded away first): Table 3's 224/203/172/132."""
    return tuple(int(math.ceil(round(r * base_resolution, 6))) for r in coeffs)


def _coefficient_list(what: str, values, *, upper: float | None = 1.0) -> tuple[float, ...]:
    if values is None:
        raise ConfigError(f"{what} coefficient list must not be None")
    try:
        vals = tuple(values)
    except TypeError:
        raise ConfigError(f"{what} coefficients must be a list of numbers, got "
                          f"{values!r}") from None
    if not vals:
        raise ConfigError(f"{what} coefficient list is empty")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or \
                (upper is not None and v > upper) or not math.isfinite(v):
            bound = f"(0, {upper:g}]" if upper is not None else "> 0"
            raise ConfigError(f"{what} coefficients must be in {bound}, got {v!r}")
    if len(set(vals)) != len(vals):
        raise ConfigError(f"{what} coefficient list has duplicates: "
                          f"{', '.join(f'{v:g}' for v in vals)}")
    return tuple(float(v) for v in vals)


@dataclass(frozen=True, kw_only=True)
class PoolSpec:
    """Which candidates a pool holds: ``kind`` (elite or hf), coefficient lists, base network.

    ``None`` lists take the defaults: depths from Eq. 2 (four), widths and resolution coefficients
    from Table 3 (``coefficients="table3"``) or derived with Eq. 3 (``"eq3"``); an HF pool's
    resolutions are 128 and 256 pixels. ``resolutions`` (pixels) and ``resolution_coeffs`` are
    alternatives; an HF pool takes only power-of-two pixel resolutions.
    """

    kind: str = "elite"
    widths: tuple[float, ...] | None = None
    depths: tuple[float, ...] | None = None
    resolution_coeffs: tuple[float, ...] | None = None
    resolutions: tuple[int, ...] | None = None
    coefficients: str = "table3"
    base: BaseNetwork = field(default_factory=BaseNetwork)

    def __post_init__(self) -> None:
        if self.kind not in POOL_KINDS:
            raise HfaccelError(f"unknown pool {self.kind!r}; choose one of "
                               f"{', '.join(POOL_KINDS)}")
        if self.coefficients not in COEFFICIENT_SOURCES:
            raise ConfigError(f"coefficients must be one of {', '.join(COEFFICIENT_SOURCES)}, "
                              f"got {self.coefficients!r}")
        if not isinstance(self.base, BaseNetwork):
            raise ConfigError(f"base must be a BaseNetwork, got {type(self.base).__name__}")
        for name in ("widths", "depths", "resolution_coeffs"):
            v = getattr(self, name)
            if v is not None:
                what = {"widths": "width", "depths": "depth",
                        "resolution_coeffs": "resolution"}[name]
                object.__setattr__(self, name, _coefficient_list(what, v))
        if self.resolutions is not None:
            if self.resolution_coeffs is not None:
                raise ConfigError("give resolutions either in pixels or as coefficients, "
                                  "not both")
            try:
                res = tuple(self.resolutions)
            except TypeError:
                raise ConfigError(f"resolutions must be a list of integers, got "
                                  f"{self.resolutions!r}") from None
            if not res:
                raise ConfigError("resolution list is empty")
            for r in res:
                if isinstance(r, bool) or not isinstance(r, int) or r < 1:
                    raise ConfigError(f"resolutions must be positive integers (pixels), got "
                                      f"{r!r}")
            if len(set(res)) != len(res):
                raise ConfigError(f"resolution list has duplicates: "
                                  f"{', '.join(map(str, res))}")
            object.__setattr__(self, "resolutions", res)
        if self.kind == "hf":
            if self.resolution_coeffs is not None:
                raise ConfigError("an HF pool takes power-of-two resolutions in pixels "
                                  "(e.g. 128, 256), not resolution coefficients")
            bad = [r for r in self.pixel_resolutions() if not is_power_of_two(r)]
            if bad:
                raise ConfigError(f"an HF pool needs power-of-two resolutions (e.g. 128, 256), "
                                  f"got {', '.join(map(str, bad))}")

    def depth_list(self) -> tuple[float, ...]:
        return self.depths if self.depths is not None else depth_coefficients(self.base)

    def width_list(self) -> tuple[float, ...]:
        if self.widths is not None:
            return self.widths
        if self.coefficients == "eq3":
            return tuple(round(w, 4) for w in eq3_coefficients(self.depth_list(), self.base)[0])
        return TABLE3_WIDTHS

    def resolution_coeff_list(self) -> tuple[float, ...]:
        if self.resolution_coeffs is not None:
            return self.resolution_coeffs
        if self.coefficients == "eq3":
            return tuple(round(r, 4) for r in eq3_coefficients(self.depth_list(), self.base)[1])
        return TABLE3_RESOLUTION_COEFFS

    def pixel_resolutions(self) -> tuple[int, ...]:
        if self.resolutions is not None:
            return self.resolutions
        if self.kind == "hf":
            return HF_RESOLUTIONS
        return resolutions_from_coefficients(self.resolution_coeff_list(), self.base.resolution)

    def to_dict(self) -> dict:
        """Everything that decides the pool's members (recorded in a run's ``search.json``)."""
        return {"kind": self.kind, "base": self.base.to_dict(),
                "widths": list(self.width_list()), "depths": list(self.depth_list()),
                "resolutions": list(self.pixel_resolutions())}


@dataclass(frozen=True)
class Candidate:
    """One pool member ``Model(w_i, d_j, r_k)``; ``params``/``macs`` are for 1000 classes.

    ``w_index``, ``d_index``, ``r_index`` are 1-based positions in the pool's lists; ``name`` uses
    Table 3's index where the value is one of Table 3's (``w2-d3-r2``), the value otherwise
    (``w0.5-d0.3-112``: resolutions outside Table 3 and HF ones are pixels).
    ``zoo`` is the registry name when the candidate is a zoo model (``elite4``, ``hf3``).
    """

    index: int
    name: str
    label: str
    width: float
    depth: float
    resolution: int
    hf: bool
    w_index: int
    d_index: int
    r_index: int
    params: int
    macs: int
    zoo: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def scaling(self) -> Scaling:
        return Scaling(self.width, self.depth, self.resolution, self.hf)

    def to_dict(self) -> dict:
        return asdict(self)


def _tag(prefix: str, value: float, table: tuple) -> str:
    return f"{prefix}{table.index(value) + 1}" if value in table else f"{prefix}{value:g}"


def _zoo_name(s: Scaling, base: BaseNetwork) -> str | None:
    if not base.is_b0:
        return None
    for name, entry in REGISTRY.items():
        if name != "b0" and entry.scaling == s:
            return name
    return None


def build_pool(spec: PoolSpec | None = None) -> tuple[Candidate, ...]:
    """The candidates of ``spec``, ``w``-major then ``d`` then ``r`` order, duplicates merged."""
    from hfaccel.model.registry import DEPTH_COEFFS

    spec = spec or PoolSpec()
    widths, depths, resolutions = spec.width_list(), spec.depth_list(), spec.pixel_resolutions()
    hf = spec.kind == "hf"
    out: list[Candidate] = []
    seen: dict[tuple, int] = {}
    for (i, w), (j, d), (k, r) in itertools.product(enumerate(widths, 1), enumerate(depths, 1),
                                                     enumerate(resolutions, 1)):
        s = Scaling(w, d, r, hf)
        wt, dt = _tag("w", w, TABLE3_WIDTHS), _tag("d", d, DEPTH_COEFFS)
        # Table 3's resolutions are r1..r4; any other size (and every HF one) is its pixels.
        rt = f"r{RESOLUTIONS.index(r) + 1}" if not hf and spec.base.is_b0 and r in RESOLUTIONS \
            else str(r)
        name = f"{'hf-' if hf else ''}{wt}-{dt}-{rt}"
        cfg = spec.base.config(s, name=name)
        key = (cfg.stem_ch, cfg.blocks, cfg.head_ch)
        if key in seen:  # the pool is a set of networks, not of coefficient triples
            first = out[seen[key]]
            out[seen[key]] = replace(first, aliases=first.aliases + (name,))
            continue
        seen[key] = len(out)
        out.append(Candidate(index=len(out), name=name, label=f"Model({wt}, {dt}, {rt})",
                             width=w, depth=d, resolution=r, hf=hf, w_index=i, d_index=j,
                             r_index=k, params=cfg.params, macs=cfg.macs,
                             zoo=_zoo_name(s, spec.base)))
    return tuple(out)
