"""Training (float + QAT), checkpoints, and the reference check on a trained model."""

import copy

import numpy as np
import onnx
import pytest
import torch

from hfaccel.errors import HfaccelError
from hfaccel.model import Scaling, scale
from hfaccel.progress import NO_PROGRESS
from hfaccel.quant.calibrate import calibrate
from hfaccel.quant.check import check_reference
from hfaccel.quant.data import load_data
from hfaccel.quant.pipeline import quantize_to_onnx
from hfaccel.quant.qmodel import quantize_model
from hfaccel.quant.train import TrainConfig, evaluate, load_checkpoint, train

SMALL = scale(Scaling(0.25, 0.3, 32, hf=True), name="small")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    # All of digits (1437 training images), 3 float epochs: a usefully trained model (float
    # ~94%) in well under a minute on 2 cores, so that int8 accuracy can be held to float's.
    tc = TrainConfig(data="digits", epochs=3, qat_epochs=1)
    # One thread: with `pytest -n 2` or any other load on the 2 cores, torch's default two
    # threads per process spin against each other and training runs 20-50x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ck = train(SMALL, tc, log=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    path = tmp_path_factory.mktemp("ck") / "small.pt"
    ck.save(path)
    return ck, path


def test_training_learns_and_reports_float_and_int8(trained):
    ck, _ = trained
    assert ck.cfg.num_classes == 10  # the classifier follows the data set
    assert [h["phase"] for h in ck.history] == ["float", "float", "float", "qat"]
    assert ck.history[2]["loss"] < ck.history[1]["loss"] < ck.history[0]["loss"]
    assert ck.float_acc > 0.2  # chance is 0.1
    assert 0.0 <= ck.int8_acc <= 1.0


def test_int8_accuracy_follows_float(trained):
    """Issue 3: PTQ of a trained model fell to chance (float 52.8%, PTQ 11%, QAT 7.8% on HF3).
    Issue 19: PTQ within 3 points of float, measured by the integer reference (the hardware's
    numbers) on all 360 validation images."""
    ck, _ = trained
    assert ck.int8_measured_by == "integer reference"
    assert ck.float_acc > 0.8  # a usefully trained model, else the comparison says little
    assert ck.ptq_acc >= ck.float_acc - 0.03  # post-training quantization
    assert ck.int8_acc >= ck.ptq_acc - 0.02  # QAT does not make it worse


def test_ptq_ignores_a_common_offset_of_the_logits(trained):
    """A component shared by all classifier rows (RMSProp lets it grow) must not cost int8 range.

    It shifts every logit of an image alike, so the float model's predictions are unchanged;
    uncentered, it set the classifier's int8 output scale (2^1 on HF3 instead of 2^-3), coarser
    than the differences between the classes.
    """
    ck, _ = trained
    val = load_data("digits", "val")
    calib = load_data("digits", "train").subset(ck.train.calib_images, ck.train.seed)
    drifted = copy.deepcopy(ck.float_model)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        drifted.classifier.weight += 4.0 * torch.randn(drifted.classifier.in_features, generator=g)
        drifted.classifier.bias += 100.0
    assert evaluate(drifted, val, 32) == pytest.approx(ck.float_acc)
    scales, accs = [], []
    for model in (ck.float_model, drifted):
        q = quantize_model(model)
        calibrate(q, calib)
        scales.append(float(q.classifier.output_quant.scale().detach()))
        accs.append(evaluate(q, val, 32))
    assert scales[0] == scales[1] <= 2.0 ** -2
    assert accs[1] == pytest.approx(accs[0], abs=1.5 / len(val))


def test_checkpoint_roundtrip(trained):
    ck, path = trained
    back = load_checkpoint(path)
    assert back.cfg == ck.cfg and back.history == ck.history
    assert back.float_acc == ck.float_acc and back.ptq_acc == ck.ptq_acc
    val = load_data("digits", "val")
    assert evaluate(back.qmodel, val, 32) == pytest.approx(ck.int8_acc, abs=2 / len(val))
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(back.qmodel(x), ck.qmodel.eval()(x))


def test_trained_checkpoint_is_bit_exact(trained, tmp_path):
    ck, path = trained
    onnx_path, graph, _ = quantize_to_onnx(ck.cfg, tmp_path, checkpoint=str(path))
    x, _ = next(load_data("digits", "val", limit=4).batches(4, 32))
    res = check_reference(onnx.load(str(onnx_path)), graph, x.numpy())
    assert res.bit_exact, res.verdict()


def test_calibration_options_stay_in_the_contract_and_bit_exact(trained, tmp_path):
    """mse exponents and bias correction: powers of two (the export lowers), the integer
    reference equal to onnxruntime, accuracy near the default's."""
    from hfaccel.quant.accuracy import graph_accuracy
    from hfaccel.quant.export import export_onnx

    ck, _ = trained
    calib = load_data("digits", "train").subset(ck.train.calib_images, ck.train.seed)
    val = load_data("digits", "val")
    q = quantize_model(ck.float_model)
    calibrate(q, calib, method="mse", bias_correction=True)
    path, graph = export_onnx(q, tmp_path)
    x, _ = next(val.batches(4, 32))
    res = check_reference(onnx.load(str(path)), graph, x.numpy())
    assert res.bit_exact, res.verdict()
    assert graph_accuracy(graph, val) >= ck.float_acc - 0.05
    with pytest.raises(HfaccelError, match="unknown calibration method 'max'"):
        calibrate(q, calib, method="max")


def test_float_bias_correction_removes_the_drift_and_stays_bit_exact(trained, tmp_path):
    """``--bias-correction float``: after it, every layer's mean pre-activation per channel
    equals the float network's (up to the int32 bias rounding), the export is still in the
    contract and bit-exact, and a bad mode is one clear error."""
    import brevitas.nn as qnn

    from hfaccel.quant.calibrate import (
        _channel_means,
        bias_correction_mode,
        correct_biases_to_float,
    )
    from hfaccel.quant.export import export_onnx

    ck, _ = trained
    calib = load_data("digits", "train").subset(8, ck.train.seed)
    q = quantize_model(ck.float_model)
    calibrate(q, calib)
    layers = {n: m for n, m in q.named_modules()
              if isinstance(m, (qnn.QuantConv2d, qnn.QuantLinear))}
    target = _channel_means(q, calib, layers, quantized=False, batch=8)

    def drift():
        got = _channel_means(q, calib, layers, quantized=True, batch=8)
        return max(float((target[n] - got[n]).abs().max()) for n in layers)

    before = drift()
    correct_biases_to_float(q, calib, batch=8)  # calibrate(bias_correction="float") calls it
    assert drift() < 0.05 * before
    path, graph = export_onnx(q, tmp_path)
    x, _ = next(load_data("digits", "val").batches(4, 32))
    res = check_reference(onnx.load(str(path)), graph, x.numpy())
    assert res.bit_exact, res.verdict()
    assert bias_correction_mode(True) == "local" and bias_correction_mode(False) == "none"
    with pytest.raises(HfaccelError, match="unknown bias correction 'global'"):
        bias_correction_mode("global")


@pytest.mark.slow  # about 1 CPU-minute: a pass over the images per extra candidate of a tensor
def test_auto_calibration_never_worsens_the_output_and_stays_bit_exact(trained, tmp_path):
    """``auto``: each tensor's exponent is one of its candidates (Brevitas', mse's,
    percentile's), the network output error only goes down choice by choice, and the result
    exports within the contract, bit-exact."""
    from hfaccel.quant.calibrate import (
        _act_quantizers,
        _candidate_stats,
        choose_exponents_by_output,
        exponent_of,
    )
    from hfaccel.quant.export import export_onnx

    ck, _ = trained
    calib = load_data("digits", "train").subset(16, 0)  # small: one pass per extra candidate
    q = quantize_model(ck.float_model)
    calibrate(q, calib)
    quants = _act_quantizers(q)
    stats = _candidate_stats(q, calib, "candidates", 16, NO_PROGRESS)
    cands = {n: [exponent_of(m), stats[n].best_mse(), stats[n].percentile(99.999)]
             for n, m in quants.items()}
    assert any(len(set(c)) > 1 for c in cands.values())  # there is something to choose
    errors = list(choose_exponents_by_output(q, calib, cands).values())
    assert errors and errors == sorted(errors, reverse=True)
    assert all(exponent_of(m) in cands[n] for n, m in quants.items())
    path, graph = export_onnx(q, tmp_path)
    x, _ = next(load_data("digits", "val").batches(4, 32))
    res = check_reference(onnx.load(str(path)), graph, x.numpy())
    assert res.bit_exact, res.verdict()


def test_diagnosis_covers_every_layer_and_flags_a_saturating_scale(trained, tmp_path):
    from hfaccel.quant.calibrate import _act_quantizers, exponent_of, set_exponent
    from hfaccel.quant.export import export_onnx
    from hfaccel.quant.health import diagnose, write_diagnosis

    ck, _ = trained
    calib = load_data("digits", "train").subset(ck.train.calib_images, ck.train.seed)
    x, _ = next(load_data("digits", "val", limit=16).batches(16, 32))
    _, graph = export_onnx(ck.qmodel, tmp_path / "ok")
    rows = diagnose(ck.qmodel, graph, x)
    assert [r.name for r in rows] == [ly.name for ly in graph.layers]
    assert rows[0].name == "input" and rows[-1].name == "classifier"
    assert rows[1].name == "stem" and not rows[1].problem
    # four steps finer than calibration chose: the stem's output saturates (set before any
    # export: an exported model's quantizers keep the scale the export saw)
    q = quantize_model(ck.float_model)
    calibrate(q, calib)
    stem = _act_quantizers(q)["stem.conv.output_quant"]
    set_exponent(stem, exponent_of(stem) + 4)
    _, graph = export_onnx(q, tmp_path / "bad")
    bad = {r.name: r for r in diagnose(q, graph, x)}
    assert bad["stem"].clipped > 0.01 and "saturates" in bad["stem"].problem
    assert write_diagnosis(list(bad.values()), tmp_path / "h.csv").read_text().count("\n") == \
        len(bad) + 1


def test_cli_quantize_diagnose_writes_health_csv(trained, tmp_path, capsys):
    from hfaccel.cli import main

    _, path = trained
    assert main(["quantize", "--checkpoint", str(path), "--out", str(tmp_path),
                 "--diagnose", "8"]) == 0
    out = capsys.readouterr().out
    assert "SQNR own" in out and "quantized tensors flagged" in out
    rows = (tmp_path / "health.csv").read_text().splitlines()
    assert rows[0].startswith("name,op,exponent") and rows[1].startswith("input,input,")


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(HfaccelError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "x.pt").write_bytes(b"junk")
    with pytest.raises(HfaccelError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "x.pt")


def test_data_sets_load_offline():
    d = load_data("digits", "train", limit=10)
    x, y = next(d.batches(10, 16))
    assert x.shape == (10, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    f = load_data("fashion-mnist", "val", limit=5)
    assert f.images.shape[1:] == (1, 28, 28) and f.num_classes == 10
    with pytest.raises(HfaccelError, match="neither a known data set"):
        load_data("/nonexistent/folder")


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(
                tmp_path / cls / f"{i}.png")
    d = load_data(str(tmp_path), "train", resolution=16)
    assert d.classes == ("cat", "dog") and len(d) == 8 and d.images.shape[1:] == (3, 16, 16)
