"""onnxruntime as the golden model: which session is the contract, which ones are deployments.

The contract (docs/numerics.md) is the ONNX operator semantics of the exported QCDQ graph.
onnxruntime computes exactly that, on every CPU, in the :data:`GOLDEN` session: no graph
optimizations (``ORT_DISABLE_ALL``), so every ``QuantizeLinear``, ``DequantizeLinear``, ``Conv``,
``Gemm``, activation, ``Add``, ``Mul`` and ``GlobalAveragePool`` runs as exported, in float32, on
values that are all integers times powers of two; every product and partial sum is exact while a
layer's accumulator bound stays below 2^24 (the IR flags the layers where it does not), so the
instruction set, the summation order and FMA do not matter.

onnxruntime's default session (``ORT_ENABLE_ALL``) is something else: a *deployment*. At
``ORT_ENABLE_EXTENDED`` and above it rewrites the graph into integer kernels whose arithmetic
depends on the CPU (onnxruntime 1.32, ``core/optimizer/graph_transformer_utils.cc``):

* ``QDQS8ToU8Transformer`` (x86 only, unless ``session.qdqisint8allowed=1``) moves int8
  activations to uint8 (code + 128, zero point 128);
* ``QDQSelectorActionTransformer`` fuses DequantizeLinear -> op -> QuantizeLinear groups into
  integer kernels (``QLinearConv``, ``QGemm``, ``QLinearAdd``, ``QLinearMul``,
  ``QLinearSigmoid``, ``QLinearGlobalAveragePool``, where the graph allows: in HF3, 25 of its 76
  convolutions, 15 sigmoids and the head's pooling); at ``ORT_ENABLE_ALL`` the
  ``NhwcTransformer`` moves ``QLinearConv`` to its NHWC kernels;
* the uint8 x int8 (u8s8) matrix kernels of MLAS on SSE4.1, AVX2 and AVX-512 without VNNI
  multiply with ``vpmaddubsw``, which adds *pairs* of products in int16 with saturation:
  255 * 127 * 2 = 64770 is clamped to 32767. With AVX-512 VNNI, AVX-VNNI or AMX the sums are
  int32 and exact. ``session.x64quantprecision=1`` makes onnxruntime use its uint8 x uint8
  kernels on such CPUs instead (``Avx2WeightS8ToU8Transformer``); weights within -64..64 never
  saturate (2 * 255 * 64 = 32640), which ``--weight-bits 7`` guarantees at quantization time.

So the bit-exact verdict compares with :data:`GOLDEN` only, and a deployment is reported
beside it as *agreement* (:func:`hfaccel.quant.check.check_reference`), with the CPU it ran on.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["DEPLOYMENTS", "GOLDEN", "CpuInfo", "OrtConfig", "cpu_info", "session",
           "u8s8_probe_model"]

_LEVELS = {"disable_all": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
           "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


@dataclass(frozen=True)
class OrtConfig:
    """One onnxruntime CPU session configuration: optimization level and config entries."""

    name: str
    level: str  # a key of _LEVELS
    entries: tuple[tuple[str, str], ...] = ()
    what: str = ""

    def __str__(self) -> str:
        opts = "".join(f", {k}={v}" for k, v in self.entries)
        return f"{self.name} ({_LEVELS[self.level]}{opts})"

    def describe(self) -> str:
        """``golden session (ORT_DISABLE_ALL: what it is)``."""
        opts = "".join(f", {k}={v}" for k, v in self.entries)
        return f"{self.name} session ({_LEVELS[self.level]}{opts}: {self.what})"


GOLDEN = OrtConfig("golden", "disable_all", (),
                   "the ONNX ops as exported, no fusion, the same arithmetic on every CPU")

# What an application may run the exported model with. "default" is what it gets without
# options; "u8" forces the uint8 rewrite (x86's default, forced on ARM too), "s8" keeps int8
# (ARM's default, no rewrite on x86), "x64precision" is onnxruntime's own remedy on x86.
DEPLOYMENTS = {c.name: c for c in (
    OrtConfig("default", "all", (), "what an application gets without options"),
    OrtConfig("u8", "all", (("session.qdqisint8allowed", "0"),),
              "int8 QDQ rewritten to uint8, forced"),
    OrtConfig("s8", "all", (("session.qdqisint8allowed", "1"),),
              "int8 QDQ kept, no uint8 rewrite"),
    OrtConfig("x64precision", "all", (("session.x64quantprecision", "1"),),
              "uint8 x uint8 kernels where uint8 x int8 ones saturate"),
)}


def session(model: onnx.ModelProto, cfg: OrtConfig = GOLDEN):
    """An onnxruntime CPU session of ``model`` in configuration ``cfg``."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[cfg.level])
    for k, v in cfg.entries:
        so.add_session_config_entry(k, v)
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def u8s8_probe_model(channels: int = 16, size: int = 4, weight: int = 127) -> onnx.ModelProto:
    """A QCDQ 1x1 conv whose uint8 x int8 pair sums overflow int16 on saturating kernels.

    Input codes near 127 (real values near 1, exponent 7) become uint8 codes near 255 after
    onnxruntime's uint8 rewrite; output channel ``c`` has every weight ``+weight`` (even ``c``)
    or ``-weight`` (odd ``c``), so with the default 127 each pair of products reaches
    2 * 255 * 127 = 64770 > 32767; with ``weight`` 64 or less it never exceeds 32640. The exact
    accumulator (``channels * 127 * weight`` at most, exponent 14) fits int8 at exponent 3 for
    up to 16 input channels (126 for 16). The graph is within the contract, so
    :func:`hfaccel.quant.ir.lower` accepts it.
    """
    if not 0 < weight <= 127 or not 0 < channels <= 16:
        raise ValueError("u8s8_probe_model: 0 < weight <= 127, 0 < channels <= 16")
    co = 8
    sign = np.where(np.arange(co) % 2 == 0, 1, -1).astype(np.int8)
    w = (np.full((co, channels, 1, 1), weight, np.int8) * sign[:, None, None, None])
    w = w.astype(np.int8)
    f_out = 3
    inits = [
        numpy_helper.from_array(np.array(2.0 ** -7, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "x_zp"),
        numpy_helper.from_array(w, "w_codes"),
        numpy_helper.from_array(np.full(co, 2.0 ** -7, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(co, np.int8), "w_zp"),
        numpy_helper.from_array(np.zeros(co, np.int32), "b_codes"),
        numpy_helper.from_array(np.full(co, 2.0 ** -14, np.float32), "b_scale"),
        numpy_helper.from_array(np.zeros(co, np.int32), "b_zp"),
        numpy_helper.from_array(np.array(2.0 ** -f_out, np.float32), "y_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "y_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "x_scale", "x_zp"], ["x_q"], "input_q"),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zp"], ["x_dq"], "input_dq"),
        helper.make_node("DequantizeLinear", ["w_codes", "w_scale", "w_zp"], ["w"], "w_dq",
                         axis=0),
        helper.make_node("DequantizeLinear", ["b_codes", "b_scale", "b_zp"], ["b"], "b_dq",
                         axis=0),
        helper.make_node("Conv", ["x_dq", "w", "b"], ["y"], "conv", kernel_shape=[1, 1],
                         pads=[0, 0, 0, 0]),
        helper.make_node("QuantizeLinear", ["y", "y_scale", "y_zp"], ["y_q"], "conv_q"),
        helper.make_node("DequantizeLinear", ["y_q", "y_scale", "y_zp"], ["logits"], "conv_dq"),
    ]
    g = helper.make_graph(
        nodes, "u8s8_probe",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", co, size, size])],
        initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@dataclass(frozen=True)
class CpuInfo:
    """The host CPU as onnxruntime's int8 kernels see it.

    ``features``: the x86 extensions that decide MLAS's u8s8 kernel, from CPUID (numpy's
    runtime dispatch detection, which queries CPUID itself and so also sees an emulated CPU,
    unlike ``/proc/cpuinfo``); numpy does not detect AVX-VNNI or AMX, the probe covers them.
    ``u8s8_exact``: measured, by running :func:`u8s8_probe_model` in the deployment and the
    golden session: whether the deployment's fused int8 kernels summed exactly (None where the
    probe was not run).
    """

    machine: str
    features: tuple[str, ...]
    u8s8_exact: bool | None

    def __str__(self) -> str:
        feats = " ".join(self.features) or "none of avx2/avx512bw/avx512_vnni"
        probe = {True: "exact int32 sums", False: "int16 pair sums SATURATE",
                 None: "not probed"}[self.u8s8_exact]
        return f"CPU {self.machine} [{feats}]; fused int8 kernels (probe): {probe}"


_NUMPY_FEATURES = (("AVX2", "avx2"), ("AVX512F", "avx512f"), ("AVX512BW", "avx512bw"),
                   ("AVX512VNNI", "avx512_vnni"))


def cpu_info(deployment: OrtConfig | None = None) -> CpuInfo:
    """The CPU's relevant features, and (given a deployment) the u8s8 probe's result."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as feats
    present = tuple(name for key, name in _NUMPY_FEATURES if feats.get(key))
    exact = None
    if deployment is not None:
        m = u8s8_probe_model()
        x = np.full((1, 16, 4, 4), 127 / 128, np.float32)
        want = session(m, GOLDEN).run(None, {"input": x})[0]
        got = session(m, deployment).run(None, {"input": x})[0]
        exact = bool(np.array_equal(want, got))
    return CpuInfo(platform.machine(), present, exact)
