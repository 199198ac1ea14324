"""Arguments and model resolution shared by the commands.

Only ``argparse`` and :mod:`hfaccel.errors` at import time: ``hfaccel --help`` builds every
parser, so anything heavy is imported inside the functions. Every check that needs no model runs
before the model is quantized (minutes when not cached); the ones that need its graph run right
after, before any data is loaded or hardware generated.
"""

from __future__ import annotations

import argparse

from hfaccel.commands.args import (
    bias_correction,
    calibration_method,
    data_source,
    input_file,
    nonneg_int,
    positive_float,
    positive_int,
)
from hfaccel.errors import HfaccelError

__all__ = ["add_calibration_arguments", "add_model_arguments", "add_quant_arguments",
           "add_weight_bits_argument",
           "check_batch", "check_contract", "coefficients_given", "config_from_args",
           "custom_config", "eval_data", "eval_images", "resolve_quant_model"]


def unit_float(s: str) -> float:
    """A width coefficient: 0 < w <= 1."""
    try:
        v = float(s)
    except ValueError:
        v = float("nan")
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"{s!r} is not allowed: expected a width coefficient w in "
                                         "(0, 1]")
    return v


def add_model_arguments(p: argparse.ArgumentParser, *, many: bool = False) -> None:
    """A model by registry name (``HF3``) or by coefficients (``--w --d --res [--hf]``)."""
    if many:
        p.add_argument("models", nargs="*", metavar="MODEL",
                       help="registered model names (default: all), case-insensitive")
    else:
        p.add_argument("model", nargs="?", metavar="MODEL",
                       help="registered model name, e.g. HF3 (case-insensitive; `hfaccel "
                            "models` lists them)")
    g = p.add_argument_group("model by coefficients")
    g.add_argument("--w", type=unit_float, help="width coefficient, 0 < w <= 1")
    g.add_argument("--d", type=positive_float, help="depth coefficient, d > 0")
    g.add_argument("--res", type=positive_int, help="input resolution in pixels")
    g.add_argument("--hf", action="store_true",
                   help="hardware-friendly transform (power-of-two channels and resolution)")
    g.add_argument("--name", default=None, help="name of the model given by coefficients "
                                                "(default: derived from them)")


def coefficients_given(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.w, args.d, args.res)) or args.hf


def custom_config(args: argparse.Namespace, num_classes: int = 1000):
    from hfaccel.model import Scaling, scale

    missing = [f"--{k}" for k in ("w", "d", "res") if getattr(args, k) is None]
    if missing:
        raise HfaccelError(f"a model by coefficients needs {', '.join(missing)} as well")
    s = Scaling(args.w, args.d, args.res, args.hf)
    name = args.name or (f"{'hf' if s.hf else 'custom'}-w{s.width:g}-d{s.depth:g}-r{s.resolution}")
    return scale(s, name=name, num_classes=num_classes)


def config_from_args(args: argparse.Namespace, num_classes: int = 1000):
    """The :class:`NetConfig` named by ``add_model_arguments`` (one model)."""
    from hfaccel.model import get_config

    if coefficients_given(args):
        if args.model:
            raise HfaccelError(f"give either a model name ({args.model}) or coefficients, "
                               "not both")
        return custom_config(args, num_classes)
    if not args.model:
        raise HfaccelError("no model given: name one (e.g. HF3) or give --w --d --res [--hf]")
    return get_config(args.model, num_classes=num_classes)


def add_quant_arguments(p: argparse.ArgumentParser) -> None:
    from hfaccel.quant.defaults import DEFAULT_CALIBRATION as D

    g = p.add_argument_group("quantization (cached under build/<model>/quant)")
    g.add_argument("--checkpoint", type=input_file(what="a checkpoint"),
                   help="a trained checkpoint (hfaccel train) instead of the default seeded, "
                        "calibrated weights")
    g.add_argument("--seed", type=nonneg_int, default=D["seed"], help="weights and data seed")
    g.add_argument("--calib-data", type=data_source, default=D["data"],
                   help="calibration images: digits, fashion-mnist or an image folder")
    g.add_argument("--calib-images", type=positive_int, default=D["images"],
                   help="number of calibration images")
    add_calibration_arguments(g)
    add_weight_bits_argument(g, default=None)


def add_calibration_arguments(p) -> None:
    """``--calibration`` and ``--bias-correction`` (quant/calibrate.py, docs/numerics.md)."""
    from hfaccel.quant.defaults import DEFAULT_CALIBRATION as D

    p.add_argument("--calibration", type=calibration_method, default=D["method"],
                   metavar="{brevitas,mse,percentile,auto}",
                   help="how each activation's power-of-two scale is chosen: brevitas = per "
                        "batch 99.999th percentile of |x|, averaged, rounded up; mse = least "
                        "squared error; percentile = 99.999th percentile over all values; auto "
                        "= per tensor the one of these three whose network output is closest "
                        "to the float network's (docs/numerics.md compares them; a "
                        "--checkpoint keeps its own)")
    p.add_argument("--bias-correction", nargs="?", const="local", type=bias_correction,
                   default=D["bias_correction"], metavar="{none,local,float}",
                   help="what each conv/FC bias absorbs after calibration: local (the flag "
                        "alone) = the mean output shift of its own weight quantization; float = "
                        "layer by layer, the quantized network's mean shift against the float "
                        "network's (docs/numerics.md)")


def add_weight_bits_argument(p: argparse.ArgumentParser, default: int | None) -> None:
    p.add_argument("--weight-bits", type=int, choices=range(2, 9), default=default,
                   metavar="{2..8}",
                   help="weight code width: 8 = full int8 (default"
                        + ("" if default else "; a --checkpoint keeps its own") + "), 7 = "
                        "-64..63, exact in onnxruntime's optimized session on every x86 CPU "
                        "(docs/numerics.md)")


def check_contract(cfg) -> None:
    """What the integer contract needs of a model, checked before it is quantized (minutes):
    average pooling is a shift, so every pooled map (each block's squeeze-excitation, the final
    pool) must have 2^k pixels."""
    pooled = [(f"block {b.index}", b.out_hw) for b in cfg.blocks] + [("the last", cfg.final_hw)]
    for where, hw in pooled:
        n = hw * hw
        if n & (n - 1):
            raise HfaccelError(
                f"model {cfg.name}: {where} feature map is {hw}x{hw} = {n} pixels; the integer "
                "contract pools (squeeze-excitation, final pool) with a shift, so every pooled "
                "map needs 2^k pixels (use a power-of-two resolution, e.g. --res 128, or an HF "
                "model)")


def resolve_quant_model(args: argparse.Namespace):
    """(onnx path, IR graph, metadata) for MODEL / coefficients / --checkpoint / --onnx."""
    from hfaccel.progress import NO_PROGRESS
    from hfaccel.quant.ir import lower
    from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx

    if getattr(args, "onnx", None):
        if args.model or coefficients_given(args) or args.checkpoint or args.weight_bits:
            raise HfaccelError("--onnx names the model already; give no MODEL, coefficients, "
                               "--checkpoint or --weight-bits with it")
        from pathlib import Path

        from hfaccel.quant.qonnx import as_qcdq_file

        path = as_qcdq_file(args.onnx)  # QONNX (FINN's format) converted to QCDQ first
        meta = {"model": str(args.onnx)}
        if path != Path(args.onnx):
            meta["converted_from_qonnx"] = str(path)
        return path, lower(path), meta
    bits = args.weight_bits or 8
    if args.checkpoint:
        from hfaccel.quant.train import load_checkpoint

        ck = load_checkpoint(args.checkpoint)
        bits = ck.train.weight_bits  # quantize_to_onnx rejects another --weight-bits
        if args.model or coefficients_given(args):
            cfg = config_from_args(args)
            if ck.cfg.scaling != cfg.scaling:
                raise HfaccelError(f"checkpoint {args.checkpoint} holds {ck.cfg.name} "
                                   f"{ck.cfg.scaling}, not {cfg.name}")
        cfg = ck.cfg
    else:
        cfg = config_from_args(args)
    check_contract(cfg)
    out = getattr(args, "out", None) or default_out_dir(cfg.name if not args.checkpoint else
                                                        f"{cfg.name}-trained", bits)
    return quantize_to_onnx(cfg, out, checkpoint=args.checkpoint, seed=args.seed,
                            data=args.calib_data, images=args.calib_images,
                            weight_bits=args.weight_bits, method=args.calibration,
                            bias_correction=args.bias_correction,
                            log=getattr(args, "log", lambda s: None),
                            progress=getattr(args, "progress", NO_PROGRESS))


def check_batch(graph, images: int, option: str = "--images") -> None:
    """A model exported with a fixed batch runs exactly that many images at once."""
    if graph.batch is not None and graph.batch != images:
        raise HfaccelError(f"{option} {images}: {graph.source or 'the model'} has a fixed batch "
                           f"of {graph.batch} (input {graph.input_name!r}); give {option} "
                           f"{graph.batch}, or export it with a dynamic batch axis")


def eval_data(args: argparse.Namespace) -> str:
    """--data, else the data set a --checkpoint was trained on (its classes), else fashion-mnist."""
    if args.data:
        return args.data
    if getattr(args, "checkpoint", None):
        from hfaccel.quant.train import load_checkpoint

        return load_checkpoint(args.checkpoint).train.data
    return "fashion-mnist"


def eval_images(args: argparse.Namespace, data: str, seed: int, log) -> int:
    """``args.images``, capped (with one line saying so) to the validation images ``data``
    has; the number the command then runs."""
    from hfaccel.quant.data import load_data

    have = len(load_data(data, "val", seed=seed))
    if args.images > have:
        log(f"--images {args.images}: {data} has {have} validation images; using {have}")
        return have
    return args.images
