"""The accelerator's one frozen hardware description, its presets and its software view.

:class:`AccelConfig` holds every parameter the generator reads; derived sizes are properties so
that they can never disagree with the parameters. The compiler, the cycle model and the reports
read the same object (or its JSON, :meth:`AccelConfig.to_json`), so hardware and software cannot
drift. Named presets are derived from :data:`DEFAULT` with :func:`dataclasses.replace`, the way
Gemmini derives its configs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from hfaccel.accel.depthwise import DwGeometry
from hfaccel.errors import ConfigError

__all__ = ["ALIASES", "AccelConfig", "DEFAULT", "ECP5", "LARGE", "PRESETS", "SMALL",
           "TABLE_WORD_BYTES", "Z7020", "get_preset"]

# Entries per word of an activation-table copy at most. A copy is LUT RAM read by one lane
# (rtl/post.py): 32 rows of 16 bytes let the LUT RAM's own address decode pick the word and
# leave a 16:1 byte select per lane, where beat-wide words (8 rows of 64 on a 64-byte bus) need
# 4x the RAM for their write width and a 64:1 byte select (~490 -> ~120 LUTs a lane on xcup).
TABLE_WORD_BYTES = 16


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@dataclass(frozen=True, kw_only=True)
class AccelConfig:
    """Parameters of one accelerator instance.

    Parameters
    ----------
    name : preset name, carried into reports.
    lanes : channels processed in parallel; the PE array is ``lanes x lanes`` MACs.
    acc_bits : accumulator width (the numeric contract needs 32).
    bus_bytes : external memory port width in bytes per beat (one beat per cycle at most).
    ub_kib : unified on-chip activation buffer, KiB: the feature maps, and the band staging of
        maps that do not fit and are spilled to external memory (accel/tiling.py).
    ub_banks : banks of the activation buffer (words of ``lanes`` bytes); the depthwise unit
        reads and writes up to ``ub_banks`` consecutive words per cycle.
    wgt_tiles : weight buffer depth in ``lanes x lanes`` byte tiles (two halves, ping-pong).
    prm_words : per-channel parameter buffer depth (bias + shift for ``lanes`` channels a word;
        two halves, ping-pong).
    dw_kernels, dw_strides : depthwise kernel sizes and strides the hardware supports.
    queue_depth : instruction queue depth in front of the load and compute units.
    max_outstanding : read requests in flight on the external port.
    watchdog_cycles : cycles without progress of any unit before the engine stops with an error.
    axi_addr_bits : bits of the AXI4 memory master's addresses (``m_axi_awaddr``/``araddr``),
        12..64: the SoC's physical address width (32 on a Zynq-7000's HP ports); a program
        and its buffer must lie below ``2**axi_addr_bits``.
    axi_id_bits : bits of the master's IDs (``m_axi_awid``/``arid``/``bid``/``rid``), 1..16;
        every transaction carries ID 0 (reads return in order).
    shared_tables : 0 or 1. 0: every post-processing lane has its own copy of the activation
        tables (LUT RAM on an FPGA, where no RAM has a read port per lane); 1: the lanes of a
        post-processing word share one copy with a read port each (a register file: the
        structure for an ASIC, where lane copies of flip-flops are most of the gate area).
        The same function and cycles either way (rtl/post.py).
    ub_uram : 0 or 1. 1: each UB bank's copy for the wide read port is marked for UltraRAM and
        its copy for the narrow port for block RAM (``ram_style``; a bank's two read ports are
        two copies on an FPGA either way). For UltraScale+ parts, where the UB would not fit
        in block RAM: a URAM288 is 4,096 x 72 bits, so the banks should be 4,096 rows deep or a
        power of two less (``default``). 0: the synthesis tool's choice. The same function and
        cycles either way. Off UltraScale+ the synthesis flows drop the tag (rtl/synth.py).
    """

    name: str = "default"
    lanes: int = 32
    acc_bits: int = 32
    bus_bytes: int = 64
    ub_kib: int = 1024
    ub_banks: int = 16
    wgt_tiles: int = 64
    prm_words: int = 64
    dw_kernels: tuple[int, ...] = (3, 5)
    dw_strides: tuple[int, ...] = (1, 2)
    queue_depth: int = 8
    max_outstanding: int = 32
    watchdog_cycles: int = 1 << 16
    axi_addr_bits: int = 64
    axi_id_bits: int = 1
    shared_tables: int = 0
    ub_uram: int = 1

    # Fixed by the numeric contract / the instruction format (not parameters).
    data_bits = 8
    instr_bytes = 64
    table_slots = 2
    shift_min, shift_max = -16, 31
    # a channel's field of a parameter word: int32 bias, int8 shift, 3 zero bytes
    # (accel/compiler.py _prm_words writes it, rtl/post.py reads it)
    prm_lane_bytes = 8

    def __post_init__(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(f"AccelConfig {self.name!r}: {msg}")

        need(_pow2(self.lanes) and 4 <= self.lanes <= 64,
             f"lanes must be a power of two in 4..64, got {self.lanes}")
        need(self.acc_bits == 32,
             f"acc_bits must be 32 (the numeric contract), got {self.acc_bits}")
        need(_pow2(self.bus_bytes) and self.lanes <= self.bus_bytes <= 256,
             f"bus_bytes must be a power of two from lanes ({self.lanes}) to 256, "
             f"got {self.bus_bytes}")
        need(self.lanes * self.lanes % self.bus_bytes == 0,
             f"a weight tile ({self.lanes * self.lanes} bytes) must be a whole number of bus "
             f"beats ({self.bus_bytes} bytes)")
        need(self.prm_word_bytes % self.bus_bytes == 0,
             f"a parameter word ({self.prm_word_bytes} bytes) must be a whole number of bus beats "
             f"({self.bus_bytes} bytes)")
        need(_pow2(self.ub_banks) and self.bus_bytes // self.lanes <= self.ub_banks <= 64,
             f"ub_banks must be a power of two from bus_bytes/lanes "
             f"({self.bus_bytes // self.lanes}) to 64, got {self.ub_banks}")
        need(_pow2(self.ub_kib) and self.ub_kib * 1024 >= self.lanes * self.ub_banks * 16,
             f"ub_kib must be a power of two and give each bank at least 16 words, "
             f"got {self.ub_kib}")
        need(self.wgt_tiles >= 4 and self.wgt_tiles % 2 == 0,
             f"wgt_tiles must be even and >= 4, got {self.wgt_tiles}")
        need(self.prm_words >= 4 and self.prm_words % 2 == 0,
             f"prm_words must be even and >= 4, got {self.prm_words}")
        need(bool(self.dw_kernels) and all(k in (1, 3, 5, 7) for k in self.dw_kernels),
             f"dw_kernels must be a non-empty subset of (1, 3, 5, 7), got {self.dw_kernels}")
        need(bool(self.dw_strides) and all(s in (1, 2) for s in self.dw_strides),
             f"dw_strides must be a non-empty subset of (1, 2), got {self.dw_strides}")
        need(self.queue_depth >= 2, f"queue_depth must be >= 2, got {self.queue_depth}")
        need(self.max_outstanding >= 1, f"max_outstanding must be >= 1, got "
                                        f"{self.max_outstanding}")
        # 12: a burst never crosses a 4 KiB page, which the master finds in the low 12 bits
        need(12 <= self.axi_addr_bits <= 64,
             f"axi_addr_bits must be from 12 to 64, got {self.axi_addr_bits}")
        need(1 <= self.axi_id_bits <= 16,
             f"axi_id_bits must be from 1 to 16, got {self.axi_id_bits}")
        need(self.shared_tables in (0, 1),
             f"shared_tables must be 0 (a table copy per lane: FPGAs) or 1 (one copy per "
             f"post-processing word: ASICs), got {self.shared_tables}")
        need(self.ub_uram in (0, 1),
             f"ub_uram must be 0 (the synthesis tool places the UB) or 1 (its wide port's copy "
             f"in UltraRAM, its narrow port's in block RAM), got {self.ub_uram}")

    # ---------------------------------------------------------------- derived sizes
    @property
    def macs_per_cycle(self) -> int:
        return self.lanes * self.lanes

    @property
    def word_bytes(self) -> int:
        """Bytes of one activation word: ``lanes`` int8 channels of one pixel."""
        return self.lanes

    @property
    def ub_words(self) -> int:
        return self.ub_kib * 1024 // self.word_bytes

    @property
    def ub_bank_depth(self) -> int:
        return self.ub_words // self.ub_banks

    @property
    def words_per_beat(self) -> int:
        """Activation words per bus beat (the DMA writes this many per cycle)."""
        return self.bus_bytes // self.lanes

    @property
    def tile_bytes(self) -> int:
        return self.lanes * self.lanes

    @property
    def beats_per_tile(self) -> int:
        return self.tile_bytes // self.bus_bytes

    @property
    def prm_word_bytes(self) -> int:
        """Per channel: int32 bias, int8 shift, 3 bytes padding (``prm_lane_bytes``)."""
        return self.lanes * self.prm_lane_bytes

    @property
    def beats_per_prm(self) -> int:
        return self.prm_word_bytes // self.bus_bytes

    @property
    def table_bytes(self) -> int:
        return 256

    @property
    def beats_per_table(self) -> int:
        return max(1, self.table_bytes // self.bus_bytes)

    @property
    def table_word_bytes(self) -> int:
        """Entries per word of an activation-table copy: a bus beat, at most
        :data:`TABLE_WORD_BYTES` (a table LOAD then writes ``table_writes_per_beat`` words a
        beat, one per cycle)."""
        return min(self.bus_bytes, TABLE_WORD_BYTES, self.table_slots * self.table_bytes)

    @property
    def table_writes_per_beat(self) -> int:
        """Cycles a table LOAD spends writing one bus beat into the table copies."""
        return self.bus_bytes // self.table_word_bytes

    @property
    def dw_window(self) -> int:
        """Words in the depthwise input window: ``lanes`` outputs at the largest stride with
        the largest kernel (:attr:`hfaccel.accel.depthwise.DwGeometry.span`)."""
        return DwGeometry(self.lanes, max(self.dw_kernels), max(self.dw_strides)).span

    @property
    def sram_bytes(self) -> int:
        return (self.ub_kib * 1024 + self.wgt_tiles * self.tile_bytes
                + self.prm_words * self.prm_word_bytes + self.table_slots * self.table_bytes)

    # ---------------------------------------------------------------- software view
    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["dw_kernels"] = list(self.dw_kernels)
        d["dw_strides"] = list(self.dw_strides)
        d["derived"] = {k: getattr(self, k) for k in (
            "macs_per_cycle", "word_bytes", "ub_words", "ub_bank_depth", "words_per_beat",
            "tile_bytes", "beats_per_tile", "prm_word_bytes", "beats_per_prm",
            "beats_per_table", "dw_window", "sram_bytes")}
        d["fixed"] = {"data_bits": self.data_bits, "instr_bytes": self.instr_bytes,
                      "table_slots": self.table_slots, "shift_min": self.shift_min,
                      "shift_max": self.shift_max}
        return d

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict, source: str = "") -> AccelConfig:
        """The config of a dict written by :meth:`as_dict` (``derived`` and ``fixed`` are
        ignored); a field of the wrong type is a :class:`ConfigError` naming it."""
        where = f"{source}: " if source else ""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields - {"derived", "fixed"})
        if unknown:
            raise ConfigError(f"{where}unknown AccelConfig field(s): {', '.join(unknown)}")
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in fields}
        for k, v in kw.items():
            ok = isinstance(v, str) if k == "name" else (
                isinstance(v, tuple) and all(_is_int(t) for t in v)
                if k in ("dw_kernels", "dw_strides") else _is_int(v))
            if not ok:
                want = ("a string" if k == "name" else "a list of integers"
                        if k in ("dw_kernels", "dw_strides") else "an integer")
                raise ConfigError(f"{where}AccelConfig field {k} must be {want}, got "
                                  f"{json.dumps(v if not isinstance(v, tuple) else list(v))}")
        return cls(**kw)

    def replace(self, **kw) -> AccelConfig:
        return dataclasses.replace(self, **kw)


# The Zynq UltraScale+ ZU7EV (ZCU104, Kria K26: 230,400 LUTs, 460,800 FFs, 1,728 DSPs, 312
# BRAM36, 96 URAM288) with 10% headroom in every resource (issue 15): 32 lanes (1,024 MACs), the
# UB at 16 banks of 2,048 words (1 MiB), each bank's wide-port copy in UltraRAM (4 URAM288 a
# bank, half their depth: 64) and its narrow-port copy in block RAM (14.5 BRAM36 a bank: 232).
# 2 MiB would need 464 BRAM36 for the narrow copies, and 32 banks 128 URAMs for the wide ones (a
# URAM288 is 4,096 rows; a bank of 1,024 or 2,048 rows takes the whole block). Against `large`
# (the default before: 2 MiB, 32 banks): +1.2-1.3% cycles on HF3-HF5 (16 words a cycle for the
# depthwise window and the GAP), +9-11% on HF0-HF2, whose largest maps 1 MiB does not hold
# (spilled and streamed in bands); docs/fpga.md.
DEFAULT = AccelConfig()
# `default` with the UB of 2 MiB in 32 banks (the default up to stop 27, the cycle reference of
# issue 15): fits a VU9P, not a ZU7EV (928 BRAM36 of 312: a bank's two read ports are two copies).
LARGE = DEFAULT.replace(name="large", ub_kib=2048, ub_banks=32, ub_uram=0)
# 8 lanes and small buffers: fast to simulate (Icarus included) and to synthesize in CI.
SMALL = DEFAULT.replace(name="small", lanes=8, bus_bytes=16, ub_kib=128, ub_banks=8,
                        wgt_tiles=64, prm_words=64, max_outstanding=16, ub_uram=0)
# The Zynq-7020 (PYNQ-Z1/Z2: 53,200 LUTs, 106,400 FFs, 220 DSP48E1, 140 BRAM36) with 10%
# headroom: 8 lanes (a 16x16 array needs 256 DSPs), the UB at 128 KiB (its banks' two read
# ports are two block-RAM copies: 256 KiB would take 128 of the 126 BRAM36 allowed) and a
# weight buffer of 256 tiles, which the SE layers of HF3-HF5 need (1,024 input channels are 128
# tiles, per half); HF3 runs tiled (docs/fpga.md)
Z7020 = SMALL.replace(name="z7020", wgt_tiles=256)
# The Lattice ECP5-85k (LFE5U-85F of the ULX3S, OrangeCrab, ECPIX-5: 83,640 LUT4s, 156
# MULT18X18D, 208 EBRs of 18 Kbit), the part of the open place-and-route flow (`make pnr`):
# the z7020 engine as it is. 8 lanes: a 16x16 array is 256 multipliers of the 156, 8x8 with
# the GEMM/GAP/depthwise multipliers ~105; the UB's 128 KiB in two read-port copies is 128 EBRs
# and the 256-tile weight buffer (which HF3's SE layers need) 16 more (docs/fpga.md).
ECP5 = Z7020.replace(name="ecp5")
PRESETS = {c.name: c for c in (DEFAULT, SMALL, Z7020, ECP5, LARGE)}
# other names of a preset: the part a preset is sized for (`zu7ev` was a preset of its own
# until `default` became it)
ALIASES = {"zu7ev": "default"}


def get_preset(name: str) -> AccelConfig:
    """A preset by name, a config JSON file written by :meth:`AccelConfig.to_json`, or either
    with fields overridden: ``default,ub_kib=256`` (named ``default-ub_kib256``, so builds of
    different configs never share a directory)."""
    base, *over = name.split(",")
    base = ALIASES.get(base, base)
    if base in PRESETS:
        cfg = PRESETS[base]
    elif base.endswith(".json"):
        from pathlib import Path

        p = Path(base)
        if not p.is_file():
            raise ConfigError(f"hardware config file {base} "
                              f"{'is a folder' if p.is_dir() else 'does not exist'}")
        try:
            d = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ConfigError(f"hardware config file {base} is not valid JSON ({e}); write one "
                              "with `hfaccel rtl` (config.json) or AccelConfig.to_json") from None
        if not isinstance(d, dict):
            raise ConfigError(f"hardware config file {base} must hold a JSON object of "
                              f"AccelConfig fields, not a {type(d).__name__}")
        cfg = AccelConfig.from_dict(d, source=base)
    else:
        raise ConfigError(f"unknown hardware preset {base!r}; presets: {', '.join(PRESETS)} "
                          "(or a config .json file; override fields with ,field=value)")
    if not over:
        return cfg
    fields = {f.name: f for f in dataclasses.fields(AccelConfig)}
    kw = {}
    for item in over:
        key, eq, val = item.partition("=")
        if not eq or key not in fields or key == "name":
            raise ConfigError(f"hardware override {item!r}: expected field=value with a field "
                              f"of AccelConfig ({', '.join(f for f in fields if f != 'name')})")
        try:
            v = tuple(int(t) for t in val.split(":")) if key in ("dw_kernels", "dw_strides") \
                else int(val)
        except ValueError:
            raise ConfigError(f"hardware override {item!r}: {val!r} is not an integer "
                              "(kernels/strides: 3:5)") from None
        kw[key] = v
    tag = "-".join(f"{k}{'_'.join(map(str, v)) if isinstance(v, tuple) else v}"
                   for k, v in kw.items())
    return cfg.replace(name=f"{cfg.name}-{tag}", **kw)
