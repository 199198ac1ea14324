"""Bring your own model (issue 17): networks written by others, built with Brevitas here
(``tests/support/byom.py``), exported with ``export_onnx_qcdq`` as a user would, checked against
onnxruntime (integer reference) and run whole in RTL on the ``small`` preset, every layer 0 LSB;
and the forms outside the subset refused with one line naming the node and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from hfaccel.accel.config import SMALL
from hfaccel.quant.check import check_reference
from hfaccel.quant.ir import OnnxError, lower
from hfaccel.sim.hwsim import hw_sim
from support import byom


def _images(res: int, n: int = 2) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (n, 3, res, res)).astype(np.float32)


def _check(path: Path, res: int):
    graph = lower(path)
    r = check_reference(onnx.load(str(path)), graph, _images(res), None)
    assert r.bit_exact, r.mismatches[:3]
    return graph


def _hw(path: Path, graph, tmp_path: Path, sim: str = "icarus") -> dict:
    rep = hw_sim(path, graph, {"model": path.stem}, SMALL, images=1, sim=sim,
                 out_dir=tmp_path, log=lambda *_: None)
    bad = [f"{r['name']}: {r['mismatch']}" for r in rep["layers"] if not r["bit_exact"]]
    assert not bad and rep["bit_exact"], bad
    im = rep["per_image"][0]
    assert im["top1_rtl"] == im["top1_onnxruntime"]
    return rep


@pytest.fixture(scope="module")
def se_signed(tmp_path_factory) -> Path:
    return byom.export_qcdq(byom.se_net(unsigned=False),
                            tmp_path_factory.mktemp("se") / "se.onnx", 16)


@pytest.fixture(scope="module")
def mnv2_signed(tmp_path_factory) -> Path:
    return byom.export_qcdq(byom.mobilenet_v2(unsigned=False),
                            tmp_path_factory.mktemp("mnv2") / "mnv2.onnx", 16)


def test_reducemean_relu6_hardswish_lowered_exactly(se_signed):
    """``x.mean((2, 3), keepdim=True)`` is a global average pool; ``nn.ReLU6`` between a conv
    and its quantizer is a clamp of the codes; HardSwish / HardSigmoid are tables."""
    g = _check(se_signed, 16)
    kinds = [(ly.op, ly.function, ly.clamp) for ly in g.layers]
    assert sum(op == "gap" for op, _, _ in kinds) == 2
    clamps = [ly for ly in g.layers if ly.clamp is not None]
    assert {ly.name for ly in clamps} >= {"block.expand_q", "block.reduce_act"}
    relu6 = g["block.expand_q"]
    assert relu6.clamp == (0, min(127, 6 * 2 ** relu6.f_out))
    assert {ly.function for ly in g.layers if ly.op == "act"} == {"hardsigmoid+mul",
                                                                   "hardsigmoid"}


def test_reducemean_se_net_whole_in_rtl(se_signed, tmp_path):
    _hw(se_signed, lower(se_signed), tmp_path)


def test_mobilenet_v2_style_avgpool_relu6_residuals(mnv2_signed, tmp_path):
    """Brevitas' TruncAvgPool2d (an AveragePool over the whole map and a QuantizeLinear),
    ReLU6 after the depthwise conv, residual adds: bit-exact, then whole in RTL."""
    g = _check(mnv2_signed, 16)
    assert [ly.op for ly in g.layers].count("add") == 2
    assert g.layers[-2].op == "gap"
    _hw(mnv2_signed, g, tmp_path)


def test_brevitas_mobilenet_v1_view_reshape_lowered(tmp_path):
    """The example's ``x.view(x.size(0), -1)`` exports Shape/Gather/Unsqueeze/Concat into a
    Reshape before the classifier: shape arithmetic only, accepted."""
    path = byom.export_qcdq(byom.mobilenet_v1(unsigned=False), tmp_path / "m.onnx", 32)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Shape", "Gather", "Reshape", "AveragePool"} <= ops
    g = _check(path, 32)
    assert sum(ly.clamp is not None for ly in g.layers) == 27  # every ConvBlock's ReLU


# ------------------------------------------------------------------------------- refusals
def _export(model: torch.nn.Module, path: Path, res: int = 8) -> Path:
    return byom.export_qcdq(model, path, res)


def _refusal(path: Path) -> str:
    with pytest.raises(OnnxError) as e:
        lower(path)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


class _Plain(torch.nn.Module):
    """input quant -> conv (+ ``mid``) -> quant [-> ``tail`` -> quant] -> mean -> quant ->
    classifier."""

    def __init__(self, mid=None, tail=None, quant_out=True):
        super().__init__()
        import brevitas.nn as qnn
        from brevitas.quant import Int32Bias
        from brevitas.quant.fixed_point import (
            Int8ActPerTensorFixedPoint,
            Int8WeightPerChannelFixedPoint,
        )

        kw = dict(bias=True, weight_quant=Int8WeightPerChannelFixedPoint, bias_quant=Int32Bias)
        self.inp = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.conv = qnn.QuantConv2d(3, 8, 3, padding=1, **kw)
        self.mid = mid or torch.nn.Identity()
        self.q1 = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.tail = tail
        self.q2 = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.q3 = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(8, 4, output_quant=Int8ActPerTensorFixedPoint if quant_out
                                  else None, **kw)

    def forward(self, x):
        x = self.q1(self.mid(self.conv(self.inp(x))))
        if self.tail is not None:
            x = self.q2(self.tail(byom._v(x)))
        x = self.q3(byom._v(x).mean((2, 3)))
        return self.fc(torch.flatten(x, 1))


def test_batchnorm_refusal_says_how_to_merge_it(tmp_path):
    msg = _refusal(_export(_Plain(mid=torch.nn.BatchNorm2d(8)), tmp_path / "bn.onnx"))
    assert "BatchNormalization" in msg and "/mid/BatchNormalization" in msg
    assert "merge BatchNorm into the convolution before quantization" in msg
    assert "brevitas.nn.utils.merge_bn" in msg and "MergeBatchNorm" in msg


def test_maxpool_refused_with_the_alternative(tmp_path):
    m = _Plain(tail=torch.nn.MaxPool2d(2))
    msg = _refusal(_export(m, tmp_path / "mp.onnx"))
    assert "op MaxPool" in msg and "no max pooling" in msg


def test_function_on_a_float_conv_output_refused(tmp_path):
    """HardSwish straight after a conv, no quantizer between: it would read float values."""
    msg = _refusal(_export(_Plain(mid=torch.nn.Hardswish()), tmp_path / "hs.onnx"))
    assert "reads the float output of Conv" in msg and "output_quant=" in msg


def test_partial_average_pool_refused(tmp_path):
    m = _Plain(tail=torch.nn.AvgPool2d(2))
    msg = _refusal(_export(m, tmp_path / "ap.onnx"))
    assert "(AveragePool): kernel [2, 2]" in msg and "whole map" in msg


def test_unquantized_logits_refused_with_the_fix(tmp_path):
    msg = _refusal(_export(_Plain(quant_out=False), tmp_path / "q.onnx"))
    assert "(Gemm) computes the graph output" in msg and "output_quant=" in msg


def _reducemean_model(axes, keepdims=1) -> onnx.ModelProto:
    """QuantizeLinear -> DQ -> ReduceMean(axes) -> QuantizeLinear, written by hand."""
    s = numpy_helper.from_array(np.array(2.0 ** -4, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.int8), "z")
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="in_q"),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="in_dq"),
             helper.make_node("ReduceMean", ["xd"], ["m"], name="mean", axes=axes,
                              keepdims=keepdims),
             helper.make_node("QuantizeLinear", ["m", "s", "z"], ["mq"], name="m_q"),
             helper.make_node("DequantizeLinear", ["mq", "s", "z"], ["y"], name="m_dq")]
    shape = [None, 4, 1, 1] if keepdims else [None, 4]
    g = helper.make_graph(nodes, "rm", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      ["N", 4, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                          initializer=[s, z])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("keepdims", [1, 0])
def test_reducemean_over_hw_both_keepdims(keepdims):
    m = _reducemean_model([2, 3], keepdims)
    g = lower(m)
    assert g.layers[-1].op == "gap"
    x = _images(8, 3)[:, :1].repeat(4, 1)
    assert check_reference(m, g, x, None).bit_exact


def test_reducemean_over_channels_refused():
    with pytest.raises(OnnxError, match=r"'mean' \(ReduceMean\): axes \[1\] — only the mean "
                                        r"over H and W"):
        lower(_reducemean_model([1]))
