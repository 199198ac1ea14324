"""The EfficientNet-B0 scaling family (eLite0-9, HF0-5) as data, torch modules and exact counts.

>>> from hfaccel.model import get_config, build_model
>>> cfg = get_config("HF3")
>>> cfg.params, cfg.macs
"""

from hfaccel.model.registry import REGISTRY, get_config, get_entry, model_names
from hfaccel.model.spec import (
                                BlockConfig,
                                ConvSpec,
                                NetConfig,
                                Scaling,
                                compound_round,
                                round_filters,
                                round_repeats,
                                scale,
)

__all__ = [
    "REGISTRY",
    "BlockConfig",
    "ConvSpec",
    "EfficientNet",
    "NetConfig",
    "Scaling",
    "build_model",
    "compound_round",
    "get_config",
    "get_entry",
    "measure",
    "model_names",
    "round_filters",
    "round_repeats",
    "scale",
]

_TORCH = {"EfficientNet", "build_model", "measure"}  # hfaccel.model.net, which imports torch


def __getattr__(name: str):
    # The torch modules load on first use: the zoo, the registry and the counts are plain
    # Python, so `hfaccel models` and the CLI's model checks start without torch (~2 s).
    if name in _TORCH:
        from hfaccel.model import net

        return getattr(net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
