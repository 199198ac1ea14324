"""Training (float + QAT), checkpoints, and the reference check on a trained model."""

import numpy as np
import onnx
import pytest
import torch

from hfaccel.errors import HfaccelError
from hfaccel.model import Scaling, scale
from hfaccel.quant.data import load_data
from hfaccel.quant.pipeline import quantize_to_onnx
from hfaccel.quant.train import TrainConfig, evaluate, load_checkpoint, train
from hfaccel.sim.check import check_reference

SMALL = scale(Scaling(0.25, 0.3, 32, hf=True), name="small")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tc = TrainConfig(data="digits", epochs=2, qat_epochs=1, limit=512, val_limit=128)
    ck = train(SMALL, tc, log=lambda *_: None)
    path = tmp_path_factory.mktemp("ck") / "small.pt"
    ck.save(path)
    return ck, path


def test_training_learns_and_reports_float_and_int8(trained):
    ck, _ = trained
    assert ck.cfg.num_classes == 10  # the classifier follows the data set
    assert [h["phase"] for h in ck.history] == ["float", "float", "qat"]
    assert ck.history[1]["loss"] < ck.history[0]["loss"]
    assert ck.float_acc > 0.2  # chance is 0.1
    assert 0.0 <= ck.int8_acc <= 1.0


@pytest.mark.xfail(strict=True, reason="known bug (issue 3 open): after calibrating a trained "
                   "model, the classifier's output scale comes out far too coarse and int8 "
                   "accuracy drops to chance")
def test_int8_accuracy_follows_float(trained):
    ck, _ = trained
    assert ck.int8_acc > 0.8 * ck.float_acc


def test_checkpoint_roundtrip(trained):
    ck, path = trained
    back = load_checkpoint(path)
    assert back.cfg == ck.cfg and back.history == ck.history
    val = load_data("digits", "val", limit=128)
    assert evaluate(back.qmodel, val, 32) == pytest.approx(ck.int8_acc)
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(back.qmodel(x), ck.qmodel.eval()(x))


def test_trained_checkpoint_is_bit_exact(trained, tmp_path):
    ck, path = trained
    onnx_path, graph, _ = quantize_to_onnx(ck.cfg, tmp_path, checkpoint=str(path))
    x, _ = next(load_data("digits", "val", limit=4).batches(4, 32))
    res = check_reference(onnx.load(str(onnx_path)), graph, x.numpy())
    assert res.bit_exact, res.verdict()


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
