"""Quantization, export and the integer reference against onnxruntime, end to end."""

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from hfaccel.cli import main
from hfaccel.errors import HfaccelError
from hfaccel.model import Scaling, scale
from hfaccel.quant.calibrate import default_quant_model
from hfaccel.quant.check import check_reference
from hfaccel.quant.data import load_data
from hfaccel.quant.export import export_onnx
from hfaccel.quant.ir import OnnxError, lower
from hfaccel.quant.reference import run_reference

# A small HF network: every op of the contract (stem, expand, depthwise 3x3/5x5 stride 1/2, SE,
# residual add, head, pooling, classifier) at a 32x32 input, so the suite stays fast.
SMALL = scale(Scaling(0.25, 0.3, 32, hf=True), name="small", num_classes=10)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    q = default_quant_model(SMALL, images=32)
    path, graph = export_onnx(q, out, metadata={"model": "small"})
    return q, path, graph


@pytest.fixture(scope="module")
def images():
    x, _ = next(load_data("fashion-mnist", "val", limit=4).batches(4, 32))
    return x.numpy()


def test_graph_lowers_to_every_op_of_the_contract(exported):
    _, _, graph = exported
    ops = {ly.op for ly in graph.layers}
    assert ops == {"input", "conv", "act", "add", "mul", "gap"}
    kinds = {ly.kind for ly in graph.layers if ly.op == "conv"}
    assert kinds == {"conv", "pointwise", "depthwise", "fc"}
    assert {ly.function for ly in graph.layers if ly.op == "act"} == {"swish", "sigmoid"}
    assert graph.macs == SMALL.macs  # the IR's MACs are the model's
    for ly in graph.layers:
        if ly.op == "conv":
            assert ly.weight.dtype == np.int8 and ly.weight.min() >= -128
            assert ly.acc_bound < 1 << 24


def test_reference_is_bit_exact_with_golden_onnxruntime(exported, images):
    _, path, graph = exported
    res = check_reference(onnx.load(str(path)), graph, images)
    assert res.bit_exact, res.verdict()
    assert all(v == 0 for v in res.max_diff.values())
    assert len(res.max_diff) == len(graph.layers)
    assert not res.degenerate, [(h.name, h.problem) for h in res.degenerate]
    assert res.top1_reference == res.top1_onnxruntime
    assert "ORT_DISABLE_ALL" in res.verdict()
    # onnxruntime's default session is reported beside the verdict, whatever this CPU does
    d = res.deployment
    assert d is not None and d.images == 4 and d.config.name == "default"
    assert "deployment agreement" in d.line() and "not part of the verdict" in d.line()
    if d.cpu.u8s8_exact:
        assert d.exact and d.top1 == 4 and d.max_lsb == 0, d.line()


def test_brevitas_model_equals_reference(exported, images):
    q, _, graph = exported
    with torch.no_grad():
        y = q(torch.from_numpy(images)).numpy()
    codes = run_reference(graph, images)[graph.output].astype(np.float64)
    np.testing.assert_array_equal(y, codes * 2.0 ** -graph.layers[-1].f_out)


def test_all_scales_are_powers_of_two_and_metadata_written(exported):
    _, path, graph = exported
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["model"] == "small" and len(meta["layers"]) == len(graph.layers)
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            s = inits[n.input[1]].astype(np.float64)
            assert np.array_equal(np.exp2(np.round(np.log2(s))), s), n.name


def _edit(path, fn):
    m = onnx.load(str(path))
    fn(m)
    return m


def test_non_power_of_two_scale_is_an_error_naming_the_node(exported):
    _, path, _ = exported

    def bad_scale(m):
        q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear" and "stem" in n.name)
        m.graph.initializer.append(numpy_helper.from_array(np.array(0.3, np.float32), "bad_s"))
        q.input[1] = "bad_s"

    with pytest.raises(OnnxError, match=r"node '/stem.*QuantizeLinear.*not a power of two"):
        lower(_edit(path, bad_scale))


def test_nonzero_zero_point_and_unsupported_op_are_errors(exported):
    _, path, _ = exported

    def bad_zp(m):
        q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear")
        m.graph.initializer.append(numpy_helper.from_array(np.array(3, np.int8), "bad_zp"))
        q.input[2] = "bad_zp"

    with pytest.raises(OnnxError, match="zero point must be 0"):
        lower(_edit(path, bad_zp))

    def maxpool(m):
        n = next(n for n in m.graph.node if n.op_type == "GlobalAveragePool")
        n.op_type = "MaxPool"

    with pytest.raises(OnnxError, match="op MaxPool is not in the supported subset"):
        lower(_edit(path, maxpool))


def test_dynamic_shape_and_wrong_input_shape_are_errors(exported, images):
    _, path, graph = exported

    def dynamic(m):
        m.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"

    with pytest.raises(OnnxError, match="static C, H, W"):
        lower(_edit(path, dynamic))
    with pytest.raises(HfaccelError, match=r"input shape \(4, 3, 16, 16\) does not match"):
        run_reference(graph, images[:, :, :16, :16])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(OnnxError, match="does not exist"):
        lower(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_text("not onnx")
    with pytest.raises(OnnxError, match="cannot read ONNX file"):
        lower(tmp_path / "junk.onnx")


def test_cli_check_reference_on_an_onnx_file(exported, capsys):
    _, path, _ = exported
    assert main(["check-reference", "--onnx", str(path), "--images", "2"]) == 0
    out = capsys.readouterr().out
    assert "PASS:" in out and "bit-exact (0 LSB)" in out and "golden session" in out
    assert "deployment agreement (not part of the verdict)" in out and "CPU " in out
    assert main(["check-reference", "--onnx", str(path), "--weight-bits", "7"]) == 2


def test_check_reference_reports_the_first_mismatch(exported):
    _, path, graph = exported
    # A tampered table (one LSB up for non-negative codes) must be caught and named.
    layer = next(ly for ly in graph.layers if ly.op == "act")
    saved = layer.table
    layer.table = np.clip(saved + (np.arange(256) >= 128), -128, 127)
    try:
        res = check_reference(onnx.load(str(path)), graph,
                              np.full((1, 3, 32, 32), 0.5, np.float32))
    finally:
        layer.table = saved
    assert not res.bit_exact
    assert res.mismatches[0].layer == layer.name
    assert "first at index" in res.verdict() and res.verdict().startswith("FAIL")


def test_seven_bit_weights_stay_in_the_contract(tmp_path, images):
    """--weight-bits 7: codes -64..63 (onnxruntime's fused kernels cannot saturate on them), the
    same IR, reference and compiler; recorded in model.json and its cache key."""
    from hfaccel.accel.compiler import compile_graph
    from hfaccel.accel.config import SMALL as SMALL_HW
    from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx

    path, graph, meta = quantize_to_onnx(SMALL, tmp_path, images=32, weight_bits=7)
    assert meta["weight_bits"] == 7 and meta["cache_key"]["weight_bits"] == 7
    w = np.concatenate([ly.weight.ravel() for ly in graph.layers if ly.op == "conv"])
    assert w.min() >= -64 and w.max() <= 63 and np.abs(w).max() >= 60
    res = check_reference(onnx.load(str(path)), graph, images)
    assert res.bit_exact, res.verdict()
    assert compile_graph(graph, SMALL_HW).ops  # the compiler takes it unchanged
    assert default_out_dir("hf3", 7).as_posix() == "build/hf3-w7/quant"
    with pytest.raises(HfaccelError, match="weight bits must be an integer from 2 to 8"):
        quantize_to_onnx(SMALL, tmp_path, weight_bits=9)
