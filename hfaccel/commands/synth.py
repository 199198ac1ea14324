"""``hfaccel synth`` and ``lint``: Yosys resources per unit, and Verilator's lint."""

from __future__ import annotations

__all__ = ["register"]

TARGETS = ("generic", "xilinx", "ice40", "ecp5")  # hfaccel.rtl.synth.TARGETS (a test checks)


def cmd_synth(args) -> int:
    from hfaccel.accel.config import get_preset
    from hfaccel.rtl.synth import format_summary, synth

    cfg = get_preset(args.hw)
    rep = synth(cfg, args.target, family=args.family, timeout=args.timeout, jobs=args.jobs)
    print(format_summary(rep))
    print(f"report: {rep['report']}")
    return 0 if rep["complete"] else 1


def cmd_lint(args) -> int:
    from hfaccel.accel.config import get_preset
    from hfaccel.rtl.synth import lint

    cfg = get_preset(args.hw)
    res = lint(cfg)
    if res["ok"]:
        print(f"lint clean: {res['command']} ({res['seconds']} s)")
        return 0
    print(res["output"][-4000:])
    print(f"lint FAILED: {', '.join(res['classes']) or 'exit ' + str(res['returncode'])} "
          f"(log: {res['log']})")
    return 1


def register(sub) -> None:
    """Register ``hfaccel synth`` and ``hfaccel lint`` (hfaccel/cli.py calls it)."""
    p = sub.add_parser("synth", help="Yosys synthesis: LUTs/FFs/DSPs/BRAMs or gate area per unit",
                       description="Synthesizes the accelerator's Verilog package with Yosys and "
                                   "writes build/synth/<hw>-<target>.json and .md.")
    p.add_argument("--hw", default="default", help="preset (default, small) or config .json")
    p.add_argument("--target", default="generic", choices=TARGETS)
    p.add_argument("--family", default="xc7", help="Xilinx family for --target xilinx "
                                                    "(xc7, xcu, xcup)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per module before giving up on it")
    p.add_argument("--jobs", type=int, default=1, help="modules synthesized at once")
    p.set_defaults(func=cmd_synth)
    p = sub.add_parser("lint", help="verilator --lint-only -Wall on the generated Verilog",
                       description="Lints build/rtl/<hw>/hfaccel_top.v with the package's "
                                   "waiver file (each waived class with its reason).")
    p.add_argument("--hw", default="default", help="preset (default, small) or config .json")
    p.set_defaults(func=cmd_lint)
