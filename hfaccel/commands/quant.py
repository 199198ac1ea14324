"""``hfaccel quantize``, ``check-reference`` and ``train``: the quantization stage's commands."""

from __future__ import annotations

import argparse

from hfaccel.commands.args import (
    HW_HELP,
    data_source,
    hw_config,
    input_file,
    nonneg_int,
    out_dir,
    out_file,
    positive_float,
    positive_int,
)
from hfaccel.commands.common import (
    add_calibration_arguments,
    add_model_arguments,
    add_quant_arguments,
    add_weight_bits_argument,
    check_batch,
    check_contract,
    config_from_args,
    eval_data,
    eval_images,
    resolve_quant_model,
)
from hfaccel.errors import HfaccelError

__all__ = ["register"]

# onnxruntime deployment sessions (hfaccel.quant.ort.DEPLOYMENTS, and "none"; a test keeps
# them equal)
DEPLOYMENT_CHOICES = ("default", "u8", "s8", "x64precision", "none")
LIST_MAX = 16  # per-image top-1 lists up to this many images; a summary beyond


def cmd_quantize(args: argparse.Namespace) -> int:
    path, graph, meta = resolve_quant_model(args)
    convs = [ly for ly in graph.layers if ly.op == "conv"]
    print(f"{meta['model']}: {len(graph.layers)} quantized tensors, {len(convs)} conv/FC layers, "
          f"{graph.macs / 1e6:.2f} M MACs")
    print(f"wrote {path} and {path.with_suffix('.json')}")
    if args.diagnose:
        _diagnose(args, graph, meta, path)
    return 0


def _diagnose(args: argparse.Namespace, graph, meta: dict, path) -> None:
    """``--diagnose N``: per-layer signal health on N validation images (hfaccel.quant.health)."""
    from hfaccel.quant.data import load_data
    from hfaccel.quant.health import diagnose, format_diagnosis, write_diagnosis

    if args.checkpoint:
        from hfaccel.quant.train import load_checkpoint

        ck = load_checkpoint(args.checkpoint)
        qmodel, data = ck.qmodel, ck.train.data
    else:
        from hfaccel.quant.calibrate import default_quant_model

        cfg = config_from_args(args)
        qmodel = default_quant_model(cfg, seed=args.seed, data=args.calib_data,
                                     images=args.calib_images, weight_bits=meta["weight_bits"],
                                     method=args.calibration,
                                     bias_correction=args.bias_correction,
                                     progress=args.progress)
        data = args.calib_data
    val = load_data(data, "val", limit=args.diagnose, seed=args.seed + 1)  # or all it has
    _, h, w = graph.input_shape
    x, _ = next(val.batches(len(val), (h, w)))
    with args.progress.timer(f"signal health on {len(val)} {data} image(s)"):
        rows = diagnose(qmodel, graph, x)
    print(format_diagnosis(rows))
    bad = [r for r in rows if r.problem]
    out = write_diagnosis(rows, path.parent / "health.csv")
    print(f"{len(bad)} of {len(rows)} quantized tensors flagged; wrote {out}")


def cmd_check_reference(args: argparse.Namespace) -> int:
    import time

    from hfaccel.accel.capability import check_fit

    path, graph, meta = resolve_quant_model(args)
    c, h, w = graph.input_shape
    if c != 3:
        raise HfaccelError(f"{path}: input {c}x{h}x{w} has {c} channels; the image loaders "
                           "make RGB (3-channel) images")
    fit = check_fit(graph, args.hw)  # milliseconds: before the reference runs
    args.log(f"hardware: {fit.line()}")
    args.data = eval_data(args)
    n = eval_images(args, args.data, args.seed + 1, args.log)
    check_batch(graph, n)

    import onnx

    from hfaccel.quant.check import check_reference
    from hfaccel.quant.data import load_data
    from hfaccel.quant.ort import DEPLOYMENTS

    data = load_data(args.data, "val", limit=n, seed=args.seed + 1)
    x, labels = next(data.batches(n, (h, w)))
    deployment = None if args.deployment == "none" else DEPLOYMENTS[args.deployment]
    t0 = time.perf_counter()
    with args.progress.timer(f"reference and onnxruntime on {n} image(s)"):
        res = check_reference(onnx.load(str(path)), graph, x.numpy(), deployment)
    where = "" if str(meta["model"]) == str(path) else f" ({path})"
    print(f"model {meta['model']}{where}; {res.images} {args.data} image(s), "
          f"{time.perf_counter() - t0:.1f} s")
    print(res.table())
    labels = labels.tolist()
    hits = sum(int(a == b) for a, b in zip(res.top1_reference, labels))
    same = sum(int(a == b) for a, b in zip(res.top1_reference, res.top1_onnxruntime))
    if n <= LIST_MAX:
        print(f"top-1: reference {res.top1_reference}, onnxruntime {res.top1_onnxruntime}, "
              f"labels {labels} ({hits}/{n} correct)")
    else:
        print(f"top-1: reference equal to onnxruntime on {same}/{n} images; {hits}/{n} correct "
              f"({hits / n:.1%})")
    print(res.verdict())
    if res.deployment is not None:
        print(res.deployment.line())
    if not fit.ok:
        print(f"hardware: {fit.line()}")
    return 0 if res.bit_exact else 1


def cmd_train(args: argparse.Namespace) -> int:
    from hfaccel.quant.train import TrainConfig, train

    cfg = config_from_args(args)
    trained = cfg
    if args.resolution:  # the network train() builds: the same coefficients at this input
        from hfaccel.model import Scaling, scale

        trained = scale(Scaling(cfg.scaling.width, cfg.scaling.depth, args.resolution,
                                cfg.scaling.hf), name=cfg.name)
    try:  # the float model trains anyway; say now that its checkpoint will not export
        check_contract(trained)
    except HfaccelError as e:
        args.log(f"note: {e}; the checkpoint will train but not export to QCDQ ONNX")
    tc = TrainConfig(data=args.data, epochs=args.epochs, qat_epochs=args.qat_epochs,
                     batch=args.batch, lr=args.lr, limit=args.limit, val_limit=args.val_limit,
                     seed=args.seed, weight_bits=args.weight_bits,
                     calibration=args.calibration, bias_correction=args.bias_correction)
    ck = train(cfg, tc, resolution=args.resolution, log=args.log, progress=args.progress)
    wb = "" if tc.weight_bits == 8 else f"-w{tc.weight_bits}"
    out = args.out or f"build/{cfg.name}{wb}/train/checkpoint.pt"
    ck.save(out)
    weights = "" if tc.weight_bits == 8 else f" ({tc.weight_bits}-bit weights)"
    print(f"float accuracy {ck.float_acc:.2%}  int8 accuracy{weights} {ck.int8_acc:.2%} (PTQ "
          f"{ck.ptq_acc:.2%})  -> {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "quantize", help="quantize a model and export QCDQ ONNX + metadata",
        description="Fixed-point (power-of-two) int8 quantization with Brevitas, exported as "
                    "QCDQ ONNX that onnxruntime runs. The result is cached: the same inputs "
                    "reuse it.",
        epilog="examples:\n"
               "  hfaccel quantize HF3                      # build/hf3/quant/model.onnx + .json\n"
               "  hfaccel quantize HF3 --out /tmp/q         # elsewhere (quantized afresh)\n"
               "  hfaccel quantize --w 0.5 --d 0.5 --res 64 --hf\n"
               "  hfaccel quantize --checkpoint build/hf3/train/checkpoint.pt")
    add_model_arguments(p)
    add_quant_arguments(p)
    p.add_argument("--out", type=out_dir,
                   help="output folder (default: build/<model>/quant)")
    p.add_argument("--diagnose", type=positive_int, metavar="IMAGES",
                   help="per-layer signal health on this many validation images (the "
                        "checkpoint's data, else the calibration data): chosen exponents, "
                        "clipped and zero codes, SQNR of each tensor alone and accumulated; "
                        "printed and written to health.csv beside model.onnx")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser(
        "check-reference", help="integer reference vs onnxruntime on every quantized tensor",
        description="Runs the integer reference and onnxruntime on real images and compares "
                    "every quantized tensor, 0 LSB, with onnxruntime's ONNX semantics "
                    "(ORT_DISABLE_ALL, the same on every CPU); then reports how onnxruntime's "
                    "optimized deployment session agrees on the logits on this CPU (not part of "
                    "the verdict). It also says, before running, whether the model fits the "
                    "hardware config (--hw): the compiler's answer, naming the layer and the "
                    "limit when it does not (the exit status is the check's).",
        epilog="examples:\n"
               "  hfaccel check-reference HF3 --images 2\n"
               "  hfaccel check-reference --onnx my.onnx --data digits --hw small\n"
               "  hfaccel check-reference HF3 --weight-bits 7 --images 64")
    add_model_arguments(p)
    add_quant_arguments(p)
    p.add_argument("--onnx", type=input_file(".onnx", what="an ONNX file"),
                   help="check this QCDQ ONNX file instead of a zoo model")
    p.add_argument("--images", type=positive_int, default=2,
                   help="number of real images (capped to the data set's validation images)")
    p.add_argument("--data", type=data_source,
                   help="images: digits, fashion-mnist or an image folder (default: the "
                        "--checkpoint's training data, else fashion-mnist)")
    p.add_argument("--deployment", default="default", choices=DEPLOYMENT_CHOICES,
                   help="also run this onnxruntime deployment session and report its agreement "
                        "with the reference (not part of the verdict): default = "
                        "ORT_ENABLE_ALL; u8/s8 force/forbid the uint8 rewrite; x64precision = "
                        "session.x64quantprecision=1; none = skip")
    p.add_argument("--hw", type=hw_config, default="default",
                   help=HW_HELP + "; the model is checked against it")
    p.set_defaults(func=cmd_check_reference)

    p = sub.add_parser(
        "train", help="float training then quantization-aware training",
        description="The paper's recipe scaled to this machine: RMSProp, label smoothing, "
                    "warm-up + cosine, EMA; float then QAT. Progress per batch on a terminal.",
        epilog="examples:\n"
               "  hfaccel train HF3 --data digits --epochs 3 --qat-epochs 1 --resolution 32\n"
               "  hfaccel hw-sim --checkpoint build/hf3/train/checkpoint.pt --images 4")
    add_model_arguments(p)
    p.add_argument("--data", type=data_source, default="digits",
                   help="digits, fashion-mnist or an image folder (root/<class>/<image>)")
    p.add_argument("--epochs", type=nonneg_int, default=3, help="float epochs")
    p.add_argument("--qat-epochs", type=nonneg_int, default=1,
                   help="quantization-aware epochs")
    p.add_argument("--batch", type=positive_int, default=32, help="images per training step")
    p.add_argument("--lr", type=positive_float, default=0.005,
                   help="RMSProp learning rate at this batch size (QAT uses a fraction)")
    p.add_argument("--limit", type=positive_int,
                   help="cap on training images (default: all)")
    p.add_argument("--val-limit", type=positive_int,
                   help="cap on validation images (default: all)")
    p.add_argument("--resolution", type=positive_int,
                   help="cap the input resolution (default: the model's)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="weights, data and dropout seed")
    add_weight_bits_argument(p, default=8)
    add_calibration_arguments(p)
    p.add_argument("--out", type=out_file,
                   help="checkpoint path (default: build/<model>/train/checkpoint.pt, "
                        "build/<model>-w7/... for 7-bit weights)")
    p.set_defaults(func=cmd_train)
