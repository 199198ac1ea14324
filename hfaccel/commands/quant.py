"""``hfaccel quantize``, ``check-reference`` and ``train``: the quantization stage's commands."""

from __future__ import annotations

import argparse

from hfaccel.commands.common import (
    add_model_arguments,
    add_quant_arguments,
    add_weight_bits_argument,
    config_from_args,
    eval_data,
    resolve_quant_model,
)
from hfaccel.errors import HfaccelError

__all__ = ["register"]


def cmd_quantize(args: argparse.Namespace) -> int:
    path, graph, meta = resolve_quant_model(args)
    convs = [ly for ly in graph.layers if ly.op == "conv"]
    print(f"{meta['model']}: {len(graph.layers)} quantized tensors, {len(convs)} conv/FC layers, "
          f"{graph.macs / 1e6:.2f} M MACs")
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0


def cmd_check_reference(args: argparse.Namespace) -> int:
    import onnx

    from hfaccel.quant.check import check_reference
    from hfaccel.quant.data import load_data
    from hfaccel.quant.ort import DEPLOYMENTS

    path, graph, meta = resolve_quant_model(args)
    c, h, w = graph.input_shape
    if h != w or c != 3:
        raise HfaccelError(f"{path}: input {graph.input_shape} is not a square RGB image")
    args.data = eval_data(args)
    data = load_data(args.data, "val", limit=args.images, seed=args.seed + 1)
    x, labels = next(data.batches(args.images, h))
    deployment = None if args.deployment == "none" else DEPLOYMENTS[args.deployment]
    res = check_reference(onnx.load(str(path)), graph, x.numpy(), deployment)
    print(f"model {meta['model']} ({path}); {res.images} {args.data} image(s)")
    print(res.table())
    labels = labels.tolist()
    hits = sum(int(a == b) for a, b in zip(res.top1_reference, labels))
    if res.images <= 16:
        print(f"top-1: reference {res.top1_reference}, onnxruntime {res.top1_onnxruntime}, "
              f"labels {labels} ({hits}/{len(labels)} correct)")
    else:
        same = sum(int(a == b) for a, b in zip(res.top1_reference, res.top1_onnxruntime))
        print(f"top-1: reference = onnxruntime on {same}/{res.images} images, reference = "
              f"label on {hits}/{len(labels)}")
    print(res.verdict())
    if res.deployment is not None:
        print(res.deployment.line())
    return 0 if res.bit_exact else 1


def cmd_train(args: argparse.Namespace) -> int:
    from hfaccel.quant.train import TrainConfig, train

    cfg = config_from_args(args)
    tc = TrainConfig(data=args.data, epochs=args.epochs, qat_epochs=args.qat_epochs,
                     batch=args.batch, lr=args.lr, limit=args.limit, val_limit=args.val_limit,
                     seed=args.seed, weight_bits=args.weight_bits)
    ck = train(cfg, tc, resolution=args.resolution)
    wb = "" if tc.weight_bits == 8 else f"-w{tc.weight_bits}"
    out = args.out or f"build/{cfg.name}{wb}/train/checkpoint.pt"
    ck.save(out)
    weights = "" if tc.weight_bits == 8 else f" ({tc.weight_bits}-bit weights)"
    print(f"float accuracy {ck.float_acc:.2%}  int8 accuracy{weights} {ck.int8_acc:.2%} (PTQ "
          f"{ck.ptq_acc:.2%})  -> {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("quantize", help="quantize a model and export QCDQ ONNX + metadata",
                       description="Fixed-point (power-of-two) int8 quantization with Brevitas, "
                                   "exported as QCDQ ONNX that onnxruntime runs.")
    add_model_arguments(p)
    add_quant_arguments(p)
    p.add_argument("--out", help="output folder (default build/<model>/quant)")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("check-reference",
                       help="integer reference vs onnxruntime on every quantized tensor",
                       description="Runs the integer reference and onnxruntime on real images "
                                   "and compares every quantized tensor, 0 LSB, with "
                                   "onnxruntime's ONNX semantics (ORT_DISABLE_ALL, the same on "
                                   "every CPU); then reports how onnxruntime's optimized "
                                   "deployment session agrees on the logits, on this CPU.")
    add_model_arguments(p)
    add_quant_arguments(p)
    p.add_argument("--onnx", help="check this QCDQ ONNX file instead of a zoo model")
    p.add_argument("--images", type=int, default=2, help="number of real images")
    p.add_argument("--data", help="images: digits, fashion-mnist or an image folder (default: "
                   "the --checkpoint's training data, else fashion-mnist)")
    p.add_argument("--deployment", default="default",
                   choices=("default", "u8", "s8", "x64precision", "none"),
                   help="also run this onnxruntime deployment session and report its agreement "
                        "with the reference (not part of the verdict): default = "
                        "ORT_ENABLE_ALL; u8/s8 force/forbid the uint8 rewrite; x64precision = "
                        "session.x64quantprecision=1; none = skip")
    p.set_defaults(func=cmd_check_reference)

    p = sub.add_parser("train", help="float training then quantization-aware training",
                       description="The paper's recipe scaled to this machine: RMSProp, label "
                                   "smoothing, warm-up + cosine, EMA; float then QAT.")
    add_model_arguments(p)
    p.add_argument("--data", default="digits",
                   help="digits, fashion-mnist or an image folder (root/<class>/<image>)")
    p.add_argument("--epochs", type=int, default=3, help="float epochs")
    p.add_argument("--qat-epochs", type=int, default=1, help="quantization-aware epochs")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--limit", type=int, help="cap on training images")
    p.add_argument("--val-limit", type=int, help="cap on validation images")
    p.add_argument("--resolution", type=int, help="cap the input resolution (default: the "
                                                  "model's)")
    p.add_argument("--seed", type=int, default=0)
    add_weight_bits_argument(p, default=8)
    p.add_argument("--out", help="checkpoint path (default build/<model>/train/checkpoint.pt, "
                                 "build/<model>-w7/... for 7-bit weights)")
    p.set_defaults(func=cmd_train)

