"""Compare every quantized tensor of the integer reference with onnxruntime's, 0 LSB.

The verdict compares with onnxruntime's :data:`~hfaccel.quant.ort.GOLDEN` session (the ONNX ops
as exported, no fusion: the same arithmetic on every CPU), with every ``QuantizeLinear`` output
exposed as a graph output, and the unmodified graph's logits as well.

A deployment session (onnxruntime's default, ``ORT_ENABLE_ALL``, or another
:data:`~hfaccel.quant.ort.DEPLOYMENTS` entry) fuses QDQ groups into integer kernels whose
arithmetic depends on the CPU (:mod:`hfaccel.quant.ort`). It is reported beside the verdict as
*deployment agreement* on the unmodified graph's logits (exposing intermediate tensors would
block the very fusions it is about), never as part of the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from hfaccel.quant.calibrate import LayerHealth, signal_health
from hfaccel.quant.ir import ACC_EXACT_LIMIT, Graph
from hfaccel.quant.ort import DEPLOYMENTS, GOLDEN, CpuInfo, OrtConfig, cpu_info, session
from hfaccel.quant.reference import run_reference

__all__ = ["Agreement", "CheckResult", "Mismatch", "check_reference", "with_quantized_outputs"]


def with_quantized_outputs(model: onnx.ModelProto, graph: Graph) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for layer in graph.layers:
        if layer.output not in have:
            m.graph.output.append(onnx.helper.make_tensor_value_info(
                layer.output, onnx.TensorProto.UINT8 if layer.unsigned else onnx.TensorProto.INT8,
                None))
    return m


@dataclass(frozen=True)
class Mismatch:
    layer: str
    index: tuple[int, ...]
    reference: int
    onnxruntime: int
    count: int

    def __str__(self) -> str:
        return (f"layer {self.layer!r} (onnxruntime {GOLDEN}): {self.count} codes differ, "
                f"first at index {self.index}: reference {self.reference}, onnxruntime "
                f"{self.onnxruntime}")


@dataclass(frozen=True)
class Agreement:
    """How a deployment session's logits compare with the reference's (not the verdict)."""

    config: OrtConfig
    cpu: CpuInfo
    images: int
    identical: int  # images whose logits are identical, code for code
    top1: int  # images whose top-1 class is the reference's
    max_lsb: int  # largest logit difference, in LSB of the logits' scale
    top1_deployment: tuple[int, ...]

    @property
    def exact(self) -> bool:
        return self.identical == self.images

    def line(self) -> str:
        n = self.images
        s = (f"deployment agreement (not part of the verdict), onnxruntime's "
             f"{self.config.describe()}: {self.identical}/{n} images with identical logits, "
             f"top-1 equal on "
             f"{self.top1}/{n} ({self.top1 / n:.0%}), max {self.max_lsb} LSB; {self.cpu}")
        if not self.exact and self.cpu.u8s8_exact is False:
            s += (". The fused uint8 x int8 kernels of this CPU add pairs of products in int16 "
                  "with saturation: quantize with --weight-bits 7, or run onnxruntime with "
                  "session.x64quantprecision=1, for exact agreement")
        elif self.cpu.u8s8_exact is False:
            s += " (on weights of +-127; this model's pair sums stay within int16)"
        return s


@dataclass
class CheckResult:
    graph: Graph
    images: int
    max_diff: dict[str, int] = field(default_factory=dict)  # layer output -> LSB vs golden
    health: list[LayerHealth] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    top1_reference: list[int] = field(default_factory=list)
    top1_onnxruntime: list[int] = field(default_factory=list)  # golden, unmodified graph
    deployment: Agreement | None = None

    @property
    def bit_exact(self) -> bool:
        return not self.mismatches

    @property
    def degenerate(self) -> list[LayerHealth]:
        # The input's codes are the image itself (a black background is -128 by design).
        return [h for h in self.health[1:] if h.problem]

    def table(self) -> str:
        rows = [("layer", "op", "shape", "2^-f", "zero%", "sat%", "LSB", "note")]
        health = {h.name: h for h in self.health}
        for ly in self.graph.layers:
            h = health[ly.name]
            note = h.problem if ly.op != "input" else ""
            if ly.op == "conv" and ly.acc_bound >= ACC_EXACT_LIMIT:
                note = (note + "; " if note else "") + "acc bound >= 2^24"
            rows.append((ly.name, ly.kind if ly.op == "conv" else ly.op,
                         "x".join(map(str, ly.shape)), str(ly.f_out), f"{100 * h.zero:.1f}",
                         f"{100 * h.saturated:.1f}", str(self.max_diff[ly.output]), note))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) if i in (0, 1, 2, len(widths) - 1) else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                         for r in rows)

    def verdict(self) -> str:
        n = len(self.graph.layers)
        if self.bit_exact:
            deg = self.degenerate
            extra = (f"; {len(deg)} degenerate tensor(s): "
                     + ", ".join(f"{h.name} ({h.problem})" for h in deg[:3])) if deg else ""
            return (f"PASS: {n} quantized tensors x {self.images} image(s) bit-exact (0 LSB) "
                    f"with onnxruntime's {GOLDEN.describe()}{extra}")
        return f"FAIL: {self.mismatches[0]}"


def _agreement(model: onnx.ModelProto, graph: Graph, x: np.ndarray, want: np.ndarray,
               cfg: OrtConfig) -> Agreement:
    f = graph.layers[-1].f_out
    got = session(model, cfg).run(None, {graph.input_name: x})[0].astype(np.float64)
    n = len(x)
    lsb = np.abs(got * 2.0 ** f - want.astype(np.float64)).reshape(n, -1)
    top_d = np.argmax(got.reshape(n, -1), 1)
    top_r = np.argmax(want.reshape(n, -1), 1)
    return Agreement(cfg, cpu_info(cfg), n, int((lsb.max(1) == 0).sum()),
                     int((top_d == top_r).sum()), int(np.ceil(lsb.max())) if lsb.size else 0,
                     tuple(int(t) for t in top_d))


def check_reference(model: onnx.ModelProto, graph: Graph, images: np.ndarray,
                    deployment: OrtConfig | None = DEPLOYMENTS["default"]) -> CheckResult:
    """Run the reference and onnxruntime on ``images`` (float NCHW) and compare every tensor.

    The verdict (``bit_exact``, ``mismatches``) compares with :data:`GOLDEN` only. With a
    ``deployment`` the unmodified graph also runs in that session, and its agreement with the
    reference is reported in ``deployment``.
    """
    x = images.astype(np.float32)
    ref = run_reference(graph, x)
    res = CheckResult(graph, len(x))
    res.health = signal_health({ly.name: ref[ly.output] for ly in graph.layers})
    out_names = [ly.output for ly in graph.layers]
    outs = session(with_quantized_outputs(model, graph)).run(out_names, {graph.input_name: x})
    for ly, got in zip(graph.layers, outs):
        want = ref[ly.output]
        diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
        res.max_diff[ly.output] = int(diff.max()) if diff.size else 0
        if diff.any():
            idx = tuple(int(i) for i in np.argwhere(diff)[0])
            res.mismatches.append(Mismatch(ly.name, idx, int(want[idx]), int(got[idx]),
                                           int((diff > 0).sum())))
    # Exposing every tensor could change what onnxruntime runs; the plain graph is the product.
    final = graph.layers[-1]
    plain = session(model).run(None, {graph.input_name: x})[0].astype(np.float64)
    want = ref[graph.output].astype(np.float64) * 2.0 ** -final.f_out
    if not np.array_equal(plain, want):
        idx = tuple(int(i) for i in np.argwhere(plain != want)[0])
        res.mismatches.append(Mismatch(f"{final.name} (unmodified graph)", idx,
                                       int(want[idx] * 2 ** final.f_out),
                                       int(plain[idx] * 2 ** final.f_out),
                                       int((plain != want).sum())))
    res.top1_onnxruntime = np.argmax(plain.reshape(len(x), -1), 1).tolist()
    res.top1_reference = np.argmax(ref[graph.output].reshape(len(x), -1), 1).tolist()
    if deployment is not None:
        res.deployment = _agreement(model, graph, x, ref[graph.output], deployment)
    return res
