"""The EfficientNet-B0 family as data: the baseline table, the scaling rules, and frozen configs.

``B0_STAGES`` is Table 2 of the paper. :func:`scale` decodes it, for one set of coefficients
(:class:`Scaling`), into a :class:`NetConfig`: a frozen, fully resolved description of every block
(channel widths, kernel, stride, feature-map sizes). Everything downstream (the torch model, the
parameter/MAC counts, quantization, the accelerator compiler) reads the config, never the table.

Rules (see ``docs/models.md`` for the reasoning):

* width: ``round_filters(C * w)`` as in TF-EfficientNet (divisor 8, minimum 8, +8 when the result
  falls below 90 % of ``C * w``), applied to the stem, every stage and the 1280-wide head;
* depth: ``ceil(d * R_s)`` repeats per stage;
* resolution: the input size is given directly; every stride-2 layer gives ``ceil(H / 2)``
  ('SAME' feature-map sizes);
* hardware-friendly (HF, Section 4): compound rounding (Eq. 7) to a power of two of every conv's
  output width *as computed for eLite*: stem, expansion ``CR(6 * C_in)`` with ``C_in`` the block
  input before power-of-two rounding, SE squeeze ``CR(int(0.25 * C_in))``, projection and head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hfaccel.errors import ConfigError

__all__ = [
    "B0_HEAD",
    "B0_RESOLUTION",
    "B0_STAGES",
    "B0_STEM",
    "SE_RATIO",
    "BlockConfig",
    "ConvSpec",
    "NetConfig",
    "Scaling",
    "StageRow",
    "compound_round",
    "round_filters",
    "round_repeats",
    "scale",
]


@dataclass(frozen=True)
class StageRow:
    """One MBConv stage of Table 2: ``repeats`` blocks, the first with ``stride``."""

    expand: int
    kernel: int
    stride: int
    channels: int
    repeats: int


# Table 2 of the paper (EfficientNet-B0), stages 2-8; stage 1 is the stem, stage 9 the head.
B0_STEM = 32
B0_STAGES: tuple[StageRow, ...] = (
    StageRow(expand=1, kernel=3, stride=1, channels=16, repeats=1),
    StageRow(expand=6, kernel=3, stride=2, channels=24, repeats=2),
    StageRow(expand=6, kernel=5, stride=2, channels=40, repeats=2),
    StageRow(expand=6, kernel=3, stride=2, channels=80, repeats=3),
    StageRow(expand=6, kernel=5, stride=1, channels=112, repeats=3),
    StageRow(expand=6, kernel=5, stride=2, channels=192, repeats=4),
    StageRow(expand=6, kernel=3, stride=1, channels=320, repeats=1),
)
B0_HEAD = 1280
B0_RESOLUTION = 224
SE_RATIO = 0.25  # of the block *input* width, as in EfficientNet
WIDTH_DIVISOR = 8


def round_filters(channels: int, width: float, divisor: int = WIDTH_DIVISOR) -> int:
    """TF-EfficientNet width rounding of ``channels * width`` to a multiple of ``divisor``."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:  # never lose more than 10 % of the channels
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """Depth scaling: ``ceil(depth * repeats)`` blocks in a stage."""
    # Round away float noise first: 0.7 * 10 is 7.000000000000001 in binary, not 8 repeats.
    return int(math.ceil(round(depth * repeats, 9)))


def compound_round(channels: int) -> int:
    """Eq. 7: the nearer power of two of ``channels``; an exact tie rounds down."""
    if channels < 1:
        raise ConfigError(f"compound_round: channels must be >= 1, got {channels}")
    up = 1 << (channels - 1).bit_length()
    down = 1 << (channels.bit_length() - 1)
    return up if up - channels < channels - down else down


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@dataclass(frozen=True)
class Scaling:
    """Scaling coefficients of one family member: width ``w``, depth ``d``, input resolution.

    ``hf`` selects the hardware-friendly transform (power-of-two channels, power-of-two input).
    """

    width: float
    depth: float
    resolution: int
    hf: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.width, (int, float)) or not 0 < self.width <= 1:
            raise ConfigError(f"width coefficient w must be in (0, 1], got {self.width!r}")
        if not isinstance(self.depth, (int, float)) or not self.depth > 0:
            raise ConfigError(f"depth coefficient d must be > 0, got {self.depth!r}")
        if isinstance(self.resolution, bool) or not isinstance(self.resolution, int):
            raise ConfigError(f"resolution must be an integer, got {self.resolution!r}")
        if self.resolution <= 0:
            raise ConfigError(f"resolution must be > 0, got {self.resolution}")
        if self.hf and not is_power_of_two(self.resolution):
            raise ConfigError(
                f"resolution must be a power of two for a hardware-friendly (HF) model "
                f"(e.g. 128 or 256), got {self.resolution}"
            )


@dataclass(frozen=True)
class ConvSpec:
    """One multiply-accumulate layer (convolution or fully connected) of a network.

    ``kind`` is one of ``stem``, ``expand``, ``depthwise``, ``se_reduce``, ``se_expand``,
    ``project``, ``head``, ``classifier``. Feature maps are square: ``in_hw`` x ``in_hw``.
    """

    name: str
    kind: str
    cin: int
    cout: int
    kernel: int
    stride: int
    groups: int
    in_hw: int
    out_hw: int
    bias: bool
    batchnorm: bool

    @property
    def weights(self) -> int:
        return self.cout * (self.cin // self.groups) * self.kernel * self.kernel

    @property
    def params(self) -> int:
        """Learnable parameters plus BatchNorm running mean and variance (the paper's count)."""
        bn = 4 * self.cout if self.batchnorm else 0  # gamma, beta, running mean, running var
        return self.weights + (self.cout if self.bias else 0) + bn

    @property
    def macs(self) -> int:
        return self.weights * self.out_hw * self.out_hw


@dataclass(frozen=True)
class BlockConfig:
    """One MBConv block: [expand 1x1] -> depthwise kxk -> SE -> project 1x1 [-> + input]."""

    index: int
    stage: int  # stage s of Table 2: 2..8 are the MBConv stages (1 is the stem, 9 the head)
    in_ch: int
    expand_ch: int  # == in_ch when the expansion ratio is 1 (no expansion conv)
    se_ch: int
    out_ch: int
    kernel: int
    stride: int
    in_hw: int
    has_expand: bool

    @property
    def out_hw(self) -> int:
        return -(-self.in_hw // self.stride)

    @property
    def has_residual(self) -> bool:
        return self.stride == 1 and self.in_ch == self.out_ch

    def layers(self, prefix: str) -> tuple[ConvSpec, ...]:
        e, hw, ohw = self.expand_ch, self.in_hw, self.out_hw
        out: list[ConvSpec] = []
        if self.has_expand:
            out.append(ConvSpec(f"{prefix}.expand", "expand", self.in_ch, e, 1, 1, 1, hw, hw,
                                bias=False, batchnorm=True))
        out += [
            ConvSpec(f"{prefix}.depthwise", "depthwise", e, e, self.kernel, self.stride, e,
                     hw, ohw, bias=False, batchnorm=True),
            ConvSpec(f"{prefix}.se.reduce", "se_reduce", e, self.se_ch, 1, 1, 1, 1, 1,
                     bias=True, batchnorm=False),
            ConvSpec(f"{prefix}.se.expand", "se_expand", self.se_ch, e, 1, 1, 1, 1, 1,
                     bias=True, batchnorm=False),
            ConvSpec(f"{prefix}.project", "project", e, self.out_ch, 1, 1, 1, ohw, ohw,
                     bias=False, batchnorm=True),
        ]
        return tuple(out)


@dataclass(frozen=True)
class StageSummary:
    stage: int
    kernel: int
    expand_ratio: float  # effective: expansion width / input width of the first block
    channels: int
    repeats: int
    out_hw: int


@dataclass(frozen=True)
class NetConfig:
    """A fully resolved network: every width, kernel, stride and feature-map size."""

    name: str
    scaling: Scaling
    stem_ch: int
    blocks: tuple[BlockConfig, ...]
    head_ch: int
    num_classes: int = 1000
    dropout: float = 0.2
    layers: tuple[ConvSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) \
                or self.num_classes < 1:
            raise ConfigError(f"num_classes must be a positive integer, got {self.num_classes!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        res = self.scaling.resolution
        stem_hw = -(-res // 2)
        layers = [ConvSpec("stem", "stem", 3, self.stem_ch, 3, 2, 1, res, stem_hw,
                           bias=False, batchnorm=True)]
        for b in self.blocks:
            layers += b.layers(f"blocks.{b.index}")
        last_hw = self.blocks[-1].out_hw
        layers.append(ConvSpec("head", "head", self.blocks[-1].out_ch, self.head_ch, 1, 1, 1,
                               last_hw, last_hw, bias=False, batchnorm=True))
        layers.append(ConvSpec("classifier", "classifier", self.head_ch, self.num_classes, 1, 1,
                               1, 1, 1, bias=True, batchnorm=False))
        object.__setattr__(self, "layers", tuple(layers))

    @property
    def resolution(self) -> int:
        return self.scaling.resolution

    @property
    def params(self) -> int:
        """Learnable parameters + BatchNorm running statistics (as the paper counts)."""
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of every conv (depthwise, SE included) and the classifier."""
        return sum(layer.macs for layer in self.layers)

    @property
    def final_hw(self) -> int:
        return self.blocks[-1].out_hw

    def stages(self) -> tuple[StageSummary, ...]:
        out = []
        for s in sorted({b.stage for b in self.blocks}):
            blocks = [b for b in self.blocks if b.stage == s]
            first = blocks[0]
            out.append(StageSummary(stage=s, kernel=first.kernel,
                                    expand_ratio=first.expand_ch / first.in_ch,
                                    channels=first.out_ch, repeats=len(blocks),
                                    out_hw=blocks[-1].out_hw))
        return tuple(out)


def scale(scaling: Scaling, *, name: str = "custom", num_classes: int = 1000,
          dropout: float = 0.2, stages: tuple[StageRow, ...] = B0_STAGES,
          stem: int = B0_STEM, head: int = B0_HEAD) -> NetConfig:
    """Decode the baseline table into the config of one scaled (and optionally HF) network.

    Widths are first computed as for eLite (``round_filters``); the HF transform then applies
    compound rounding to each conv's output width, so an HF network's expansion width is
    ``CR(ratio * eLite input width)``, not ``ratio`` times its own power-of-two input width.
    """
    w, d, hf = scaling.width, scaling.depth, scaling.hf
    hw_of = compound_round if hf else (lambda c: c)

    stem_elite = round_filters(stem, w)
    in_elite, in_ch = stem_elite, hw_of(stem_elite)
    hw = -(-scaling.resolution // 2)
    blocks: list[BlockConfig] = []
    for s, row in enumerate(stages, start=2):  # Table 2 numbering
        out_elite = round_filters(row.channels, w)
        for i in range(round_repeats(row.repeats, d)):
            stride = row.stride if i == 0 else 1
            has_expand = row.expand != 1
            expand_ch = hw_of(in_elite * row.expand) if has_expand else in_ch
            se_ch = hw_of(max(1, int(in_elite * SE_RATIO)))
            block = BlockConfig(index=len(blocks), stage=s, in_ch=in_ch, expand_ch=expand_ch,
                                se_ch=se_ch, out_ch=hw_of(out_elite), kernel=row.kernel,
                                stride=stride, in_hw=hw, has_expand=has_expand)
            blocks.append(block)
            hw = block.out_hw
            in_elite, in_ch = out_elite, block.out_ch
    return NetConfig(name=name, scaling=scaling, stem_ch=hw_of(stem_elite),
                     blocks=tuple(blocks), head_ch=hw_of(round_filters(head, w)),
                     num_classes=num_classes, dropout=dropout)
