"""The ``hfaccel`` command line.

Each sub-command lives in a small ``cmd_*`` function; heavy libraries (torch, onnx, amaranth) are
imported inside them so that ``hfaccel models`` and ``--help`` stay fast. A user's mistake raises
:class:`~hfaccel.errors.HfaccelError`, printed here as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from hfaccel.errors import HfaccelError

__all__ = ["add_model_arguments", "config_from_args", "main"]


def add_model_arguments(p: argparse.ArgumentParser, *, many: bool = False) -> None:
    """A model by registry name (``HF3``) or by coefficients (``--w --d --res [--hf]``)."""
    if many:
        p.add_argument("models", nargs="*", metavar="MODEL",
                       help="registered model names (default: all), case-insensitive")
    else:
        p.add_argument("model", nargs="?", metavar="MODEL",
                       help="registered model name, e.g. HF3 (case-insensitive)")
    g = p.add_argument_group("model by coefficients")
    g.add_argument("--w", type=float, help="width coefficient, 0 < w <= 1")
    g.add_argument("--d", type=float, help="depth coefficient, d > 0")
    g.add_argument("--res", type=int, help="input resolution in pixels")
    g.add_argument("--hf", action="store_true",
                   help="hardware-friendly transform (power-of-two channels and resolution)")
    g.add_argument("--name", default=None, help="name of the model given by coefficients")


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


def cmd_models(args: argparse.Namespace) -> int:
    from hfaccel.model.registry import get_entry
    from hfaccel.model.zoo import ZooRow, format_table, zoo_rows

    names = [get_entry(n).name for n in args.models]
    rows = [] if coefficients_given(args) and not names else zoo_rows(names or None)
    if coefficients_given(args):
        rows.append(ZooRow(custom_config(args), None))
    if args.json:
        print(json.dumps([r.as_dict(stages=True) for r in rows], indent=2))
    else:
        print(format_table(rows, stages=args.stages))
    return 0


def _resolve_quant_model(args: argparse.Namespace):
    """(onnx path, IR graph, metadata) for MODEL / coefficients / --checkpoint / --onnx."""
    from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx
    from hfaccel.sim.ir import lower

    if getattr(args, "onnx", None):
        if args.model or coefficients_given(args) or args.checkpoint:
            raise HfaccelError("--onnx names the model already; give no MODEL, coefficients or "
                               "--checkpoint with it")
        return args.onnx, lower(args.onnx), {"model": args.onnx}
    if args.checkpoint and not args.model and not coefficients_given(args):
        from hfaccel.quant.train import load_checkpoint

        cfg = load_checkpoint(args.checkpoint).cfg
    else:
        cfg = config_from_args(args)
        if args.checkpoint:
            from hfaccel.quant.train import load_checkpoint

            ck_cfg = load_checkpoint(args.checkpoint).cfg
            if ck_cfg.scaling != cfg.scaling:
                raise HfaccelError(f"checkpoint {args.checkpoint} holds {ck_cfg.name} "
                                   f"{ck_cfg.scaling}, not {cfg.name}")
            cfg = ck_cfg
    out = getattr(args, "out", None) or default_out_dir(cfg.name if not args.checkpoint else
                                                        f"{cfg.name}-trained")
    return quantize_to_onnx(cfg, out, checkpoint=args.checkpoint, seed=args.seed,
                            data=args.calib_data, images=args.calib_images)


def _eval_data(args: argparse.Namespace) -> str:
    """--data, else the data set a --checkpoint was trained on (its classes), else fashion-mnist."""
    if args.data:
        return args.data
    if getattr(args, "checkpoint", None):
        from hfaccel.quant.train import load_checkpoint

        return load_checkpoint(args.checkpoint).train.data
    return "fashion-mnist"


def cmd_quantize(args: argparse.Namespace) -> int:
    path, graph, meta = _resolve_quant_model(args)
    convs = [ly for ly in graph.layers if ly.op == "conv"]
    print(f"{meta['model']}: {len(graph.layers)} quantized tensors, {len(convs)} conv/FC layers, "
          f"{graph.macs / 1e6:.2f} M MACs")
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0


def cmd_check_reference(args: argparse.Namespace) -> int:
    import onnx

    from hfaccel.quant.data import load_data
    from hfaccel.sim.check import check_reference

    path, graph, meta = _resolve_quant_model(args)
    c, h, w = graph.input_shape
    if h != w or c != 3:
        raise HfaccelError(f"{path}: input {graph.input_shape} is not a square RGB image")
    args.data = _eval_data(args)
    data = load_data(args.data, "val", limit=args.images, seed=args.seed + 1)
    x, labels = next(data.batches(args.images, h))
    levels = tuple(args.levels.split(","))
    res = check_reference(onnx.load(str(path)), graph, x.numpy(), levels)
    print(f"model {meta['model']} ({path}); {res.images} {args.data} image(s)")
    print(res.table())
    hits = sum(int(a == b) for a, b in zip(res.top1_reference, labels.tolist()))
    print(f"top-1: reference {res.top1_reference}, onnxruntime {res.top1_onnxruntime}, "
          f"labels {labels.tolist()} ({hits}/{len(labels)} correct)")
    print(res.verdict())
    return 0 if res.bit_exact else 1


def cmd_train(args: argparse.Namespace) -> int:
    from hfaccel.quant.train import TrainConfig, train

    cfg = config_from_args(args)
    tc = TrainConfig(data=args.data, epochs=args.epochs, qat_epochs=args.qat_epochs,
                     batch=args.batch, lr=args.lr, limit=args.limit, val_limit=args.val_limit,
                     seed=args.seed)
    ck = train(cfg, tc, resolution=args.resolution)
    out = args.out or f"build/{cfg.name}/train/checkpoint.pt"
    ck.save(out)
    print(f"float accuracy {ck.float_acc:.2%}  int8 accuracy {ck.int8_acc:.2%}  -> {out}")
    return 0


def cmd_rtl(args: argparse.Namespace) -> int:
    from hfaccel.accel.config import get_preset
    from hfaccel.accel.rtl import generate_verilog, rtl_dir

    cfg = get_preset(args.hw)
    top = generate_verilog(cfg, args.out or rtl_dir(cfg))
    print(f"wrote {top} ({top.stat().st_size / 1e6:.1f} MB), files.f and config.json")
    return 0


def cmd_hw_sim(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hfaccel.accel.config import get_preset
    from hfaccel.sim.hwsim import format_report, hw_sim

    cfg = get_preset(args.hw)
    path, graph, meta = _resolve_quant_model(args)
    name = Path(path).parent.parent.name if not args.onnx else Path(path).stem
    if cfg.name != "default":  # one report per hardware config
        name = f"{name}-{cfg.name}"
    out = Path(args.report_dir) if args.report_dir else Path("build") / name
    rep = hw_sim(Path(path), graph, meta, cfg, images=args.images, data=_eval_data(args),
                 sim=args.sim, out_dir=out, waves=args.waves)
    print(format_report(rep))
    print(f"report: {out / 'report.json'}")
    return 0 if rep["bit_exact"] else 1


def _add_quant_arguments(p: argparse.ArgumentParser) -> None:
    from hfaccel.quant.calibrate import DEFAULT_CALIBRATION as D

    p.add_argument("--checkpoint", help="a trained checkpoint (hfaccel train) instead of the "
                                        "default seeded, calibrated weights")
    p.add_argument("--seed", type=int, default=D["seed"], help="weights and data seed")
    p.add_argument("--calib-data", default=D["data"],
                   help="calibration images: digits, fashion-mnist or an image folder")
    p.add_argument("--calib-images", type=int, default=D["images"],
                   help="number of calibration images")


def build_parser() -> argparse.ArgumentParser:
    from hfaccel import __version__

    parser = argparse.ArgumentParser(
        prog="hfaccel",
        description="Hardware/software codesign toolkit for EfficientNet-eLite/HF on edge "
                    "accelerators.")
    parser.add_argument("--version", action="version", version=f"hfaccel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="print the model zoo with parameter/MAC counts",
                       description="Every registered model (or the ones named) with its "
                                   "coefficients, parameter and MAC counts and Table 5's numbers.")
    add_model_arguments(p, many=True)
    p.add_argument("--stages", action="store_true", help="also print per-stage channels/repeats")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("quantize", help="quantize a model and export QCDQ ONNX + metadata",
                       description="Fixed-point (power-of-two) int8 quantization with Brevitas, "
                                   "exported as QCDQ ONNX that onnxruntime runs.")
    add_model_arguments(p)
    _add_quant_arguments(p)
    p.add_argument("--out", help="output folder (default build/<model>/quant)")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("check-reference",
                       help="integer reference vs onnxruntime on every quantized tensor",
                       description="Runs the integer reference and onnxruntime on real images "
                                   "and compares every quantized tensor, 0 LSB.")
    add_model_arguments(p)
    _add_quant_arguments(p)
    p.add_argument("--onnx", help="check this QCDQ ONNX file instead of a zoo model")
    p.add_argument("--images", type=int, default=2, help="number of real images")
    p.add_argument("--data", help="images: digits, fashion-mnist or an image folder (default: "
                   "the --checkpoint's training data, else fashion-mnist)")
    p.add_argument("--levels", default="default,disable_all",
                   help="onnxruntime optimization levels, comma-separated "
                        "(default, extended, basic, disable_all)")
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
    p.add_argument("--out", help="checkpoint path (default build/<model>/train/checkpoint.pt)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("rtl", help="write the accelerator's Verilog under build/rtl/<hw>/",
                       description="Generates the Verilog of one hardware config (a preset or a "
                                   "config JSON) with a file list and the config JSON.")
    p.add_argument("--hw", default="default", help="preset (default, small) or config .json")
    p.add_argument("--out", help="output folder (default build/rtl/<hw>)")
    p.set_defaults(func=cmd_rtl)

    p = sub.add_parser("hw-sim", help="whole-network RTL simulation, every layer checked 0 LSB",
                       description="Quantizes (cached), compiles, generates Verilog, runs the "
                                   "entire inference in RTL under cocotb and compares every "
                                   "layer with onnxruntime; writes build/<model>/report.json.")
    add_model_arguments(p)
    _add_quant_arguments(p)
    p.add_argument("--onnx", help="a QCDQ ONNX file instead of a zoo model")
    p.add_argument("--hw", default="default", help="preset (default, small) or config .json")
    p.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    p.add_argument("--images", type=int, default=1, help="number of real images")
    p.add_argument("--data", help="images: digits, fashion-mnist or an image folder (default: "
                   "the --checkpoint's training data, else fashion-mnist)")
    p.add_argument("--report-dir", help="where report.json goes (default build/<model>, "
                                         "build/<model>-<hw> for other hardware)")
    p.add_argument("--waves", action="store_true",
                   help="on a mismatch, re-run and dump a waveform of the first failing layer")
    p.set_defaults(func=cmd_hw_sim)

    from hfaccel.accel.report import add_report_parsers  # report, sweep: accel/report.py

    add_report_parsers(sub)
    from hfaccel.accel.synth import add_synth_parsers  # synth, lint: accel/synth.py

    add_synth_parsers(sub)
    from hfaccel.ncs.cli import add_ncs_parser  # the command's code lives in ncs/cli.py

    add_ncs_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HfaccelError as e:
        print(f"hfaccel {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hfaccel models | head` is fine
        return 0
