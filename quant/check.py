"""Compare every quantized tensor of the integer reference with onnxruntime's, 0 LSB.

onnxruntime runs the exported graph with every ``QuantizeLinear`` output exposed as a graph
output, at each requested optimization level (its default, ``ORT_ENABLE_ALL``, fuses QDQ groups
into QLinear kernels; ``ORT_DISABLE_ALL`` runs the float ops as exported). The unmodified graph's
logits are compared too, since exposing outputs changes which fusions onnxruntime applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from hfaccel.quant.calibrate import LayerHealth, signal_health
from hfaccel.quant.ir import ACC_EXACT_LIMIT, Graph
from hfaccel.quant.reference import run_reference

__all__ = ["LEVELS", "CheckResult", "Mismatch", "check_reference", "ort_session"]

LEVELS = ("default", "disable_all")


def ort_session(model: onnx.ModelProto, level: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "default": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def with_quantized_outputs(model: onnx.ModelProto, graph: Graph) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for layer in graph.layers:
        if layer.output not in have:
            m.graph.output.append(onnx.helper.make_tensor_value_info(
                layer.output, onnx.TensorProto.INT8, None))
    return m


@dataclass(frozen=True)
class Mismatch:
    layer: str
    level: str
    index: tuple[int, ...]
    reference: int
    onnxruntime: int
    count: int

    def __str__(self) -> str:
        return (f"layer {self.layer!r} (onnxruntime {self.level}): {self.count} codes differ, "
                f"first at index {self.index}: reference {self.reference}, onnxruntime "
                f"{self.onnxruntime}")


@dataclass
class CheckResult:
    graph: Graph
    images: int
    levels: tuple[str, ...]
    max_diff: dict[str, dict[str, int]] = field(default_factory=dict)  # layer -> level -> LSB
    health: list[LayerHealth] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    top1_reference: list[int] = field(default_factory=list)
    top1_onnxruntime: list[int] = field(default_factory=list)

    @property
    def bit_exact(self) -> bool:
        return not self.mismatches

    @property
    def degenerate(self) -> list[LayerHealth]:
        # The input's codes are the image itself (a black background is -128 by design).
        return [h for h in self.health[1:] if h.problem]

    def table(self) -> str:
        rows = [("layer", "op", "shape", "2^-f", "zero%", "sat%",
                 *[f"{lv} LSB" for lv in self.levels], "note")]
        health = {h.name: h for h in self.health}
        for ly in self.graph.layers:
            h = health[ly.name]
            note = h.problem if ly.op != "input" else ""
            if ly.op == "conv" and ly.acc_bound >= ACC_EXACT_LIMIT:
                note = (note + "; " if note else "") + "acc bound >= 2^24"
            rows.append((ly.name, ly.kind if ly.op == "conv" else ly.op,
                         "x".join(map(str, ly.shape)), str(ly.f_out), f"{100 * h.zero:.1f}",
                         f"{100 * h.saturated:.1f}",
                         *[str(self.max_diff[ly.output][lv]) for lv in self.levels], note))
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
                    f"with onnxruntime at {', '.join(self.levels)}{extra}")
        return f"FAIL: {self.mismatches[0]}"


def check_reference(model: onnx.ModelProto, graph: Graph, images: np.ndarray,
                    levels: tuple[str, ...] = LEVELS) -> CheckResult:
    """Run the reference and onnxruntime on ``images`` (float NCHW) and compare every tensor."""
    ref = run_reference(graph, images)
    res = CheckResult(graph, len(images), tuple(levels))
    res.health = signal_health({ly.name: ref[ly.output] for ly in graph.layers})
    exposed = with_quantized_outputs(model, graph)
    out_names = [ly.output for ly in graph.layers]
    for level in levels:
        outs = ort_session(exposed, level).run(out_names, {graph.input_name:
                                                           images.astype(np.float32)})
        plain = ort_session(model, level).run(None, {graph.input_name:
                                                     images.astype(np.float32)})[0]
        for ly, got in zip(graph.layers, outs):
            want = ref[ly.output]
            diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
            res.max_diff.setdefault(ly.output, {})[level] = int(diff.max()) if diff.size else 0
            if diff.any():
                idx = tuple(int(i) for i in np.argwhere(diff)[0])
                res.mismatches.append(Mismatch(ly.name, level, idx, int(want[idx]),
                                               int(got[idx]), int((diff > 0).sum())))
        final = graph.layers[-1]
        want = ref[graph.output].astype(np.float64) * 2.0 ** -final.f_out
        if not np.array_equal(plain.astype(np.float64), want):
            idx = tuple(int(i) for i in np.argwhere(plain != want)[0])
            res.mismatches.append(Mismatch(f"{final.name} (unmodified graph)", level, idx,
                                           int(want[idx] * 2 ** final.f_out),
                                           int(plain[idx] * 2 ** final.f_out),
                                           int((plain != want).sum())))
        if level == levels[0]:
            res.top1_onnxruntime = np.argmax(plain.reshape(len(images), -1), 1).tolist()
    res.top1_reference = np.argmax(ref[graph.output].reshape(len(images), -1), 1).tolist()
    return res
