"""``hfaccel rtl`` and ``hw-sim``: the engine's Verilog, and whole networks run in RTL."""

from __future__ import annotations

import argparse

from hfaccel.commands.common import (
    add_model_arguments,
    add_quant_arguments,
    eval_data,
    resolve_quant_model,
)

__all__ = ["register"]


def cmd_rtl(args: argparse.Namespace) -> int:
    from hfaccel.accel.config import get_preset
    from hfaccel.rtl.verilog import generate_verilog, rtl_dir

    cfg = get_preset(args.hw)
    top = generate_verilog(cfg, args.out or rtl_dir(cfg))
    print(f"wrote {top} ({top.stat().st_size / 1e6:.1f} MB), files.f and config.json")
    return 0


def cmd_hw_sim(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hfaccel.accel.config import get_preset
    from hfaccel.accel.paths import run_dir
    from hfaccel.sim.hwsim import format_report, hw_sim

    cfg = get_preset(args.hw)
    path, graph, meta = resolve_quant_model(args)
    name = Path(path).parent.parent.name if not args.onnx else Path(path).stem
    out = Path(args.report_dir) if args.report_dir else run_dir(name, cfg)
    rep = hw_sim(Path(path), graph, meta, cfg, images=args.images, data=eval_data(args),
                 sim=args.sim, out_dir=out, waves=args.waves)
    print(format_report(rep))
    print(f"report: {out / 'report.json'}")
    return 0 if rep["bit_exact"] else 1


def register(sub) -> None:
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
    add_quant_arguments(p)
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

