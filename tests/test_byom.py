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

from hfaccel.accel.config import DEFAULT, SMALL
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
def nets(tmp_path_factory) -> dict[str, Path]:
    """The Brevitas nets, exported once: uint8 after every ReLU (Brevitas' default), and the
    same nets with int8 there (ReLU/ReLU6 then fold into int8 codes)."""
    d = tmp_path_factory.mktemp("byom")
    return {
        "se": byom.export_qcdq(byom.se_net(), d / "se.onnx", 16),
        "se_s8": byom.export_qcdq(byom.se_net(unsigned=False), d / "se_s8.onnx", 16),
        "mnv2": byom.export_qcdq(byom.mobilenet_v2(), d / "mnv2.onnx", 16),
        "mnv2_s8": byom.export_qcdq(byom.mobilenet_v2(unsigned=False), d / "mnv2_s8.onnx", 16),
        "mnv1": byom.export_qcdq(byom.mobilenet_v1(), d / "mnv1.onnx", 32),
    }


def test_reducemean_relu6_hardswish_lowered_exactly(nets):
    """``x.mean((2, 3), keepdim=True)`` is a global average pool; ``nn.ReLU6`` between a conv
    and its quantizer is a clamp of the codes; HardSwish / HardSigmoid are tables."""
    g = _check(nets["se_s8"], 16)
    assert [ly.op for ly in g.layers].count("gap") == 2
    clamps = [ly for ly in g.layers if ly.clamp is not None]
    assert {ly.name for ly in clamps} >= {"block.expand_q", "block.reduce_act"}
    relu6 = g["block.expand_q"]
    assert relu6.clamp == (0, min(127, 6 * 2 ** relu6.f_out))
    assert {ly.function for ly in g.layers if ly.op == "act"} == {"hardsigmoid+mul",
                                                                   "hardsigmoid"}


def test_uint8_nets_lowered_and_bit_exact(nets):
    """Brevitas' Uint8ActPerTensorFixedPoint after ReLU / ReLU6: uint8 tensors, bit-exact with
    onnxruntime; a ReLU6 before a uint8 quantizer is a clamp to 0..6 * 2^f."""
    g = _check(nets["se"], 16)
    assert g["block.expand_q"].unsigned and g["block.reduce_act"].unsigned
    assert g["block.restore"].u_in == (True,) and not g["block.restore"].unsigned
    relu6 = g["block.expand_q"]
    assert relu6.clamp == (0, min(255, 6 * 2 ** relu6.f_out))
    g = _check(nets["mnv2"], 16)
    assert sum(ly.unsigned for ly in g.layers) == 11  # stem, 4 x (expand, dw), head, pool
    assert g["blocks.1.expand_act"].u_in == (False,) and g["pool"].unsigned


@pytest.mark.parametrize("name", ["se", "se_s8"])
def test_reducemean_se_net_whole_in_rtl(nets, name, tmp_path):
    _hw(nets[name], lower(nets[name]), tmp_path)


@pytest.mark.parametrize("name", ["mnv2", "mnv2_s8"])
def test_mobilenet_v2_style_avgpool_relu6_residuals(nets, name, tmp_path):
    """Brevitas' TruncAvgPool2d (an AveragePool over the whole map and a QuantizeLinear),
    ReLU6 after the depthwise conv, residual adds: bit-exact, then (uint8) whole in RTL."""
    g = _check(nets[name], 16)
    assert [ly.op for ly in g.layers].count("add") == 2
    assert g.layers[-2].op == "gap" and g.layers[-2].name == "pool"
    if name == "mnv2":
        _hw(nets[name], g, tmp_path, sim="verilator")


def test_brevitas_mobilenet_v1_whole_in_rtl(nets, tmp_path):
    """Brevitas' example MobileNetV1 (fixed-point quantizers, uint8 after every ReLU, BN
    merged, width 0.25) at 32x32: its ``x.view(x.size(0), -1)`` exports Shape/Gather/
    Unsqueeze/Concat into a Reshape (shape arithmetic only, accepted); bit-exact with
    onnxruntime, then whole in RTL on ``small``, every layer 0 LSB."""
    path = nets["mnv1"]
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Shape", "Gather", "Reshape", "AveragePool"} <= ops
    g = _check(path, 32)
    assert sum(ly.clamp is not None for ly in g.layers) == 27  # every ConvBlock's ReLU
    assert sum(ly.unsigned for ly in g.layers) == 28  # and the pool
    rep = _hw(path, g, tmp_path, sim="verilator")
    assert len(rep["layers"]) == 29


@pytest.mark.slow
def test_brevitas_mobilenet_v1_128_default_verilator(tmp_path):
    """The same network at 128x128 on the ``default`` preset, in Verilator."""
    path = byom.export_qcdq(byom.mobilenet_v1(resolution=128), tmp_path / "mnv1.onnx", 128)
    g = _check(path, 128)
    rep = hw_sim(path, g, {"model": "mnv1-128"}, DEFAULT, images=1, sim="verilator",
                 out_dir=tmp_path, log=lambda *_: None)
    bad = [f"{r['name']}: {r['mismatch']}" for r in rep["layers"] if not r["bit_exact"]]
    assert not bad and rep["bit_exact"], bad


# ---------------------------------------------------------------------------------- QONNX
def _qonnx(model, path: Path, res: int) -> Path:
    import warnings

    from brevitas.export import export_qonnx

    byom.calibrate(model, res)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, args=torch.zeros(1, 3, res, res), export_path=str(path),
                     dynamo=False, opset_version=13, input_names=["input"],
                     output_names=["logits"], dynamic_axes={"input": {0: "N"},
                                                            "logits": {0: "N"}})
    return path


def test_qonnx_converted_and_bit_exact(tmp_path):
    """FINN's format (brevitas.export.export_qonnx): Quant nodes become QuantizeLinear /
    DequantizeLinear pairs and integer weights; the converted graph computes what Brevitas
    computes (logits equal in float) and is bit-exact with the reference; the CLI converts it."""
    from hfaccel.cli import main
    from hfaccel.quant.ort import GOLDEN, session
    from hfaccel.quant.qonnx import as_qcdq_file, qonnx_to_qcdq

    m = byom.se_net()
    path = _qonnx(m, tmp_path / "se.qonnx.onnx", 16)
    with pytest.raises(OnnxError, match=r"this is a QONNX graph \(FINN's format\): convert it"):
        lower(path)
    q = qonnx_to_qcdq(onnx.load(str(path)))
    onnx.checker.check_model(q)
    g = lower(q)
    assert [ly.name for ly in g.layers][:3] == ["input", "stem", "block.expand_q"]
    assert g["block.expand_q"].unsigned
    x = _images(16)
    assert check_reference(q, g, x, None).bit_exact
    with torch.no_grad():
        want = byom._v(m(torch.from_numpy(x))).numpy()
    assert np.array_equal(session(q, GOLDEN).run(None, {"input": x})[0], want)
    out = as_qcdq_file(path, tmp_path / "conv")
    assert out.name == "se.qonnx.qcdq.onnx" and as_qcdq_file(out) == out
    assert main(["check-reference", "--onnx", str(path), "--images", "1",
                 "--deployment", "none"]) == 0


def test_qonnx_trunc_avgpool_refused(tmp_path):
    from hfaccel.quant.qonnx import qonnx_to_qcdq

    path = _qonnx(byom.mobilenet_v2(), tmp_path / "m.onnx", 16)
    with pytest.raises(OnnxError, match=r"QONNX op Trunc cannot be converted to QCDQ "
                                        r"\(TruncAvgPool2d's QONNX form rounds twice"):
        qonnx_to_qcdq(onnx.load(str(path)))


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


# ------------------------------------------------------------------ uint8 through the engine
def _u8_graph(seed: int = 0):
    """An IR chain with uint8 tensors everywhere the engine takes them: a uint8 input (255s
    meet -128 weights: the 9-bit operand's extreme product 255 * -128), pointwise and
    depthwise convs uint8 -> uint8 (saturation at 0 and 255), a table indexed by uint8 codes,
    a clamp to 0..200 (a table over uint8 codes), a pool uint8 -> uint8, a classifier
    uint8 -> int8. Shifts come from each layer's accumulator spread (the reference's own)."""
    from hfaccel.quant import intops
    from hfaccel.quant.ir import Graph, Layer
    from hfaccel.quant.reference import run_reference

    rng = np.random.default_rng(seed)
    c0, c1, hw = 8, 16, 8
    x = rng.integers(0, 256, size=(c0, hw, hw))
    x[rng.random(x.shape) < 0.15] = 255
    xf = (x * 2.0 ** -7)[None]
    layers = [Layer("input", "input", (), "input.q", x.shape, 7, unsigned=True)]

    def ref(name: str) -> np.ndarray:
        g = Graph(list(layers), "input", x.shape, layers[-1].output)
        return run_reference(g, xf)[name][0].astype(np.int64)

    def w8(shape):
        w = rng.integers(-128, 128, size=shape)
        w[rng.random(shape) < 0.1] = -128
        return w

    def conv(name, src, w, *, unsigned, clamp=None, groups=1, pads=(0, 0, 0, 0), fc=False):
        prev = next(ly for ly in layers if ly.output == src)
        xs = ref(src)
        acc = intops.conv2d((xs.reshape(-1, 1, 1) if fc else xs)[None], w, None, pads=pads,
                            groups=groups)[0]
        # per channel: the 10..90th percentiles onto about -20..230 codes (uint8: some
        # saturate at 0 and at 255), int8 about -128..100
        flat = acc.reshape(w.shape[0], -1)
        axis = 1 if flat.shape[1] >= 4 else None  # a classifier: the spread over channels
        lo, hi = (np.broadcast_to(np.percentile(flat, q, axis=axis), w.shape[:1])
                  for q in (10, 90))
        shift = np.clip(np.round(np.log2((hi - lo + 1) / 250)), 0, 20).astype(np.int64)
        b = (-lo + (-20 if unsigned else -128) * 2.0 ** shift).astype(np.int64)
        layers.append(Layer(name, "conv", (src,), f"{name}.q",
                            (w.shape[0],) if fc else acc.shape, 5, weight=w.astype(np.int8),
                            bias=b, f_w=shift - prev.f_out + 5, pads=pads, groups=groups,
                            f_in=(prev.f_out,), clamp=clamp, unsigned=unsigned,
                            u_in=(prev.unsigned,)))
        return f"{name}.q"

    a = conv("pw1", "input.q", w8((c1, c0, 1, 1)), unsigned=True)
    d = conv("dw", a, w8((c1, 1, 3, 3)), unsigned=True, groups=c1, pads=(1, 1, 1, 1))
    layers.append(Layer("dw.act", "act", (d,), "dw.act.q", (c1, hw, hw), 4,
                        table=rng.integers(-128, 128, size=256), function="random", f_in=(5,),
                        u_in=(True,)))
    p = conv("pw2", "dw.act.q", w8((c1, c1, 1, 1)), unsigned=True, clamp=(0, 200))
    layers.append(Layer("pool", "gap", (p,), "pool.q", (c1, 1, 1), 6, f_in=(5,),
                        extra={"in_hw": hw * hw}, unsigned=True, u_in=(True,)))
    conv("fc", "pool.q", w8((10, c1, 1, 1)), unsigned=False, fc=True)
    graph = Graph(layers, "input", x.shape, "fc.q", source="u8 chain")
    return graph, run_reference(graph, xf)


def test_uint8_chain_reaches_its_edges():
    graph, ref = _u8_graph()
    assert ref["input.q"].max() == 255 and ref["pw1.q"].min() == 0
    assert ref["pw1.q"].max() == 255 and ref["dw.q"].max() == 255 and ref["dw.q"].min() == 0
    assert ref["pw2.q"].max() == 200  # the clamp (a table over uint8 codes)
    assert len(np.unique(ref["dw.q"])) > 128  # the uint8-indexed table is read widely
    assert ref["pool.q"].dtype == np.uint8 and ref["fc.q"].dtype == np.int8
    w = graph["pw1"].weight
    assert ((ref["input.q"][0] == 255)[None] & (w == -128)).any()  # 255 * -128 occurs


@pytest.mark.parametrize("sim", ["verilator",
                                 pytest.param("icarus", marks=pytest.mark.slow)])
def test_uint8_chain_bit_exact_in_rtl(tmp_path, sim):
    from hfaccel.accel.compiler import compile_graph
    from hfaccel.sim.hwsim import compare, run_rtl

    graph, ref = _u8_graph()
    prog = compile_graph(graph, SMALL)
    flags = {(i.op, k) for i in prog.instrs for k in ("xu", "qu", "ou") if i[k]}
    assert {("GEMM", "xu"), ("GEMM", "qu"), ("DW", "xu"), ("DW", "qu"), ("GAP", "xu"),
            ("GAP", "ou")} <= flags
    res = run_rtl(prog, ref["input.q"][0], sim=sim, work=tmp_path, log=lambda *_: None)
    assert res["status"] == 0 and not res["timed_out"], res
    rows = compare(prog, Path(res["files"]["trace"]), {k: v[0] for k, v in ref.items()})
    bad = [f"{r.name}: {r.first_mismatch}" for r in rows if not r.bit_exact]
    assert not bad, bad
    assert len(rows) == len(graph.layers) - 1
