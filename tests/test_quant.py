"""Quantization pieces that decide int8 accuracy (issue 3): fast, no training."""

import torch
from brevitas.graph.calibrate import quantization_status_manager

from hfaccel.model import Scaling, scale
from hfaccel.model.net import build_model
from hfaccel.quant.qmodel import center_classifier, quantize_model
from hfaccel.quant.train import RMSpropTF

SMALL = scale(Scaling(0.25, 0.3, 32, hf=True), name="small", num_classes=10)


def test_center_classifier_keeps_softmax_and_removes_the_common_offset():
    torch.manual_seed(0)
    w, b = torch.randn(10, 64), torch.randn(10)
    w_drift, b_drift = w + 3.0 * torch.randn(1, 64), b + 7.0  # one vector added to every row
    x = torch.randn(32, 64)
    cw, cb = center_classifier(w_drift, b_drift)
    y, yc = x @ w_drift.T + b_drift, x @ cw.T + cb
    torch.testing.assert_close(yc.softmax(1), y.softmax(1))
    assert torch.equal(yc.argmax(1), y.argmax(1))
    assert yc.mean(1).abs().max() < 1e-4  # logits centered for every input
    torch.testing.assert_close(center_classifier(w, b)[0], cw)  # drift gone entirely


def test_quantized_model_equals_float_up_to_one_offset_per_image():
    model = build_model(SMALL, seed=0).eval()
    with torch.no_grad():  # a large common component, as RMSProp training leaves it
        model.classifier.weight += 0.5
        model.classifier.bias += 20.0
    q = quantize_model(model)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.no_grad(), quantization_status_manager(
            q, disable_act_quant=True, disable_weight_quant=True, disable_bias_quant=True,
            is_training=False):
        yq = q(x)
    with torch.no_grad():
        y = model(x)
    d = y - yq
    torch.testing.assert_close(d, d[:, :1].expand_as(d), atol=1e-4, rtol=1e-5)
    assert yq.mean(1).abs().max() < 1e-3 < d.abs().min()


def test_rmsprop_tf_follows_tensorflow():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = RMSpropTF([p], lr=0.1, alpha=0.9, eps=1e-3, momentum=0.9)
    ms, mom, w = torch.ones(2), torch.zeros(2), p.detach().clone()
    for g in (torch.tensor([0.5, 1e-3]), torch.tensor([-0.2, 2e-3]), torch.tensor([0.1, 0.0])):
        p.grad = g.clone()
        opt.step()
        ms = 0.9 * ms + 0.1 * g * g
        mom = 0.9 * mom + 0.1 * g / torch.sqrt(ms + 1e-3)
        w = w - mom
        torch.testing.assert_close(p.detach(), w)
    # The first step scales with the gradient (torch.optim.RMSprop moves every weight by
    # ~3 * lr there, a 1e-3 gradient as much as a 0.5 one).
    q = torch.nn.Parameter(torch.zeros(2))
    first = RMSpropTF([q], lr=0.1)
    q.grad = torch.tensor([0.5, 1e-3])
    first.step()
    step = q.detach().abs()
    assert 1e-3 < float(step[1] / step[0]) < 3e-3  # ~ the gradients' ratio, 2e-3
    # Resumable: the state survives state_dict / load_state_dict.
    again = RMSpropTF([torch.nn.Parameter(p.detach().clone())], lr=0.1)
    again.load_state_dict(opt.state_dict())
    torch.testing.assert_close(again.state_dict()["state"][0]["square_avg"], ms)
