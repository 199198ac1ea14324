"""The model zoo: the paper's names mapped to scaling coefficients, and Table 5's numbers.

eLite models are ``Model(w_i, d_j, r_k)`` over Table 3's coefficient lists. The paper does not
print the HF configurations; matching Table 5's parameter and MAC counts identifies them (see
``docs/models.md``). Names are case-insensitive.
"""

from __future__ import annotations

from dataclasses import dataclass

from hfaccel.errors import UnknownModelError
from hfaccel.model.spec import NetConfig, Scaling, scale

__all__ = [
    "DEPTH_COEFFS",
    "REGISTRY",
    "RESOLUTIONS",
    "WIDTH_COEFFS",
    "ModelEntry",
    "get_config",
    "model_names",
]

# Table 3. Index 0 is w1/d1/r1. The resolution row is used as printed (224, 203, 172, 132).
WIDTH_COEFFS = (1.0, 0.8666, 0.701, 0.514)
DEPTH_COEFFS = (1.0, 0.7, 0.6, 0.5)
RESOLUTIONS = (224, 203, 172, 132)
HF_RESOLUTIONS = (128, 256)


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its coefficients (1-based Table 3 indices) and Table 5's numbers."""

    name: str
    w: int
    d: int
    resolution: int
    hf: bool
    paper_params_m: float
    paper_macs_m: float
    note: str = ""

    @property
    def scaling(self) -> Scaling:
        return Scaling(WIDTH_COEFFS[self.w - 1], DEPTH_COEFFS[self.d - 1], self.resolution,
                       self.hf)

    @property
    def coefficients(self) -> str:
        r = f"r{RESOLUTIONS.index(self.resolution) + 1}" if not self.hf else f"{self.resolution}"
        return f"(w{self.w}, d{self.d}, {r})"


def _elite(n: int, w: int, d: int, r: int, params: float, macs: float,
           note: str = "") -> ModelEntry:
    return ModelEntry(f"elite{n}", w, d, RESOLUTIONS[r - 1], False, params, macs, note)


def _hf(n: int, w: int, d: int, res: int, params: float, macs: float) -> ModelEntry:
    return ModelEntry(f"hf{n}", w, d, res, True, params, macs)


ELITE4_NOTE = (
    "Table 5 prints 3.17 M params for eLite4, which is HF1's number; its MACs match, so the "
    "printed parameter count is a known inconsistency in the paper"
)

_ENTRIES = (
    ModelEntry("b0", 1, 1, 224, False, 5.33, 385.81,
               "the baseline; Table 5 rounds it to 5.3 M / 390 M, eLite0's row has the exact "
               "counts"),
    _elite(0, 1, 1, 1, 5.33, 385.81),
    _elite(1, 1, 2, 1, 4.74, 362.62),
    _elite(2, 1, 3, 1, 4.42, 313.86),
    _elite(3, 2, 2, 1, 3.78, 296.88),
    _elite(4, 2, 3, 2, 3.17, 231.88, ELITE4_NOTE),
    _elite(5, 3, 2, 1, 2.68, 206.72),
    _elite(6, 3, 3, 1, 2.52, 181.32),
    _elite(7, 3, 4, 2, 2.18, 127.99),
    _elite(8, 4, 2, 1, 1.60, 114.52),
    _elite(9, 4, 4, 1, 1.34, 74.56),
    _hf(0, 1, 1, 256, 3.81, 383.49),
    _hf(1, 2, 2, 256, 3.17, 296.37),
    _hf(2, 1, 4, 256, 2.77, 246.86),
    _hf(3, 1, 2, 128, 3.44, 92.29),
    _hf(4, 2, 3, 128, 2.98, 65.55),
    _hf(5, 1, 4, 128, 2.77, 62.66),
)
REGISTRY: dict[str, ModelEntry] = {e.name: e for e in _ENTRIES}


def model_names() -> list[str]:
    return list(REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name`` (case-insensitive)."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in REGISTRY:
        raise UnknownModelError(
            f"unknown model {name!r}; valid names: {', '.join(REGISTRY)} "
            "(or give coefficients: --w W --d D --res R [--hf])"
        )
    return REGISTRY[key]


def get_config(name: str, *, num_classes: int = 1000, dropout: float = 0.2) -> NetConfig:
    """The :class:`NetConfig` of a registered model (names are case-insensitive)."""
    entry = get_entry(name)
    return scale(entry.scaling, name=entry.name, num_classes=num_classes, dropout=dropout)
