"""Compiler: the IR of an exported QCDQ ONNX -> the accelerator's program and memory image.

Passes (each result is kept on the :class:`Program` so that reports and tests can look at it):

1. **fuse** the IR layers into hardware operations (:class:`HwOp`): a conv with the activation
   that follows it, a squeeze-excitation gating multiply into the input path of the conv that
   consumes it, a residual add into the output of the conv that feeds it; depthwise conv + act;
   global average pooling. Whatever is left over is an error naming the layer.
2. **tile** weights into chunks that fit half of the weight buffer (ping-pong), one DMA burst
   per buffer per chunk (:class:`WeightPlan`).
3. **place** every feature map in the unified buffer (first fit, freed after its last use); when
   the live maps do not fit, spill maps to external memory and stream the operations on them in
   row bands (:mod:`hfaccel.accel.tiling`, :class:`~hfaccel.accel.tiling.BandPlan`). The UB words
   live during each operation are recorded (:attr:`Program.ub_live_words`). Only a band that
   does not fit even at its smallest is an error naming the layer and the sizes.
4. **schedule**: emit LOAD / GEMM / DW / GAP / STORE with the semaphore flags of
   :mod:`hfaccel.accel.isa`; :func:`hfaccel.accel.perf.simulate` replays the schedule (and
   proves it free of deadlock) to predict cycles.
5. **link**: lay out the external memory image: the program from beat 0 (the engine's ``prog``
   port is 0), then weights, parameters and tables, the network input, spilled maps and the
   output.

Feature maps in the unified buffer are channel-tile planar: ``lanes`` channels of one pixel per
word, word ``(ct, p)`` at ``base + ct * H * W + p``. The network input is written by the host in
the same layout; when the first layer is a dense k x k convolution (the stem) the host writes its
im2col patches instead (``k * k * C`` channels per output pixel), which turns the stem into a
GEMM that fills ``k * k * C / lanes`` of the array's rows instead of ``C / lanes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.accel.depthwise import DwGeometry, is_flat
from hfaccel.accel.isa import Instr
from hfaccel.accel.tiling import (
    Band,
    BandPlan,
    NoRoom,
    Staging,
    UbAllocator,
    ceil_to,
    dw_bands,
    gap_bands,
    gemm_bands,
)
from hfaccel.errors import HfaccelError
from hfaccel.quant.ir import Graph, Layer

__all__ = ["Chunk", "CompileError", "HwOp", "Im2col", "Program", "Tensor", "WeightPlan",
           "compile_graph", "pack_input"]


class CompileError(HfaccelError):
    """The network cannot be mapped onto this hardware config; the message names the layer."""


@dataclass
class Tensor:
    """A feature map: ``ct`` channel tiles of ``hw = h * w`` pixels, in the UB or in DRAM."""

    name: str  # IR layer name that defines it
    channels: int
    hw: int
    h: int = 1
    w: int = 1
    addr: int = -1  # word address in the UB (home "ub")
    home: str = "ub"  # "ub", or "dram": spilled, streamed in bands (accel/tiling.py)

    def words(self, lanes: int) -> int:
        return math.ceil(self.channels / lanes) * self.hw

    def plane_beats(self, words_per_beat: int) -> int:
        """Beats per channel tile of its DRAM copy (planes padded to whole beats)."""
        return -(-self.hw // words_per_beat)


@dataclass(frozen=True)
class Chunk:
    """One weight chunk of an op: output channel tiles (depthwise: channel groups)
    ``[t0, t0 + n)``, loaded as one blob per buffer into one ping-pong half."""

    t0: int
    n: int
    wgt: bytes  # weight tiles, in the order the engine reads them
    prm: bytes  # parameter words: per channel int32 bias, int8 shift, 3 zero bytes
    tbl: bytes | None = None  # the activation table, when one is fused


@dataclass(frozen=True)
class WeightPlan:
    """How an op's weights are tiled and chunked (the weight and parameter buffers hold two
    chunks, ping-pong, so the next chunk loads while this one computes)."""

    in_tiles: int  # GEMM: input channel tiles ceil(Ci / L); depthwise: tap tiles per group
    out_tiles: int  # GEMM: output channel tiles ceil(Co / L); depthwise: channel groups
    per_chunk: int  # output tiles (depthwise: groups) per chunk
    chunks: tuple[Chunk, ...]


@dataclass(frozen=True)
class Im2col:
    """The stem: a dense ``k x k`` conv on the network input that the host feeds as im2col
    patches (``k * k * channels`` values per output pixel), so that it runs as a GEMM."""

    layer: str
    k: int
    stride: int
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    channels: int


@dataclass
class HwOp:
    """One hardware operation: a GEMM, a depthwise conv or a global average pool.

    Filled pass by pass: fusion sets the layers, the weight tiling ``weights``, placement
    ``stream`` and ``staging`` (when a map of the op is in external memory), linking the
    indices of its instructions."""

    index: int
    kind: str  # gemm | dw | gap
    name: str  # the main IR layer
    x: str  # input tensor (IR layer name)
    out: str  # output tensor (IR layer name of the last fused layer)
    conv: Layer | None = None
    act: Layer | None = None
    add: Layer | None = None  # residual add fused into the output
    skip: str | None = None
    mul: Layer | None = None  # SE gating fused into the input
    gate: str | None = None
    gap: Layer | None = None
    # the post-processing table (256 codes): the fused activation's, or a ReLU/Clip folded into
    # the conv's requantization (``Layer.clamp``) as a table of clamped codes
    table: np.ndarray | None = None
    # IR layers covered and which trace stage shows each: q (conv), a (act), r (final), g (gated)
    stages: dict[str, str] = field(default_factory=dict)
    instrs: list[int] = field(default_factory=list)  # indices of its compute instructions
    loads: list[int] = field(default_factory=list)  # its LOADs and STOREs (weights, bands)
    macs: int = 0
    weights: WeightPlan | None = None  # None for a pool
    stream: BandPlan | None = None  # None: one pass over maps that are all in the UB
    staging: Staging | None = None  # the stream's UB slots

    @property
    def n_bands(self) -> int:
        """Row bands the op runs in (a pool over a streamed map: pixel pieces per group)."""
        return len(self.stream.bands) if self.stream else 1


@dataclass(frozen=True)
class Segment:
    """UB words ``[ub, ub + n)`` written (or gated) by one compute instruction hold words
    ``[word, word + n)`` of a tensor in the channel-tile planar order of :func:`to_words`."""

    ub: int
    n: int
    word: int


@dataclass
class Program:
    cfg: AccelConfig
    graph: Graph
    ops: list[HwOp]
    tensors: dict[str, Tensor]
    instrs: list[Instr]
    image: bytearray  # external memory from address 0 (program, constants)
    input_beat: int
    input_beats: int
    output_beat: int
    output_words: int
    stem_im2col: Im2col | None
    ub_peak_words: int
    # UB words allocated while each op runs (op index order): every map live then and the op's
    # band staging, as the allocator placed them; their maximum is ub_peak_words
    ub_live_words: tuple[int, ...] = ()
    # per compute instruction (program order): where its output words (and, for a gated GEMM,
    # its gated input words) belong in the op's tensors; the trace is read back with these
    out_map: dict[int, list[Segment]] = field(default_factory=dict)
    gate_map: dict[int, list[Segment]] = field(default_factory=dict)
    input_load: int | None = None  # the LOAD of a UB-resident network input

    @property
    def computes(self) -> list[int]:
        return [i for i, ins in enumerate(self.instrs) if ins.op in ("GEMM", "DW", "GAP")]

    @property
    def spilled(self) -> list[str]:
        return [n for n, t in self.tensors.items() if t.home == "dram"]


def _ct(c: int, lanes: int) -> int:
    return math.ceil(c / lanes)


# ------------------------------------------------------------------------------------ fusion
def fuse(graph: Graph, cfg: AccelConfig) -> tuple[list[HwOp], Im2col | None]:
    layers = {ly.output: ly for ly in graph.layers}
    consumers: dict[str, list[Layer]] = {}
    for ly in graph.layers:
        for i in ly.inputs:
            consumers.setdefault(i, []).append(ly)

    def only_consumer(t: str) -> Layer | None:
        cs = consumers.get(t, [])
        return cs[0] if len(cs) == 1 and t != graph.output else None

    done: set[str] = set()
    ops: list[HwOp] = []
    stem = None
    for ly in graph.layers:
        if ly.output in done:
            continue
        if ly.op == "input":
            done.add(ly.output)
            continue
        if ly.op == "mul":
            nxt = only_consumer(ly.output)
            if nxt is None or nxt.op != "conv" or nxt.kind not in ("pointwise", "fc"):
                raise CompileError(f"layer {ly.name}: a gating multiply is supported only when "
                                   "its one consumer is a pointwise/FC conv (it is fused into "
                                   "that conv's input path)")
            done.add(ly.output)
            continue  # handled with its conv
        if ly.op == "conv":
            op = HwOp(len(ops), "", ly.name, ly.inputs[0], ly.output, conv=ly)
            op.stages[ly.name] = "q"
            kind = ly.kind
            src = layers[ly.inputs[0]]
            if kind == "depthwise":
                op.kind = "dw"
                k = ly.weight.shape[2]
                if ly.weight.shape[2] != ly.weight.shape[3] or k not in cfg.dw_kernels:
                    raise CompileError(f"layer {ly.name}: depthwise kernel "
                                       f"{ly.weight.shape[2]}x{ly.weight.shape[3]} not supported "
                                       f"by {cfg.name} (dw_kernels {cfg.dw_kernels}; square "
                                       "kernels of 1, 3, 5, 7 can be configured)")
                if ly.stride not in cfg.dw_strides:
                    raise CompileError(f"layer {ly.name}: depthwise stride {ly.stride} not "
                                       f"supported by {cfg.name} (dw_strides "
                                       f"{cfg.dw_strides}; 1 and 2 can be configured)")
                t, left, b, r = ly.pads
                if t != left or b > t + 1 or r > left + 1 or t > k // 2 + 1:
                    raise CompileError(f"layer {ly.name}: padding {ly.pads} is not 'same'-like "
                                       "(top == left, bottom/right at most one more)")
            elif kind in ("pointwise", "fc"):
                op.kind = "gemm"
                if ly.stride != 1 or any(ly.pads):
                    raise CompileError(f"layer {ly.name}: a 1x1 conv with stride {ly.stride} / "
                                       f"pads {ly.pads} is not supported")
                if src.op == "mul":
                    if src.unsigned or any(src.u_in):
                        raise CompileError(f"layer {src.name}: gating with uint8 operands or "
                                           "result is not supported by the engine (int8 only); "
                                           "quantize the gate, its input and the product as int8")
                    op.mul = src
                    op.x, op.gate = src.inputs[0], src.inputs[1]
                    if layers[op.gate].shape[1:] not in ((), (1, 1)):
                        raise CompileError(f"layer {src.name}: gating needs a per-channel gate "
                                           f"(C,1,1), got {layers[op.gate].shape}")
                    op.stages[src.name] = "g"
            elif kind == "conv" and src.op == "input" and ly.groups == 1 and stem is None:
                op.kind = "gemm"
                stem = Im2col(ly.name, ly.weight.shape[2], ly.stride, tuple(ly.pads),
                              ly.weight.shape[1])
            else:
                raise CompileError(f"layer {ly.name}: {kind} conv {ly.weight.shape} is not "
                                   "supported (pointwise, FC, depthwise, and a dense stem conv "
                                   "on the network input are)")
            cur = _fuse_table(op, ly, only_consumer(ly.output))
            nxt = only_consumer(cur.output)
            if (op.kind == "gemm" and nxt is not None and nxt.op == "add"
                    and nxt.inputs[0] == cur.output and nxt.inputs[1] in done):
                if nxt.unsigned or any(nxt.u_in):
                    raise CompileError(f"layer {nxt.name}: a residual add with uint8 operands "
                                       "or result is not supported by the engine (int8 only); "
                                       "quantize both inputs and the sum as int8")
                op.add = nxt
                op.skip = nxt.inputs[1]
                op.stages[nxt.name] = "r"
                cur = nxt
            op.out = cur.output
            for name in op.stages:
                done.add(graph[name].output)
            done.add(ly.output)
            op.macs = ly.macs
            ops.append(op)
            continue
        if ly.op == "gap":
            hw = ly.extra["in_hw"]
            if hw & (hw - 1):
                raise CompileError(f"layer {ly.name}: average pooling over {hw} pixels; only "
                                   "power-of-two maps are supported (shift-based)")
            op = HwOp(len(ops), "gap", ly.name, ly.inputs[0], ly.output, gap=ly)
            op.stages[ly.name] = "r"
            done.add(ly.output)
            ops.append(op)
            continue
        raise CompileError(f"layer {ly.name}: a standalone {ly.op} is not supported (activations "
                           "fuse into the conv before them, adds into the conv that feeds them)")
    return ops, stem


def _fuse_table(op: HwOp, ly: Layer, nxt: Layer | None) -> Layer:
    """The post-processing table of conv ``ly``: the activation ``nxt`` fused after it, or the
    clamp folded into its requantization; returns the last layer fused so far."""
    if nxt is not None and nxt.op == "act":
        if ly.clamp is not None:
            raise CompileError(f"layer {nxt.name}: an activation after the clamp folded into "
                               f"{ly.name} (ReLU/Clip before its quantizer) is not supported; "
                               "quantize between them")
        op.act, op.table = nxt, nxt.table
        op.stages[nxt.name] = "a"
        return nxt
    lo, hi = (0, 255) if ly.unsigned else (-128, 127)
    if ly.clamp is not None and tuple(ly.clamp) != (lo, hi):
        # the clamp is the table (indexed by the code, + 128 for int8); the trace shows the
        # code after it. A clamp to the whole code range is the requantization's own saturation.
        op.table = np.clip(np.arange(lo, hi + 1), *ly.clamp)
        op.stages[ly.name] = "a"
    return ly


# ------------------------------------------------------------------------------------ memory
def _prm_words(bias: np.ndarray, shift: np.ndarray, cfg: AccelConfig) -> bytes:
    """Parameter words: per lane int32 bias, int8 shift, 3 zero bytes (channels padded)."""
    L = cfg.lanes
    n = _ct(len(bias), L) * L
    rec = np.zeros((n, cfg.prm_lane_bytes), np.uint8)
    b = np.zeros(n, np.int64)
    b[:len(bias)] = bias
    s = np.zeros(n, np.int64)
    s[:len(shift)] = shift
    rec[:, :4] = b.astype("<i4").view(np.uint8).reshape(n, 4)
    rec[:, 4] = s.astype(np.int8).view(np.uint8)
    return rec.tobytes()


def _check_shift(v, what: str, cfg: AccelConfig) -> None:
    v = np.atleast_1d(v)
    if v.min() < cfg.shift_min or v.max() > cfg.shift_max:
        raise CompileError(f"{what}: requantization shift {int(v.min())}..{int(v.max())} outside "
                           f"the hardware's {cfg.shift_min}..{cfg.shift_max}")


def _table_bytes(table: np.ndarray) -> bytes:
    """256 entries of output codes (int8 or uint8: the consumer reads the bytes either way)."""
    return (np.asarray(table, np.int64) & 0xFF).astype(np.uint8).tobytes()


# ------------------------------------------------------------------------------------ compile
def compile_graph(graph: Graph, cfg: AccelConfig) -> Program:
    """The program, memory image and debug map of ``graph`` on ``cfg``."""
    ops, stem = fuse(graph, cfg)
    layers = {ly.output: ly for ly in graph.layers}
    by_name = {ly.name: ly for ly in graph.layers}

    # ---- tensors and their lifetimes
    tensors: dict[str, Tensor] = {}
    in_layer = next(ly for ly in graph.layers if ly.op == "input")
    c_in, h_in, w_in = graph.input_shape
    if stem:
        conv = by_name[stem.layer]
        _, ho, wo = conv.shape
        in_t = Tensor(in_layer.name, c_in * stem.k ** 2, ho * wo, ho, wo)
    else:
        in_t = Tensor(in_layer.name, c_in, h_in * w_in, h_in, w_in)
    tensors[in_layer.output] = in_t
    for op in ops:
        ly = layers[op.out]
        h, w = ly.shape[1:] if len(ly.shape) == 3 else (1, 1)
        tensors[op.out] = Tensor(ly.name, ly.shape[0], h * w, h, w)
    last_use: dict[str, int] = {}
    for op in ops:
        for t in (op.x, op.skip, op.gate):
            if t is not None:
                if t not in tensors:
                    raise CompileError(f"layer {op.name}: its input {layers[t].name} is not "
                                       "produced by any hardware operation")
                last_use[t] = op.index
    for op in ops:
        op.weights = _weight_plan(op, cfg)
    live = _place(ops, tensors, last_use, graph.output, in_layer.output, cfg)
    sched = _Scheduler(cfg, tensors, layers)
    sched.emit(ops, in_layer.output, graph.output)
    return sched.link(graph, ops, stem, in_layer.output, graph.output, live)


def _weight_plan(op: HwOp, cfg: AccelConfig) -> WeightPlan | None:
    """Weights, parameters and tables of an op, chunked to fit half the weight buffer."""
    L = cfg.lanes
    half_t, half_p = cfg.wgt_tiles // 2, cfg.prm_words // 2
    tbl = _table_bytes(op.table) if op.table is not None else None
    if op.kind == "gap":
        _check_shift(op.gap.shift, f"layer {op.name}", cfg)
        return None
    conv = op.conv
    shift = np.atleast_1d(conv.shift)
    chunks = []
    if op.kind == "gemm":
        w = conv.weight.reshape(conv.weight.shape[0], -1).astype(np.int64)
        co, ci = w.shape
        cit, cot = _ct(ci, L), _ct(co, L)
        if cit > half_t:
            raise CompileError(f"layer {op.name}: {ci} input channels need {cit} weight tiles "
                               f"per output tile; half of {cfg.name}'s weight buffer holds "
                               f"{half_t} (raise wgt_tiles)")
        if op.mul is not None and cit > max(64, 2048 // L):
            raise CompileError(f"layer {op.name}: gating over {ci} channels exceeds the "
                               f"{max(64, 2048 // L) * L}-channel gate register file")
        wp = np.zeros((cot * L, cit * L), np.int64)
        wp[:co, :ci] = w
        per = max(1, min(cot, half_t // cit, half_p))
        _check_shift(shift, f"layer {op.name}", cfg)
        for c0 in range(0, cot, per):
            n = min(per, cot - c0)
            tiles = wp[c0 * L:(c0 + n) * L].reshape(n, L, cit, L).transpose(0, 2, 1, 3)
            chunks.append(Chunk(c0, n, tiles.astype(np.int8).tobytes(),
                                _prm_words(conv.bias[c0 * L:(c0 + n) * L],
                                           shift[c0 * L:(c0 + n) * L] if shift.size > 1
                                           else np.full(min(n * L, co - c0 * L), shift[0]),
                                           cfg), tbl))
        return WeightPlan(cit, cot, per, tuple(chunks))
    c = conv.weight.shape[0]
    k = conv.weight.shape[2]
    g_all = _ct(c, L)
    tpg = DwGeometry(L, k, conv.stride).tap_tiles
    per = max(1, min(g_all, half_t // tpg, half_p))
    wk = conv.weight.reshape(c, k * k).astype(np.int64)
    wp = np.zeros((g_all * L, tpg * L), np.int64)
    wp[:c, :k * k] = wk
    _check_shift(shift, f"layer {op.name}", cfg)
    for g0 in range(0, g_all, per):
        n = min(per, g_all - g0)
        # tile (group, ti): byte [t * L + lane] = w[(g * L + lane), ti * L + t]
        tiles = wp[g0 * L:(g0 + n) * L].reshape(n, L, tpg, L).transpose(0, 2, 3, 1)
        chunks.append(Chunk(g0, n, tiles.astype(np.int8).tobytes(),
                            _prm_words(conv.bias[g0 * L:(g0 + n) * L],
                                       shift[g0 * L:(g0 + n) * L], cfg), tbl))
    return WeightPlan(tpg, g_all, per, tuple(chunks))


# ------------------------------------------------------------------------------------ placement
def _place(ops: list[HwOp], tensors: dict[str, Tensor], last_use: dict[str, int],
           out_name: str, in_name: str, cfg: AccelConfig) -> list[int]:
    """UB addresses, spills and bands (accel/tiling.py); returns the UB words allocated while
    each op runs."""
    L = cfg.lanes
    spill: set[str] = set()
    while True:
        try:
            return _try_place(ops, tensors, last_use, out_name, in_name, cfg, spill)
        except NoRoom as e:
            cands = [n for n in e.live if n not in spill and n != out_name and tensors[n].hw > 1]
            if not cands:
                raise CompileError(str(e)) from None
            spill.add(max(cands, key=lambda n: (tensors[n].words(L), n)))


def _try_place(ops, tensors, last_use, out_name, in_name, cfg, spill) -> list[int]:
    L = cfg.lanes
    for key, t in tensors.items():
        t.home, t.addr = ("dram" if key in spill else "ub"), -1
    alloc = UbAllocator(cfg)

    def put(key: str, what: str) -> None:
        t = tensors[key]
        if t.home == "ub":
            try:
                t.addr = alloc.alloc(t.words(L), what, owner=key)
            except NoRoom as e:
                raise NoRoom(str(e), e.live + [key]) from None

    put(in_name, f"network input ({tensors[in_name].name})")
    live = []
    for op in ops:
        o = tensors[op.out]
        put(op.out, f"layer {op.name} output {o.channels}x{o.hw}")
        op.stream, op.staging = None, None
        streamed = [n for n in (op.x, op.skip, op.out) if n and tensors[n].home == "dram"]
        if streamed:
            room = alloc.largest_free()
            op.stream = _band_plan(op, tensors, room, cfg)
            if op.stream is None:
                kib = cfg.word_bytes / 1024
                names = ", ".join(tensors[n].name for n in streamed)
                raise NoRoom(f"layer {op.name}: the smallest band of its maps in external memory "
                             f"({names}) does not fit the {room * kib:.0f} KiB left of the "
                             f"unified buffer; {cfg.name} has {cfg.ub_kib} KiB (raise ub_kib)",
                             list(alloc.owner.values()))
            words = op.stream.slots.words
            op.staging = Staging(alloc.alloc(words, f"layer {op.name} band staging"),
                                 op.stream.slots)
            live.append(alloc.in_use)
            alloc.release(op.staging.addr, words)  # free again after this op
        else:
            live.append(alloc.in_use)
        for name in {op.x, op.skip, op.gate} - {None}:
            t = tensors[name]
            if last_use.get(name) == op.index and name != out_name and t.home == "ub":
                alloc.release(t.addr, t.words(L))
    return live


def _band_plan(op: HwOp, tensors: dict[str, Tensor], room: int,
               cfg: AccelConfig) -> BandPlan | None:
    """The bands of an op on streamed maps, or None if not even the smallest fits ``room``."""
    L = cfg.lanes
    x, o = tensors[op.x], tensors[op.out]
    if op.kind == "gap":
        return gap_bands(hw=x.hw, room=room, cfg=cfg)
    if op.kind == "gemm":
        return gemm_bands(h=o.h, w=o.w, x_dram=x.home == "dram",
                          skip_dram=op.skip is not None and tensors[op.skip].home == "dram",
                          out_dram=o.home == "dram", cx=_ct(x.channels, L),
                          co=_ct(o.channels, L), room=room, cfg=cfg)
    conv = op.conv
    return dw_bands(h=x.h, w=x.w, ho=o.h, wo=o.w, k=conv.weight.shape[2], s=conv.stride,
                    pad=conv.pads[0], x_dram=x.home == "dram", out_dram=o.home == "dram",
                    groups=op.weights.per_chunk, room=room, cfg=cfg)


# ------------------------------------------------------------------------------------ schedule
@dataclass
class _Item:
    """An instruction with what it touches: (space, lo, hi) ranges it reads and writes.

    Spaces: ``ub`` (words), ``wgt``/``prm``/``tbl`` (beats of those buffers), and
    ``("dram", region)`` (beats of one external region: a constant blob, a map, the output).
    """

    ins: Instr
    unit: str | None  # "ld" (LOAD/STORE), "cm" (GEMM/DW/GAP), None (END)
    rd: list = field(default_factory=list)
    wr: list = field(default_factory=list)
    op: int | None = None
    region: object = None  # the external region of a LOAD/STORE; its base is fixed by link()
    offset: int = 0  # beats into that region
    out_map: list[Segment] | None = None
    gate_map: list[Segment] | None = None


def _overlap(a: list, b: list) -> bool:
    return any(sa == sb and lo < hi2 and lo2 < hi for sa, lo, hi in a for sb, lo2, hi2 in b)


def _conflict(a: _Item, b: _Item) -> bool:
    return _overlap(a.wr, b.rd) or _overlap(a.wr, b.wr) or _overlap(a.rd, b.wr)


class _Scheduler:
    """Emits the program in its sequential order, then derives the semaphore flags.

    The program means what it would mean run one instruction at a time. The load and compute
    units run it decoupled, so an instruction must wait for the last instruction of the other
    unit it conflicts with (reads what that one writes, or writes what it reads or writes);
    :meth:`synchronise` finds that instruction and pairs a ``signal`` on it with a ``wait``.
    """

    def __init__(self, cfg: AccelConfig, tensors: dict[str, Tensor], layers: dict):
        self.cfg = cfg
        self.tensors = tensors
        self.layers = layers
        self.items: list[_Item] = []
        self.blobs: dict[tuple, bytes] = {}
        self.last_slot = 1  # weight half the latest compute used; loads go to the other
        self.resident: dict[int, tuple[int, int]] = {}  # weight half -> (op, chunk)

    # ---- helpers
    def _dma(self, op: str, *, layer: int, dst: int, buf: int, rows: int, row_beats: int,
             stride: int, region, offset: int) -> _Item:
        cfg = self.cfg
        R = cfg.words_per_beat
        n = rows * row_beats
        ext = [(("dram", region), offset, offset + (rows - 1) * stride + row_beats)]
        if dst == isa.BUF_UB:
            local = [("ub", buf * R, (buf + n) * R)]
        else:
            local = [({isa.BUF_WGT: "wgt", isa.BUF_PRM: "prm", isa.BUF_TBL: "tbl"}[dst], buf,
                      buf + n)]
        it = _Item(Instr(op, dict(layer=layer, dst=dst, buf=buf, rows=rows, row_beats=row_beats,
                                  stride=stride)), "ld", op=layer, region=region, offset=offset)
        if op == "LOAD":
            it.rd, it.wr = ext, local
        else:
            it.rd, it.wr = local, ext
        self.items.append(it)
        return it

    def _blob(self, op: HwOp, dst: int, buf: int, blob: bytes) -> None:
        key = ("c", len(self.blobs))
        self.blobs[key] = blob
        self._dma("LOAD", layer=op.index, dst=dst, buf=buf, rows=1,
                  row_beats=len(blob) // self.cfg.bus_bytes, stride=0, region=key, offset=0)

    def _weights(self, op: HwOp, ci: int, ch: Chunk) -> int:
        """Loads chunk ``ci`` of ``op`` unless a weight half still holds it; its half."""
        cfg = self.cfg
        key = (op.index, ci)
        slot = next((s for s, k in self.resident.items() if k == key), None)
        if slot is None:
            slot = 1 - self.last_slot
            half_t, half_p = cfg.wgt_tiles // 2, cfg.prm_words // 2
            self._blob(op, isa.BUF_WGT, slot * half_t * cfg.beats_per_tile, ch.wgt)
            self._blob(op, isa.BUF_PRM, slot * half_p * cfg.beats_per_prm, ch.prm)
            if ch.tbl is not None:
                self._blob(op, isa.BUF_TBL, slot * cfg.beats_per_table, ch.tbl)
            self.resident[slot] = key
        self.last_slot = slot
        return slot

    def _band_load(self, op: HwOp, key: str, p0: int, p1: int, slot: int, tile0: int = 0,
                   tiles: int | None = None) -> tuple[int, int]:
        """Loads pixels [p0, p1) of channel tiles [tile0, tile0 + tiles) (default: all) of
        DRAM map ``key`` into UB ``slot`` from the beat below p0; returns (UB word of pixel p0
        of the first tile, channel stride)."""
        R = self.cfg.words_per_beat
        t = self.tensors[key]
        a0 = p0 // R * R
        plane = ceil_to(p1, R) - a0
        pb = t.plane_beats(R)
        self._dma("LOAD", layer=op.index, dst=isa.BUF_UB, buf=slot // R,
                  rows=tiles or _ct(t.channels, self.cfg.lanes), row_beats=plane // R,
                  stride=pb, region=("t", key), offset=tile0 * pb + a0 // R)
        return slot + p0 - a0, plane

    def _compute(self, op: HwOp, name: str, f: dict, rd: list, wr: list,
                 out_map: list[Segment], gate_map: list[Segment] | None = None) -> None:
        cfg = self.cfg
        tb = cfg.beats_per_table
        if f.get("tbl"):
            rd = rd + [("tbl", f["tslot"] * tb, (f["tslot"] + 1) * tb)]
        self.items.append(_Item(Instr(name, dict(layer=op.index, **f)), "cm", rd, wr,
                                op=op.index, out_map=out_map, gate_map=gate_map))

    # ---- emission
    def emit(self, ops: list[HwOp], in_name: str, out_name: str) -> None:
        cfg = self.cfg
        R = cfg.words_per_beat
        L = cfg.lanes
        inp = self.tensors[in_name]
        if inp.home == "ub":
            self._dma("LOAD", layer=0, dst=isa.BUF_UB, buf=inp.addr // R, rows=1,
                      row_beats=-(-inp.words(L) // R), stride=0, region=("t", in_name),
                      offset=0)
            self.items[-1].op = None  # the host's input, not an op's traffic
        for op in ops:
            if op.kind == "gap":
                self._gap(op)
            elif op.kind == "gemm":
                self._gemm(op)
            else:
                self._dw(op)
        o = self.tensors[out_name]
        self._dma("STORE", layer=0, dst=isa.BUF_UB, buf=o.addr // R, rows=1,
                  row_beats=-(-o.words(L) // R), stride=0, region=("out",), offset=0)
        self.items[-1].op = None
        self.items.append(_Item(Instr("END", {}), None))

    def _gap(self, op: HwOp) -> None:
        cfg = self.cfg
        L = cfg.lanes
        x, o = self.tensors[op.x], self.tensors[op.out]
        g = op.gap
        groups = _ct(g.shape[0], L)
        if x.home == "ub":
            hw = g.extra["in_hw"]
            f = dict(x=x.addr, xcs=x.hw, hw_log2=hw.bit_length() - 1, g=groups, out=o.addr,
                     shift=int(g.shift), xu=int(self.layers[op.x].unsigned), ou=int(g.unsigned))
            self._compute(op, "GAP", f, [("ub", x.addr, x.addr + (groups - 1) * x.hw + hw)],
                          [("ub", o.addr, o.addr + groups)], [Segment(o.addr, groups, 0)])
            return
        R = cfg.words_per_beat
        k = 0
        for gi in range(groups):
            for j, b in enumerate(op.stream.bands):
                slot = op.staging.slot("x", k)
                k += 1
                self._dma("LOAD", layer=op.index, dst=isa.BUF_UB, buf=slot // R, rows=1,
                          row_beats=b.npix // R, stride=0, region=("t", op.x),
                          offset=gi * x.plane_beats(R) + b.p0 // R)
                last = j == len(op.stream.bands) - 1
                f = dict(x=slot, xcs=0, hw_log2=b.npix.bit_length() - 1, g=1, out=o.addr + gi,
                         shift=int(g.shift), acc=int(j > 0), part=int(not last),
                         xu=int(self.layers[op.x].unsigned), ou=int(g.unsigned))
                self._compute(op, "GAP", f, [("ub", slot, slot + b.npix)],
                              [("ub", o.addr + gi, o.addr + gi + 1)] if last else [],
                              [Segment(o.addr + gi, 1, gi)] if last else [])

    def _gemm(self, op: HwOp) -> None:
        cfg = self.cfg
        R, L = cfg.words_per_beat, cfg.lanes
        bpt, bpp = cfg.beats_per_tile, cfg.beats_per_prm
        half_t, half_p = cfg.wgt_tiles // 2, cfg.prm_words // 2
        x, o = self.tensors[op.x], self.tensors[op.out]
        s = self.tensors[op.skip] if op.skip else None
        conv = op.conv
        bands = op.stream.bands if op.stream else [Band(0, o.h, 0, o.hw, 0, o.h)]
        cot_all = _ct(o.channels, L)
        for bi, b in enumerate(bands):
            npix = b.npix
            if x.home == "dram":
                xa, xcs = self._band_load(op, op.x, b.p0, b.p1, op.staging.slot("x", bi))
            else:
                xa, xcs = x.addr + b.p0, x.hw
            if s is not None and s.home == "dram":
                sa, scs = self._band_load(op, op.skip, b.p0, b.p1, op.staging.slot("skip", bi))
            elif s is not None:
                sa, scs = s.addr + b.p0, s.hw
            if o.home == "dram":
                oa, ocs = op.staging.slot("out", bi), ceil_to(npix, R)
            else:
                oa, ocs = o.addr + b.p0, o.hw
            for ci, ch in enumerate(op.weights.chunks):
                slot = self._weights(op, ci, ch)
                cit, n, co0 = op.weights.in_tiles, ch.n, ch.t0
                f = dict(wgt=slot * half_t, prm=slot * half_p, tbl=int(op.table is not None),
                         tslot=slot, x=xa, xcs=xcs, npix=npix, cit=cit, cot=n,
                         out=oa + co0 * ocs, ocs=ocs, qu=int(conv.unsigned),
                         xu=int(self.layers[op.x].unsigned and op.mul is None))
                rd = [("ub", xa, xa + (cit - 1) * xcs + npix),
                      ("wgt", slot * half_t * bpt, (slot * half_t + n * cit) * bpt),
                      ("prm", slot * half_p * bpp, (slot * half_p + n) * bpp)]
                gate_map = None
                if op.mul is not None:
                    gsh = int(op.mul.shift)
                    _check_shift(gsh, f"layer {op.mul.name}", cfg)
                    ga = self.tensors[op.gate].addr
                    f.update(gate=1, gaddr=ga, gshift=gsh)
                    rd.append(("ub", ga, ga + cit))
                    gate_map = [Segment(xa + c * xcs, npix, c * x.hw + b.p0) for c in range(cit)]
                if op.add is not None:
                    a = op.add
                    fa = (op.act or conv).f_out
                    fb = self.layers[op.skip].f_out
                    fm = max(fa, fb)
                    sh_a, sh_b = fm - fa, fm - fb
                    if sh_a > 14 or sh_b > 14:
                        raise CompileError(f"layer {a.name}: exponent alignment shift "
                                           f"{max(sh_a, sh_b)} exceeds 14")
                    _check_shift(fm - a.f_out, f"layer {a.name}", cfg)
                    f.update(add=1, skip=sa + co0 * scs, scs=scs, sa=sh_a, sb=sh_b,
                             ashift=fm - a.f_out)
                    rd.append(("ub", sa + co0 * scs, sa + (co0 + n - 1) * scs + npix))
                out0 = oa + co0 * ocs
                self._compute(op, "GEMM", f, rd, [("ub", out0, out0 + (n - 1) * ocs + npix)],
                              [Segment(out0 + c * ocs, npix, (co0 + c) * o.hw + b.p0)
                               for c in range(n)], gate_map)
            if o.home == "dram":
                self._dma("STORE", layer=op.index, dst=isa.BUF_UB, buf=oa // R, rows=cot_all,
                          row_beats=ocs // R, stride=o.plane_beats(R), region=("t", op.out),
                          offset=b.p0 // R)

    def _dw(self, op: HwOp) -> None:
        """Weight chunk by chunk; inside a chunk, ``stream.groups`` channel groups at a time,
        band by band (a depthwise conv has no reduction over channels, so a band needs only
        its own groups' input rows)."""
        cfg = self.cfg
        R = cfg.words_per_beat
        bpt, bpp = cfg.beats_per_tile, cfg.beats_per_prm
        half_t, half_p = cfg.wgt_tiles // 2, cfg.prm_words // 2
        x, o = self.tensors[op.x], self.tensors[op.out]
        conv = op.conv
        k, st, pad = conv.weight.shape[2], conv.stride, conv.pads[0]
        h, w, ho, wo = x.h, x.w, o.h, o.w
        bands = op.stream.bands if op.stream else [Band(0, ho, 0, o.hw, 0, h, pad)]
        step = 0  # staging slot alternation
        for ci, ch in enumerate(op.weights.chunks):
            slot = self._weights(op, ci, ch)
            g0c, nc, tpg = ch.t0, ch.n, op.weights.in_tiles
            gs = (op.stream.groups if op.stream else 0) or nc
            for gsub in range(0, nc, gs):
                g0, n = g0c + gsub, min(gs, nc - gsub)
                for b in bands:
                    rows_out = b.r1 - b.r0
                    npix = rows_out * wo
                    if x.home == "dram":
                        x0, xcs = self._band_load(op, op.x, b.i0 * w, b.i1 * w,
                                                  op.staging.slot("x", step), g0, n)
                    else:
                        x0, xcs = x.addr + g0 * x.hw + b.i0 * w, x.hw
                    if o.home == "dram":
                        out0, ocs = op.staging.slot("out", step), ceil_to(npix, R)
                    else:
                        out0, ocs = o.addr + g0 * o.hw + b.p0, o.hw
                    step += 1
                    whole = b.r0 == 0 and b.r1 == ho and b.i0 == 0 and b.i1 == h
                    flat = whole and is_flat(h=h, w=w, ho=ho, wo=wo, s=st)
                    wgt, prm = slot * half_t + gsub * tpg, slot * half_p + gsub
                    f = dict(wgt=wgt, prm=prm, tbl=int(op.table is not None), tslot=slot, x=x0,
                             xcs=xcs, h=b.i1 - b.i0, w=w, ho=rows_out, wo=wo, k=k, s=st, pad=pad,
                             padt=b.padt, g=n, flat=int(flat),
                             wo_log2=max(0, wo.bit_length() - 1), out=out0, ocs=ocs,
                             xu=int(self.layers[op.x].unsigned), qu=int(conv.unsigned))
                    rd = [("ub", x0, x0 + (n - 1) * xcs + (b.i1 - b.i0) * w),
                          ("wgt", wgt * bpt, (wgt + n * tpg) * bpt),
                          ("prm", prm * bpp, (prm + n) * bpp)]
                    self._compute(op, "DW", f, rd, [("ub", out0, out0 + (n - 1) * ocs + npix)],
                                  [Segment(out0 + c * ocs, npix, (g0 + c) * o.hw + b.p0)
                                   for c in range(n)])
                    if o.home == "dram":
                        pb = o.plane_beats(R)
                        self._dma("STORE", layer=op.index, dst=isa.BUF_UB, buf=out0 // R,
                                  rows=n, row_beats=ocs // R, stride=pb, region=("t", op.out),
                                  offset=g0 * pb + b.p0 // R)

    # ---- ordering and synchronisation
    def sink_stores(self) -> None:
        """Moves each band STORE after the LOADs that follow it (the next band's data) when
        they do not conflict, so the load unit fetches the next band while this one computes
        instead of waiting to store first."""
        its = self.items
        i = 0
        while i < len(its):
            if its[i].ins.op == "STORE" and its[i].op is not None:
                j = i
                while (j + 1 < len(its) and its[j + 1].ins.op == "LOAD"
                       and not _conflict(its[j], its[j + 1])):
                    its[j], its[j + 1] = its[j + 1], its[j]
                    j += 1
                i = j + 1
            else:
                i += 1

    def synchronise(self) -> None:
        """``wait``/``signal`` flags: each instruction waits for the last instruction of the
        other unit it conflicts with, unless an earlier wait of its unit already covers it.
        Every signal is paired with exactly one wait, so no token is left over."""
        its = self.items
        seen: dict[str, list[int]] = {"ld": [], "cm": []}
        covered = {"ld": -1, "cm": -1}  # the other unit's instructions known to be done
        for i, it in enumerate(its):
            if it.unit is None:
                continue
            other = "cm" if it.unit == "ld" else "ld"
            need = -1
            for j in reversed(seen[other]):
                if j <= covered[it.unit]:
                    break
                if _conflict(its[j], it):
                    need = j
                    break
            if need > covered[it.unit]:
                it.ins.fields["wait"] = 1
                its[need].ins.fields["signal"] = 1
                covered[it.unit] = need
            seen[it.unit].append(i)

    # ---- layout
    def link(self, graph: Graph, ops: list[HwOp], stem: Im2col | None, in_name: str,
             out_name: str, live: list[int]) -> Program:
        cfg = self.cfg
        R, L = cfg.words_per_beat, cfg.lanes
        self.sink_stores()
        self.synchronise()
        its = self.items
        img = _Image(cfg.bus_bytes)
        img.reserve(len(its) * cfg.instr_bytes)  # the program, from beat 0
        base: dict = {}
        for key, blob in self.blobs.items():
            base[key] = img.put(blob)
        inp = self.tensors[in_name]
        in_beats = (-(-inp.words(L) // R) if inp.home == "ub"
                    else _ct(inp.channels, L) * inp.plane_beats(R))
        base[("t", in_name)] = img.reserve(in_beats * cfg.bus_bytes)
        for key, t in self.tensors.items():
            if t.home == "dram" and key != in_name:
                base[("t", key)] = img.reserve(_ct(t.channels, L) * t.plane_beats(R)
                                               * cfg.bus_bytes)
        o = self.tensors[out_name]
        out_words = o.words(L)
        base[("out",)] = img.reserve(-(-out_words // R) * cfg.bus_bytes)
        by_index = {op.index: op for op in ops}
        out_map, gate_map = {}, {}
        input_load = None
        for i, it in enumerate(its):
            if it.region is not None:
                it.ins.fields["dram"] = base[it.region] + it.offset
                if it.op is not None:
                    by_index[it.op].loads.append(i)
                elif it.ins.op == "LOAD":
                    input_load = i
            elif it.unit == "cm":
                by_index[it.op].instrs.append(i)
                out_map[i] = it.out_map
                if it.gate_map is not None:
                    gate_map[i] = it.gate_map
        instrs = [it.ins for it in its]
        words = b"".join(isa.encode(ins).to_bytes(cfg.instr_bytes, "little") for ins in instrs)
        img.data[:len(words)] = words
        return Program(cfg=cfg, graph=graph, ops=ops, tensors=self.tensors, instrs=instrs,
                       image=img.data, input_beat=base[("t", in_name)], input_beats=in_beats,
                       output_beat=base[("out",)], output_words=out_words, stem_im2col=stem,
                       ub_peak_words=max(live, default=0), ub_live_words=tuple(live),
                       out_map=out_map, gate_map=gate_map, input_load=input_load)


class _Image:
    """External memory image, allocated in whole beats."""

    def __init__(self, bus_bytes: int):
        self.bb = bus_bytes
        self.data = bytearray()

    def put(self, blob: bytes) -> int:
        beat = len(self.data) // self.bb
        pad = (-len(blob)) % self.bb
        self.data += bytes(blob) + bytes(pad)
        return beat

    def reserve(self, nbytes: int) -> int:
        return self.put(bytes(nbytes))


# ------------------------------------------------------------------------------------ layouts
def to_words(x: np.ndarray, lanes: int) -> np.ndarray:
    """(C, H, W) or (C,) int8 codes -> channel-tile planar words (CT * H * W, lanes) int8."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None, None]
    c = x.shape[0]
    hw = int(np.prod(x.shape[1:]))
    ct = _ct(c, lanes)
    pad = np.zeros((ct * lanes, hw), np.int64)
    pad[:c] = x.reshape(c, hw)
    return pad.reshape(ct, lanes, hw).transpose(0, 2, 1).reshape(ct * hw, lanes)


def from_words(words: np.ndarray, channels: int, shape: tuple[int, ...], lanes: int) -> np.ndarray:
    """Inverse of :func:`to_words` (drops channel padding)."""
    hw = int(np.prod(shape[1:])) if len(shape) == 3 else 1
    ct = _ct(channels, lanes)
    arr = np.asarray(words).reshape(ct, hw, lanes).transpose(0, 2, 1).reshape(ct * lanes, hw)
    return arr[:channels].reshape(shape)


def pack_input(prog: Program, x_codes: np.ndarray) -> bytes:
    """The host's input in the accelerator layout (im2col for a stem), as external-memory bytes.

    ``x_codes``: the quantized network input (C, H, W), int8 codes (the IR's ``input`` tensor).
    """
    L = prog.cfg.lanes
    x = np.asarray(x_codes, np.int64)
    if prog.stem_im2col:
        s = prog.stem_im2col
        k, st = s.k, s.stride
        t, left, b, r = s.pads
        xp = np.pad(x, ((0, 0), (t, b), (left, r)))
        c, hp, wp = xp.shape
        ho, wo = (hp - k) // st + 1, (wp - k) // st + 1
        cols = np.zeros((c, k, k, ho, wo), np.int64)
        for ky in range(k):
            for kx in range(k):
                cols[:, ky, kx] = xp[:, ky:ky + st * (ho - 1) + 1:st, kx:kx + st * (wo - 1) + 1:st]
        x = cols.reshape(c * k * k, ho, wo)  # channel order (c, ky, kx) = weight.reshape order
    words = to_words(x, L).astype(np.int8)
    key = next((ly.output for ly in prog.graph.layers if ly.op == "input"), None) \
        if prog.graph is not None else None  # (hand-written programs have no graph)
    t = prog.tensors.get(key)
    R = prog.cfg.words_per_beat
    if t is not None and t.home == "dram":  # streamed in bands: channel tiles in whole beats
        planes = words.reshape(-1, t.hw, L)
        pad = t.plane_beats(R) * R - t.hw
        words = np.concatenate([planes, np.zeros((len(planes), pad, L), np.int8)], 1)
    blob = words.tobytes()
    need = prog.input_beats * prog.cfg.bus_bytes
    return blob + bytes(need - len(blob))
