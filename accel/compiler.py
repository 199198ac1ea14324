"""Compiler: the IR of an exported QCDQ ONNX -> the accelerator's program and memory image.

Passes (each result is kept on the :class:`Program` so that reports and tests can look at it):

1. **fuse** the IR layers into hardware operations (:class:`HwOp`): a conv with the activation
   that follows it, a squeeze-excitation gating multiply into the input path of the conv that
   consumes it, a residual add into the output of the conv that feeds it; depthwise conv + act;
   global average pooling. Whatever is left over is an error naming the layer.
2. **allocate** every feature map in the unified buffer (first fit, freed after its last use); a
   network whose live feature maps do not fit is an error naming the layer and the sizes.
3. **tile** weights into chunks that fit half of the weight buffer (ping-pong), lay weights,
   parameters and tables out in external memory, one DMA burst per buffer per chunk.
4. **schedule**: emit LOAD / GEMM / DW / GAP / STORE with the semaphore flags of
   :mod:`hfaccel.accel.isa`; :func:`hfaccel.accel.perf.simulate` replays the schedule (and
   proves it free of deadlock) to predict cycles.

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
from hfaccel.accel.isa import Instr
from hfaccel.errors import HfaccelError
from hfaccel.sim.ir import Graph, Layer

__all__ = ["CompileError", "HwOp", "Program", "Tensor", "compile_graph", "pack_input"]


class CompileError(HfaccelError):
    """The network cannot be mapped onto this hardware config; the message names the layer."""


@dataclass
class Tensor:
    """A feature map in the unified buffer: ``ct`` channel tiles of ``hw`` pixels."""

    name: str  # IR layer name that defines it
    channels: int
    hw: int
    addr: int = -1  # word address in the UB

    def words(self, lanes: int) -> int:
        return math.ceil(self.channels / lanes) * self.hw


@dataclass
class HwOp:
    """One hardware operation: a GEMM, a depthwise conv or a global average pool."""

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
    # IR layers covered and which trace stage shows each: q (conv), a (act), r (final), g (gated)
    stages: dict[str, str] = field(default_factory=dict)
    instrs: list[int] = field(default_factory=list)  # indices of its compute instructions
    loads: list[int] = field(default_factory=list)
    macs: int = 0
    weight_bytes: int = 0  # bytes moved for weights, params and tables
    plan: dict = field(default_factory=dict)  # tiling facts for reports


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
    stem_im2col: dict | None
    ub_peak_words: int

    @property
    def prog_beat(self) -> int:
        return 0

    def words(self) -> list[int]:
        return [isa.encode(i) for i in self.instrs]


def _ct(c: int, lanes: int) -> int:
    return math.ceil(c / lanes)


def _hw(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape[1:])) if len(shape) == 3 else 1


# ------------------------------------------------------------------------------------ fusion
def fuse(graph: Graph, cfg: AccelConfig) -> tuple[list[HwOp], dict | None]:
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
                                       f"by {cfg.name} (kernels {cfg.dw_kernels})")
                if ly.stride not in cfg.dw_strides:
                    raise CompileError(f"layer {ly.name}: depthwise stride {ly.stride} not "
                                       f"supported (strides {cfg.dw_strides})")
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
                    op.mul = src
                    op.x, op.gate = src.inputs[0], src.inputs[1]
                    if layers[op.gate].shape[1:] not in ((), (1, 1)):
                        raise CompileError(f"layer {src.name}: gating needs a per-channel gate "
                                           f"(C,1,1), got {layers[op.gate].shape}")
                    op.stages[src.name] = "g"
            elif kind == "conv" and src.op == "input" and ly.groups == 1 and stem is None:
                op.kind = "gemm"
                stem = {"layer": ly.name, "k": ly.weight.shape[2], "stride": ly.stride,
                        "pads": ly.pads, "channels": ly.weight.shape[1]}
            else:
                raise CompileError(f"layer {ly.name}: {kind} conv {ly.weight.shape} is not "
                                   "supported (pointwise, FC, depthwise, and a dense stem conv "
                                   "on the network input are)")
            cur = ly
            nxt = only_consumer(cur.output)
            if nxt is not None and nxt.op == "act":
                op.act = nxt
                op.stages[nxt.name] = "a"
                cur = nxt
                nxt = only_consumer(cur.output)
            if (op.kind == "gemm" and nxt is not None and nxt.op == "add"
                    and nxt.inputs[0] == cur.output and nxt.inputs[1] in done):
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


# ------------------------------------------------------------------------------------ memory
class _UbAllocator:
    def __init__(self, cfg: AccelConfig):
        self.cfg = cfg
        self.free = [(0, cfg.ub_words)]
        self.in_use = 0
        self.peak = 0  # most words live at once

    def alloc(self, words: int, what: str) -> int:
        align = self.cfg.ub_banks
        words = -(-words // align) * align
        # small tensors (SE vectors, pooled features) from the top, big maps from the bottom,
        # so that the small ones do not fragment the space the big ones need
        small = words * 64 <= self.cfg.ub_words
        order = reversed(list(enumerate(self.free))) if small else enumerate(self.free)
        for i, (a, n) in order:
            if n >= words:
                if small:
                    self.free[i] = (a, n - words)
                    a = a + n - words
                else:
                    self.free[i] = (a + words, n - words)
                self.in_use += words
                self.peak = max(self.peak, self.in_use)
                return a
        used = self.cfg.ub_words - sum(n for _, n in self.free)
        raise CompileError(f"{what}: needs {words * self.cfg.word_bytes / 1024:.0f} KiB of the "
                           f"unified buffer with {used * self.cfg.word_bytes / 1024:.0f} KiB in "
                           f"use; {self.cfg.name} has {self.cfg.ub_kib} KiB (raise ub_kib)")

    def release(self, addr: int, words: int) -> None:
        align = self.cfg.ub_banks
        words = -(-words // align) * align
        self.in_use -= words
        self.free.append((addr, words))
        self.free.sort()
        merged = []
        for a, n in self.free:
            if merged and merged[-1][0] + merged[-1][1] == a:
                merged[-1] = (merged[-1][0], merged[-1][1] + n)
            else:
                merged.append((a, n))
        self.free = merged


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


def _prm_words(bias: np.ndarray, shift: np.ndarray, cfg: AccelConfig) -> bytes:
    """Parameter words: per lane int32 bias, int8 shift, 3 zero bytes (channels padded)."""
    L = cfg.lanes
    n = _ct(len(bias), L) * L
    rec = np.zeros((n, 8), np.uint8)
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
    return np.asarray(table, np.int64).astype(np.int8).tobytes()


# ------------------------------------------------------------------------------------ compile
def compile_graph(graph: Graph, cfg: AccelConfig) -> Program:
    """The program, memory image and debug map of ``graph`` on ``cfg``."""
    L = cfg.lanes
    ops, stem = fuse(graph, cfg)
    layers = {ly.output: ly for ly in graph.layers}
    by_name = {ly.name: ly for ly in graph.layers}

    # ---- tensors and their lifetimes
    tensors: dict[str, Tensor] = {}
    in_layer = next(ly for ly in graph.layers if ly.op == "input")
    c_in, h_in, w_in = graph.input_shape
    if stem:
        conv = by_name[stem["layer"]]
        in_t = Tensor(in_layer.name, c_in * stem["k"] ** 2, _hw(conv.shape))
    else:
        in_t = Tensor(in_layer.name, c_in, h_in * w_in)
    tensors[in_layer.output] = in_t
    for op in ops:
        ly = layers[op.out]
        tensors[op.out] = Tensor(ly.name, ly.shape[0], _hw(ly.shape))
    last_use: dict[str, int] = {}
    for op in ops:
        for t in (op.x, op.skip, op.gate):
            if t is not None:
                if t not in tensors:
                    raise CompileError(f"layer {op.name}: its input {layers[t].name} is not "
                                       "produced by any hardware operation")
                last_use[t] = op.index
    alloc = _UbAllocator(cfg)
    in_t.addr = alloc.alloc(in_t.words(L), f"network input ({in_layer.name})")
    for op in ops:
        t = tensors[op.out]
        t.addr = alloc.alloc(t.words(L), f"layer {op.name} output {t.channels}x{t.hw}")
        for name in {op.x, op.skip, op.gate} - {None}:
            if last_use.get(name) == op.index and name != graph.output:
                alloc.release(tensors[name].addr, tensors[name].words(L))

    # ---- constants in external memory, chunked for ping-pong halves
    img = _Image(cfg.bus_bytes)
    consts: list[tuple[HwOp, list[dict]]] = []
    half_t, half_p = cfg.wgt_tiles // 2, cfg.prm_words // 2
    for op in ops:
        chunks = []
        if op.kind == "gemm":
            conv = op.conv
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
            shift = np.atleast_1d(conv.shift)
            _check_shift(shift, f"layer {op.name}", cfg)
            for c0 in range(0, cot, per):
                n = min(per, cot - c0)
                tiles = wp[c0 * L:(c0 + n) * L].reshape(n, L, cit, L).transpose(0, 2, 1, 3)
                chunks.append({"co0": c0, "n": n, "cit": cit,
                               "wgt": tiles.astype(np.int8).tobytes(),
                               "prm": _prm_words(conv.bias[c0 * L:(c0 + n) * L],
                                                 shift[c0 * L:(c0 + n) * L] if shift.size > 1
                                                 else np.full(min(n * L, co - c0 * L), shift[0]),
                                                 cfg)})
            op.plan = {"cit": cit, "cot": cot, "co_tiles_per_chunk": per, "chunks": len(chunks),
                       "npix": tensors[op.out].hw}
        elif op.kind == "dw":
            conv = op.conv
            c = conv.weight.shape[0]
            k = conv.weight.shape[2]
            g_all = _ct(c, L)
            tpg = _ct(k * k, L)
            per = max(1, min(g_all, half_t // tpg, half_p))
            wk = conv.weight.reshape(c, k * k).astype(np.int64)
            wp = np.zeros((g_all * L, tpg * L), np.int64)
            wp[:c, :k * k] = wk
            shift = np.atleast_1d(conv.shift)
            _check_shift(shift, f"layer {op.name}", cfg)
            for g0 in range(0, g_all, per):
                n = min(per, g_all - g0)
                # tile (group, ti): byte [t * L + lane] = w[(g * L + lane), ti * L + t]
                tiles = wp[g0 * L:(g0 + n) * L].reshape(n, L, tpg, L).transpose(0, 2, 3, 1)
                chunks.append({"g0": g0, "n": n, "tpg": tpg,
                               "wgt": tiles.astype(np.int8).tobytes(),
                               "prm": _prm_words(conv.bias[g0 * L:(g0 + n) * L],
                                                 shift[g0 * L:(g0 + n) * L], cfg)})
            op.plan = {"groups": g_all, "groups_per_chunk": per, "chunks": len(chunks),
                       "k": k, "stride": conv.stride}
        elif op.kind == "gap":
            _check_shift(op.gap.shift, f"layer {op.name}", cfg)
        if op.act is not None:
            for ch in chunks:
                ch["tbl"] = _table_bytes(op.act.table)
        consts.append((op, chunks))

    # ---- schedule: program words first, then constants; addresses fixed in a second pass
    instrs: list[Instr] = []

    def emit(op: str, **f) -> int:
        instrs.append(Instr(op, f))
        return len(instrs) - 1

    chunk_no = 0
    last_compute = None  # (instruction index, is a GAP)
    load_groups = []  # (first instr index, [(instr index, blob kind, blob)])
    # network input (no signal: the first compute waits on the first weight chunk's token,
    # and the DMA runs in order, so that token implies the input has arrived; a GAP before
    # the first chunk takes a token of the input's own, below)
    R = cfg.words_per_beat
    in_beats = -(-in_t.words(L) // R)
    i_in = emit("LOAD", dst=isa.BUF_UB, dram=0, buf=in_t.addr // R, rows=1, row_beats=in_beats,
                stride=0)
    for op, chunks in consts:
        lid = op.index
        if op.kind == "gap":
            x = tensors[op.x]
            g = op.gap
            hw = g.extra["in_hw"]
            # A GAP takes no weights, so before the first chunk nothing orders it after the
            # input LOAD: it takes the input's token instead.
            first = chunk_no == 0 and last_compute is None
            if first:
                instrs[i_in].fields["signal"] = 1
            i = emit("GAP", layer=lid, wait=int(first), x=x.addr, xcs=x.hw,
                     hw_log2=hw.bit_length() - 1, g=_ct(g.shape[0], L),
                     out=tensors[op.out].addr, shift=int(g.shift))
            op.instrs.append(i)
            last_compute = (i, True)
            continue
        for ch in chunks:
            slot = chunk_no % 2
            wait = chunk_no >= 2
            loads = []
            loads.append(emit("LOAD", layer=lid, wait=int(wait), dst=isa.BUF_WGT,
                              buf=slot * half_t * cfg.beats_per_tile, rows=1,
                              row_beats=len(ch["wgt"]) // cfg.bus_bytes, stride=0))
            blobs = [("wgt", ch["wgt"])]
            loads.append(emit("LOAD", layer=lid, dst=isa.BUF_PRM,
                              buf=slot * half_p * cfg.beats_per_prm, rows=1,
                              row_beats=len(ch["prm"]) // cfg.bus_bytes, stride=0))
            blobs.append(("prm", ch["prm"]))
            if "tbl" in ch:
                loads.append(emit("LOAD", layer=lid, dst=isa.BUF_TBL,
                                  buf=slot * cfg.beats_per_table, rows=1,
                                  row_beats=cfg.beats_per_table, stride=0))
                blobs.append(("tbl", ch["tbl"]))
            instrs[loads[-1]].fields["signal"] = 1
            load_groups.append(list(zip(loads, blobs)))
            op.loads += loads
            x = tensors[op.x]
            o = tensors[op.out]
            common = dict(layer=lid, wait=1, signal=1, wgt=slot * half_t, prm=slot * half_p,
                          tbl=int(op.act is not None), tslot=slot)
            if op.kind == "gemm":
                conv = op.conv
                f = dict(common, x=x.addr, xcs=x.hw, npix=o.hw, cit=ch["cit"], cot=ch["n"],
                         out=o.addr + ch["co0"] * o.hw, ocs=o.hw)
                if op.mul is not None:
                    gsh = int(op.mul.shift)
                    _check_shift(gsh, f"layer {op.mul.name}", cfg)
                    f.update(gate=1, gaddr=tensors[op.gate].addr, gshift=gsh)
                if op.add is not None:
                    a = op.add
                    fa = (op.act or conv).f_out
                    fb = layers[op.skip].f_out
                    fm = max(fa, fb)
                    sa, sb = fm - fa, fm - fb
                    if sa > 14 or sb > 14:
                        raise CompileError(f"layer {a.name}: exponent alignment shift "
                                           f"{max(sa, sb)} exceeds 14")
                    _check_shift(fm - a.f_out, f"layer {a.name}", cfg)
                    s = tensors[op.skip]
                    f.update(add=1, skip=s.addr + ch["co0"] * s.hw, sa=sa, sb=sb,
                             ashift=fm - a.f_out)
                i = emit("GEMM", **f)
            else:
                conv = op.conv
                xl = layers[op.x]
                _, h, w = xl.shape
                _, ho, wo = conv.shape
                flat = (conv.stride == 1 and ho == h and wo == w and wo & (wo - 1) == 0)
                i = emit("DW", **common, x=x.addr + ch["g0"] * x.hw, xcs=x.hw, h=h, w=w, ho=ho,
                         wo=wo, k=conv.weight.shape[2], s=conv.stride, pad=conv.pads[0],
                         g=ch["n"], flat=int(flat), wo_log2=max(0, wo.bit_length() - 1),
                         out=o.addr + ch["g0"] * o.hw, ocs=o.hw)
            op.instrs.append(i)
            last_compute = (i, False)
            chunk_no += 1
    # logits out: drain the tokens of the last two chunks so the store follows the last compute
    # (a trailing GAP, which frees no weight half, gives one more token for the same reason)
    out_t = tensors[graph.output]
    out_words = out_t.words(L)
    pending = min(chunk_no, 2)
    if last_compute is not None and last_compute[1]:
        instrs[last_compute[0]].fields["signal"] = 1
        pending += 1
    i_drain = []
    for _ in range(pending - 1):
        i_drain.append(emit("LOAD", wait=1, dst=isa.BUF_TBL, dram=0, buf=0, rows=1,
                            row_beats=1, stride=0))
    i_out = emit("STORE", wait=int(pending > 0), dst=isa.BUF_UB, buf=out_t.addr // R, rows=1,
                 row_beats=-(-out_words // R), stride=0)
    emit("END")

    # ---- external memory: program, then constants, input, output
    prog_bytes = len(instrs) * cfg.instr_bytes
    img.reserve(prog_bytes)
    for group in load_groups:
        for idx, (kind, blob) in group:
            beat = img.put(blob)
            instrs[idx].fields["dram"] = beat
    in_beat = img.reserve(in_beats * cfg.bus_bytes)
    instrs[i_in].fields["dram"] = in_beat
    out_beat = img.reserve(-(-out_words // R) * cfg.bus_bytes)
    instrs[i_out].fields["dram"] = out_beat
    for i in i_drain:
        instrs[i].fields["dram"] = 0
    words = b"".join(isa.encode(ins).to_bytes(cfg.instr_bytes, "little") for ins in instrs)
    img.data[:len(words)] = words
    return Program(cfg=cfg, graph=graph, ops=ops, tensors=tensors, instrs=instrs,
                   image=img.data, input_beat=in_beat, input_beats=in_beats,
                   output_beat=out_beat, output_words=out_words, stem_im2col=stem,
                   ub_peak_words=alloc.peak)


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
        k, st = s["k"], s["stride"]
        t, left, b, r = s["pads"]
        xp = np.pad(x, ((0, 0), (t, b), (left, r)))
        c, hp, wp = xp.shape
        ho, wo = (hp - k) // st + 1, (wp - k) // st + 1
        cols = np.zeros((c, k, k, ho, wo), np.int64)
        for ky in range(k):
            for kx in range(k):
                cols[:, ky, kx] = xp[:, ky:ky + st * (ho - 1) + 1:st, kx:kx + st * (wo - 1) + 1:st]
        x = cols.reshape(c * k * k, ho, wo)  # channel order (c, ky, kx) = weight.reshape order
    words = to_words(x, L).astype(np.int8).tobytes()
    need = prog.input_beats * prog.cfg.bus_bytes
    return words + bytes(need - len(words))
