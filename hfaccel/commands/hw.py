"""``hfaccel rtl`` and ``hw-sim``: the engine's Verilog, and whole networks run in RTL."""

from __future__ import annotations

import argparse

from hfaccel.commands.args import (
    HW_HELP,
    bus_address,
    data_source,
    hw_config,
    input_file,
    int_range,
    out_dir,
    positive_int,
)
from hfaccel.commands.common import (
    add_model_arguments,
    add_quant_arguments,
    check_batch,
    eval_data,
    eval_images,
    resolve_quant_model,
)

__all__ = ["register"]

SIMULATORS = ("verilator", "icarus")


def cmd_rtl(args: argparse.Namespace) -> int:
    from hfaccel.rtl.verilog import generate_verilog, rtl_dir

    cfg = args.hw
    top = generate_verilog(cfg, args.out or rtl_dir(cfg), log=args.log, progress=args.progress)
    print(f"wrote {top} ({top.stat().st_size / 1e6:.1f} MB), files.f and config.json")
    return 0


def _setup(args: argparse.Namespace):
    """What ``hw-sim`` and ``run`` share before any simulation: the model (a zoo name,
    ``--checkpoint`` or ``--onnx``), its fit on ``--hw`` (before any data is loaded, Verilog
    generated or simulator built), the data set, the image count and the batch check.
    Returns ``(path, graph, meta, data, images, name)``, ``name`` naming its run directory."""
    from pathlib import Path

    from hfaccel.accel.capability import require_fit

    path, graph, meta = resolve_quant_model(args)
    require_fit(graph, args.hw, str(meta.get("model", path)))
    data = eval_data(args)
    images = eval_images(args, data, 1, args.log)  # hw_sim's images: validation, seed 1
    check_batch(graph, images)
    name = Path(path).parent.parent.name if not args.onnx else Path(path).stem
    return path, graph, meta, data, images, name


def cmd_hw_sim(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hfaccel.accel.paths import run_dir

    cfg = args.hw
    path, graph, meta, data, images, name = _setup(args)
    from hfaccel.sim.hwsim import format_report, hw_sim

    out = Path(args.report_dir) if args.report_dir else run_dir(name, cfg)
    rep = hw_sim(Path(path), graph, meta, cfg, images=images, data=data, sim=args.sim,
                 out_dir=out, waves=args.waves, log=args.log, progress=args.progress,
                 shell=args.shell, stall=args.stall)
    print(format_report(rep))
    print(f"report: {out / 'report.json'}")
    return 0 if rep["bit_exact"] else 1


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from hfaccel.accel.paths import run_dir
    from hfaccel.errors import HfaccelError

    cfg = args.hw
    path, graph, meta, data, images, name = _setup(args)
    from hfaccel.accel.compiler import compile_graph
    from hfaccel.accel.runtime import check_base
    from hfaccel.quant.data import load_data
    from hfaccel.quant.reference import run_reference
    from hfaccel.sim.axi_device import run_on_sim

    c, h, w = graph.input_shape
    x, labels = next(load_data(data, "val", limit=images, seed=1).batches(images, (h, w)))
    ref = run_reference(graph, x.numpy())
    inputs = ref[graph.layers[0].output]
    want = np.asarray(ref[graph[graph.output].output]).reshape(images, -1)
    prog = compile_graph(graph, cfg)
    try:
        check_base(prog, args.base)
    except ValueError as e:
        raise HfaccelError(f"--base: {e}") from None
    work = run_dir(name, cfg) / "run"
    res = run_on_sim(prog, [inputs[n] for n in range(images)], work=work, sim=args.sim,
                     base=args.base, stall=args.stall, log=args.log)
    ok = True
    for n, r in enumerate(res):
        if "error" in r:
            print(f"image {n}: device error: {r['error']}")
            return 1
        got = np.array(r["output"])
        same = np.array_equal(got, want[n])
        ok &= same
        print(f"image {n} (label {int(labels[n])}): top-1 {int(got.argmax())} (reference "
              f"{int(want[n].argmax())}), logits {'==' if same else '!='} integer reference")
        print(f"  logits: {' '.join(str(v) for v in got)}")
        print("  counters: " + ", ".join(f"{k} {v}" for k, v in r["counters"].items()))
        csv = work / f"per_layer{n}.csv"
        rows = _per_layer(prog, r["perf"], csv)
        print(f"  per layer ({len(r['perf'])} perf records from the device; {csv}):")
        for row in rows:
            print(f"    {row['op']:>3} {row['name']:<24} instrs {row['instrs']:>3}  cycles "
                  f"{row['cycles']:>7}  busy {row['busy']:>7}  wait {row['wait']:>6}  mac "
                  f"{row['mac']:>7}")
    print(f"{'PASS' if ok else 'FAIL'}: {len(res)} image(s) through the host runtime on "
          f"{cfg.name}'s AXI top ({args.sim}); sim log: {work / 'sim.log'}")
    return 0 if ok else 1


def _per_layer(prog, records: list, csv_path) -> list[dict]:
    """Per hardware op: the runtime's perf records summed (cycles attributed from the end of
    the previous op's last instruction, as the report does); written to ``csv_path``."""
    import csv

    from hfaccel.accel.perf import PerfLog, PerfRecord
    from hfaccel.accel.regs import PERF_RECORD

    log = PerfLog(tuple(PerfRecord(*r) for r in records))
    cycles = log.op_cycles(prog)
    rows = []
    for op in prog.ops:
        mine = [r for r in log.records if r.layer == op.index]
        rows.append({"op": op.index, "name": op.name, "instrs": len(mine),
                     "cycles": cycles[op.index], "end": mine[-1].end if mine else 0,
                     **{k: sum(getattr(r, k) for r in mine) for k in PERF_RECORD[2:]}})
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["op"])
        w.writeheader()
        w.writerows(rows)
    return rows


def cmd_regs(args: argparse.Namespace) -> int:
    from hfaccel.accel import regs

    if args.format == "markdown":
        text = regs.markdown_table()
    elif args.format == "c":
        text = regs.c_header(args.hw)
    else:
        import json

        text = json.dumps({"cfg_hash": regs.config_hash(args.hw), "magic": regs.MAGIC,
                           "registers": [{"name": r.name, "offset": r.offset, "doc": r.doc,
                                          "fields": [vars(f) for f in r.fields]}
                                         for r in regs.REGISTERS]}, indent=1) + "\n"
    print(text, end="")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "rtl", help="write the accelerator's Verilog under build/rtl/<hw>/",
        description="Generates the Verilog of one hardware config (a preset or a config "
                    "JSON) with a file list, the config JSON, memories, README and lint "
                    "waivers. Cached: regenerated only when rtl/*.py or the config change.",
        epilog="examples:\n"
               "  hfaccel rtl --hw small\n"
               "  hfaccel rtl --hw default,ub_kib=128 --out /tmp/rtl")
    p.add_argument("--hw", type=hw_config, default="default", help=HW_HELP)
    p.add_argument("--out", type=out_dir, help="output folder (default: build/rtl/<hw>)")
    p.set_defaults(func=cmd_rtl)

    p = sub.add_parser(
        "hw-sim", help="whole-network RTL simulation, every layer checked 0 LSB",
        description="Quantizes (cached), checks that the model fits the hardware, compiles, "
                    "generates Verilog (cached), builds the simulator (cached), runs the "
                    "entire inference in RTL under cocotb and compares every layer with "
                    "onnxruntime; writes build/<model>/report.json and reports/.",
        epilog="examples:\n"
               "  hfaccel hw-sim HF3\n"
               "  hfaccel hw-sim HF3 --hw default,ub_kib=128     # spatial tiling\n"
               "  hfaccel hw-sim --onnx my.onnx --hw small --sim icarus\n"
               "  hfaccel hw-sim --checkpoint build/hf3/train/checkpoint.pt --images 4")
    add_model_arguments(p)
    add_quant_arguments(p)
    p.add_argument("--onnx", type=input_file(".onnx", what="an ONNX file"),
                   help="a QCDQ ONNX file instead of a zoo model")
    p.add_argument("--hw", type=hw_config, default="default", help=HW_HELP)
    p.add_argument("--sim", default="verilator", choices=SIMULATORS, help="simulator")
    p.add_argument("--images", type=positive_int, default=1,
                   help="number of real images, one RTL run each (capped to the data set's "
                        "validation images)")
    p.add_argument("--data", type=data_source,
                   help="images: digits, fashion-mnist or an image folder (default: the "
                        "--checkpoint's training data, else fashion-mnist)")
    p.add_argument("--report-dir", type=out_dir,
                   help="where report.json goes (default: build/<model>, build/<model>-<hw> "
                        "for other hardware)")
    p.add_argument("--waves", action="store_true",
                   help="on a mismatch, re-run and dump a waveform of the first failing layer")
    p.add_argument("--shell", default="axi", choices=("axi", "port"),
                   help="axi: the SoC top hfaccel_axi_top through its AXI4/AXI4-Lite ports; "
                        "port: the engine on its internal memory port")
    p.add_argument("--stall", type=int_range(0, 99), default=25,
                   help="with --shell axi: percent of cycles each AXI channel of the memory "
                        "model stalls (random back-pressure)")
    p.set_defaults(func=cmd_hw_sim)

    p = sub.add_parser(
        "run", help="the host runtime against the RTL simulator through the AXI ports",
        description="Compiles the model for the hardware, then drives hfaccel_axi_top in RTL "
                    "(cocotb; cocotbext-axi's AXI RAM as the DMA memory, its AXI4-Lite "
                    "master as the host) with the host runtime: load the program, write the "
                    "input, start, wait for the interrupt, read the logits and per-layer "
                    "counters. Prints top-1 and logits against the integer reference.",
        epilog="examples:\n"
               "  hfaccel run --onnx my.onnx --hw small --images 2\n"
               "  hfaccel run HF3 --hw default --base 0x80000000")
    add_model_arguments(p)
    add_quant_arguments(p)
    p.add_argument("--onnx", type=input_file(".onnx", what="an ONNX file"),
                   help="a QCDQ ONNX file instead of a zoo model")
    p.add_argument("--hw", type=hw_config, default="small", help=HW_HELP)
    p.add_argument("--sim", default="icarus", choices=SIMULATORS, help="simulator")
    p.add_argument("--images", type=positive_int, default=1,
                   help="number of real images, one runtime start each")
    p.add_argument("--data", type=data_source,
                   help="images: digits, fashion-mnist or an image folder (default: the "
                        "--checkpoint's training data, else fashion-mnist)")
    p.add_argument("--base", type=bus_address, default=0x1000,
                   help="bus address the program is loaded at (default 0x1000)")
    p.add_argument("--stall", type=int_range(0, 99), default=25,
                   help="percent of cycles each AXI channel of the memory model stalls")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "regs", help="the AXI4-Lite register map: Markdown table, C header or JSON",
        description="Prints a view generated from the one register-map description "
                    "(accel/regs.py): the same one the RTL decode, the Verilog package's "
                    "hfaccel_regs.h and the host runtime use.",
        epilog="examples:\n"
               "  hfaccel regs                        # Markdown table (docs/soc.md)\n"
               "  hfaccel regs --format c --hw small  # C header with small's config hash")
    p.add_argument("--format", default="markdown", choices=("markdown", "c", "json"),
                   help="what to print")
    p.add_argument("--hw", type=hw_config, default="default", help=HW_HELP)
    p.set_defaults(func=cmd_regs)
