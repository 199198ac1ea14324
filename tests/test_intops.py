"""The contract's integer ops against onnxruntime, edge cases included (docs/numerics.md)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from hfaccel.quant import intops


def _run(nodes, inputs: dict, outputs: list[str], initializers=()) -> list[np.ndarray]:
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in inputs.items()],
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(outputs, {k: v.astype(np.float32) for k, v in inputs.items()})


def _const(name, value, dtype=np.float32):
    return onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def ort_quantize(x_real: np.ndarray, f_out: int) -> np.ndarray:
    """onnxruntime QuantizeLinear(x, 2**-f_out, 0) to int8."""
    (y,) = _run([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], {"x": x_real},
                ["y"], [_const("s", 2.0 ** -f_out), _const("z", 0, np.int8)])
    return y.astype(np.int64)


@pytest.mark.parametrize("shift", [1, 2, 3, 5, 8, 12])
def test_round_shift_ties_both_signs_match_quantizelinear(shift):
    half = 1 << (shift - 1)
    k = np.arange(-20, 21, dtype=np.int64)
    acc = np.concatenate([(k << shift) + half, (k << shift) - half, (k << shift) + half + 1,
                          (k << shift) + half - 1, k << shift])
    ours = intops.requantize(acc, shift)
    theirs = ort_quantize(acc.astype(np.float64) * 2.0 ** -shift, 0)
    np.testing.assert_array_equal(ours, theirs)
    # ties go to even, on both signs
    assert intops.round_shift(np.array([1, 3, -1, -3, 5, -5]) << (shift - 1), shift).tolist() == \
        [0, 2, 0, -2, 2, -2]


def test_saturation_and_left_shift():
    acc = np.array([127, 128, -128, -129, 1000, -1000, 3, -3, 64, -65])
    np.testing.assert_array_equal(intops.requantize(acc, 0), np.clip(acc, -128, 127))
    # a negative shift is a left shift, and saturates too
    np.testing.assert_array_equal(intops.requantize(acc, -1), np.clip(acc * 2, -128, 127))
    np.testing.assert_array_equal(intops.requantize(acc, -2),
                                  ort_quantize(acc.astype(np.float64), 2))


def test_per_channel_shifts_broadcast():
    rng = np.random.default_rng(0)
    acc = rng.integers(-(1 << 20), 1 << 20, size=(2, 6, 3, 3))
    shifts = np.array([0, 1, 4, 7, 10, -1])
    ours = intops.requantize(acc, shifts[None, :, None, None])
    for c, s in enumerate(shifts):
        np.testing.assert_array_equal(ours[:, c], ort_quantize(acc[:, c] * 2.0 ** -s, 0))


def _qconv_ort(x, fx, w, fw, b, stride, pads, groups, f_out):
    """Dequantized Conv in onnxruntime, then QuantizeLinear: what the exported graph computes."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["acc"], strides=[stride, stride], pads=pads,
                         group=groups),
        helper.make_node("QuantizeLinear", ["acc", "s", "z"], ["y"]),
    ]
    inits = [_const("w", w * 2.0 ** -fw[:, None, None, None]),
             _const("b", b * 2.0 ** -(fx + fw)), _const("s", 2.0 ** -f_out),
             _const("z", 0, np.int8)]
    (y,) = _run(nodes, {"x": x * 2.0 ** -fx}, ["y"], inits)
    return y.astype(np.int64)


@pytest.mark.parametrize("cin, cout, k, stride, groups, hw", [
    (3, 8, 3, 2, 1, 9), (16, 24, 1, 1, 1, 5), (8, 8, 3, 1, 8, 8), (8, 8, 5, 2, 8, 8),
    (12, 12, 5, 1, 12, 7), (32, 10, 1, 1, 1, 1), (6, 4, 3, 1, 2, 6),
])
def test_conv_matches_onnxruntime(cin, cout, k, stride, groups, hw):
    rng = np.random.default_rng(cin * 100 + k)
    x = rng.integers(-128, 128, size=(2, cin, hw, hw))
    x.flat[0] = -128
    w = rng.integers(-128, 128, size=(cout, cin // groups, k, k))
    w.flat[0] = -128  # -128 * -128 is the largest product
    fx, fw = 5, rng.integers(4, 9, size=cout)
    b = rng.integers(-5000, 5000, size=cout)
    pads = [k // 2] * 4
    f_out = 3
    acc = intops.conv2d(x, w, b, stride=stride, pads=tuple(pads), groups=groups)
    ours = intops.requantize(acc, (fx + fw - f_out)[None, :, None, None])
    np.testing.assert_array_equal(ours, _qconv_ort(x, fx, w, fw, b, stride, pads, groups, f_out))


def test_add_mul_pool_match_onnxruntime():
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, size=(2, 4, 8, 8))
    b = rng.integers(-128, 128, size=(2, 4, 8, 8))
    g = rng.integers(0, 128, size=(2, 4, 1, 1))
    a[0, 0, 0, :3] = [-128, 127, 1]
    g[0, 0] = 127
    fa, fb, fg, fo = 4, 6, 7, 5
    nodes = [
        helper.make_node("Add", ["a", "b"], ["s"]),
        helper.make_node("QuantizeLinear", ["s", "so", "z"], ["ys"]),
        helper.make_node("Mul", ["a", "g"], ["m"]),
        helper.make_node("QuantizeLinear", ["m", "so", "z"], ["ym"]),
        helper.make_node("GlobalAveragePool", ["a"], ["p"]),
        helper.make_node("QuantizeLinear", ["p", "sp", "z"], ["yp"]),
    ]
    inits = [_const("so", 2.0 ** -fo), _const("sp", 2.0 ** -7), _const("z", 0, np.int8)]
    ys, ym, yp = _run(nodes, {"a": a * 2.0 ** -fa, "b": b * 2.0 ** -fb, "g": g * 2.0 ** -fg},
                      ["ys", "ym", "yp"], inits)
    np.testing.assert_array_equal(intops.add(a, fa, b, fb, fo), ys)
    np.testing.assert_array_equal(intops.mul(a, fa, g, fg, fo), ym)
    np.testing.assert_array_equal(intops.global_avg_pool(a, fa, 7), yp)


def test_pool_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power-of-two H\\*W, got 7x7 = 49"):
        intops.global_avg_pool(np.zeros((1, 1, 7, 7), np.int64), 0, 0)


def test_lookup_covers_all_codes():
    table = np.arange(256) - 128
    x = np.arange(-128, 128)
    np.testing.assert_array_equal(intops.lookup(table[::-1], x), -x - 1)
