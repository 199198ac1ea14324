"""Verilog generation: a self-contained package under ``build/rtl/<hw>/``.

``generate_verilog(cfg)`` writes

* ``hfaccel_top.v``: every module of the engine in one file. The on-chip memories are modules
  of their own, one per memory kind (``hfaccel_mem_ub_bank`` instantiated ``ub_banks`` times,
  ``hfaccel_mem_wgt_buf``, ...; see :mod:`hfaccel.rtl.sram`) with behavioural models that FPGA
  tools infer block/distributed RAM from; defining ``HFACCEL_NO_MEM_MODELS`` leaves them out so
  that an ASIC flow can supply SRAM-macro wrappers with the same names and ports. Every unit of
  ``rtl/top.py`` is a module too (:data:`UNITS`; per-unit synthesis reports), named after its
  instance (``hfaccel_dma``); twin instances are merged into one module.
* ``files.f`` (the file list), ``config.json`` (the software's view of the config),
  ``hfaccel_top.vlt`` (Verilator lint waivers, each with its reason), ``memories.json`` (every
  memory instance: kind, module, width, depth, ports) and ``README.md`` (ports, the
  register/memory map and the memory interfaces, generated from the config and
  :mod:`hfaccel.accel.isa`).

Generation of the 32-lane engine takes about a minute and a half, so the result is cached: a
stamp holds a hash of the config and of the generator's sources, and an unchanged pair reuses
the files.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from hfaccel.accel.config import AccelConfig
from hfaccel.files import atomic_write_text
from hfaccel.progress import NO_PROGRESS, Progress
from hfaccel.rtl.mac import MAC_MODULE

__all__ = ["AXI_TOP", "TOP", "NO_MEM_MODELS", "generate_verilog", "rtl_dir", "parse_modules"]

TOP = "hfaccel_top"
AXI_TOP = "hfaccel_axi_top"  # the SoC top: the engine behind AXI (rtl/axi_top.py)
NO_MEM_MODELS = "HFACCEL_NO_MEM_MODELS"
# the generator's sources: this package (but the synthesis flow), the config, ISA and driver
_SOURCES = ("../accel/isa.py", "../accel/config.py", "../accel/regs.py", "driver/hfaccel_driver.c",
            "driver/hfaccel_driver.h")
_FORMAT = "2"  # bump when the package layout changes

# instance name of a non-memory submodule (without a trailing index) -> module name; identical
# bodies are merged, others of one name get a suffix (hfaccel_post_2); the rest are named after
# their instance path (dw.window: hfaccel_dw_window)
_UNIT_MODULES = {"ldq": "hfaccel_fifo_instr", "cmq": "hfaccel_fifo_instr",
                 "sem_ready": "hfaccel_semaphore", "sem_free": "hfaccel_semaphore",
                 "post": "hfaccel_post", "mac": MAC_MODULE}
# module (without a merge suffix) -> what it is (rtl/<file>.py has the contract)
UNITS = {
    "hfaccel_top": "top level: the units' wiring, the shared read ports' and the compute "
                   "results' multiplexers (rtl/top.py)",
    "hfaccel_control": "run state, status code, watchdog (rtl/control.py)",
    "hfaccel_semaphore": "token counter between the load and the compute units "
                         "(rtl/control.py)",
    "hfaccel_bus": "external memory port arbiter: fetch, then the DMA (rtl/bus.py)",
    "hfaccel_fetch": "instruction fetch and decode into the queues (rtl/fetch.py)",
    "hfaccel_fifo_instr": "instruction FIFO (load and compute queues)",
    "hfaccel_dma": "DMA: LOAD/STORE sequencer, buffer writes, store assembly (rtl/dma.py)",
    "hfaccel_dma_ubq": "DMA: UB-bound beats waiting for a free bank",
    "hfaccel_dma_stq": "DMA: assembled store beats waiting for the bus",
    "hfaccel_dispatch": "compute dispatch: issue, token waits, per-instruction counters "
                        "(rtl/dispatch.py)",
    "hfaccel_ub": "unified buffer: bank crossbars of the wide and narrow read ports and of "
                  "the compute and DMA writes (rtl/ub.py)",
    "hfaccel_ub_rotator": "unified buffer: the wide read port's word rotator (rtl/rotator.py)",
    "hfaccel_pe_array": "PE array: lanes x lanes PEs in MAC cells of two, GEMM row adder "
                        "trees, activation operand selection (GEMM / depthwise) (rtl/pe.py)",
    MAC_MODULE: "two neighbouring PEs: weight/tap select, products, accumulator registers, "
                "the pair's sum; two cascaded DSP slices on an FPGA (rtl/mac.py)",
    "hfaccel_gemm": "GEMM: sequencer, SE gate preload and gating lanes, row accumulators, "
                    "residual add (rtl/gemm.py)",
    "hfaccel_gap": "GAP: sequencer, masked adder trees, accumulators, requantization "
                   "(rtl/gap.py)",
    "hfaccel_dw": "depthwise: taps, MAC loop, per-PE accumulators and their write-back copy "
                  "(rtl/dw.py)",
    "hfaccel_dw_window": "depthwise window: reader and the two-slot window (rtl/dw_window.py)",
    "hfaccel_post": "post-processing of a word: bias, RNE shift, saturation, table lookup, "
                    "with the lanes' table copies (rtl/post.py)",
    AXI_TOP: "SoC top level: the engine (`hfaccel_top`) behind AXI4-Lite registers and an "
             "AXI4 master, with an interrupt (rtl/axi_top.py)",
    "hfaccel_axil": "AXI4-Lite register file, decoded from the register map (rtl/axil.py)",
    "hfaccel_axi_master": "AXI4 master: bursts, relocation, ordering, error responses "
                          "(rtl/axi.py)",
    "hfaccel_axi_master_arq": "AXI master: read bursts to issue",
    "hfaccel_axi_master_rtrack": "AXI master: read bursts in flight",
    "hfaccel_axi_master_awq": "AXI master: write bursts to issue",
    "hfaccel_axi_master_wlen": "AXI master: write bursts whose data follows",
    "hfaccel_axi_master_wq": "AXI master: write beats",
    "hfaccel_axi_perf": "perf record writer: the engine's perf port to memory through the AXI "
                        "master (rtl/perfrec.py)",
    "hfaccel_axi_perf_q": "perf record writer: records waiting for the master",
}
SHELL_PREFIX = "hfaccel_axi"  # the SoC shell's modules (UNITS) are named hfaccel_axi*


def rtl_dir(cfg: AccelConfig, root: str | Path = "build/rtl") -> Path:
    return Path(root) / cfg.name


def _key(cfg: AccelConfig) -> str:
    h = hashlib.sha256(cfg.to_json().encode() + _FORMAT.encode())
    here = Path(__file__).parent
    # the flows that read the Verilog (synthesis, place and route) do not change it
    gen = [f for f in sorted(here.glob("*.py")) if f.name not in ("synth.py", "pnr.py")]
    for f in gen + [here / s for s in _SOURCES]:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


HEADER_KEY = re.compile(r"\(key [0-9a-f]+\)")  # where header() puts the generator key


def header(cfg: AccelConfig, key: str) -> str:
    """The comment lines that open the package's Verilog; ``key`` is ``_key(cfg)``, which
    changes with any generator source (comments too), so the flows that cache on the Verilog
    strip it (``HEADER_KEY``)."""
    return (f"// hfaccel accelerator '{cfg.name}' ({cfg.lanes}x{cfg.lanes} PE array), "
            f"generated by hfaccel.rtl.verilog (key {key}).\n"
            f"// Ports, memory map and memory interfaces: README.md next to this file.\n"
            f"// Define {NO_MEM_MODELS} to leave out the memory models (SRAM macros).\n")


_KICK = re.compile(r"^\s*reg (\\\$auto\$verilog_backend\S*dump_module\$\d+ )\s*= 0;$")


def _portable(text: str) -> str:
    """Make the Verilog portable to Icarus 11 (Verilator accepts it either way).

    * Drop ``(* full_case *)`` attributes that precede no case statement (Yosys' back-end leaves
      one before an empty switch; Icarus rejects it as a syntax error).
    * Yosys guards every ``always @*`` block with a dummy register so that it evaluates at time
      zero, but declares it ``= 0`` and never changes it; Icarus then never runs blocks whose
      inputs do not change, and their outputs stay X. Toggling it once fixes that.
    """
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        m = _KICK.match(line)
        if m:  # toggle the time-zero trigger so that every always @* block evaluates once
            out += [line, f"  initial #0 {m.group(1)} = 1;"]
            continue
        if line.strip().startswith("(* full_case"):
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and not lines[j].strip().startswith(("case", "casez")):
                continue
        out.append(line)
    return "\n".join(out)


# ------------------------------------------------------------------------------ module surgery
_MOD_HEAD = re.compile(r"^module (\S+) ?\(")
_INIT_LINE = re.compile(r"^\s*(\w+)\[(\d+)\] = (\d+)'h0+;$")


def _split_modules(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(preamble, [(name, text)]): each module with the attribute lines before it."""
    lines = text.split("\n")
    pre: list[str] = []
    mods: list[tuple[str, str]] = []
    cur: list[str] = []
    name = None
    for line in lines:
        if name is None:
            m = _MOD_HEAD.match(line)
            cur.append(line)
            if m:
                name = m.group(1)
            elif not line.startswith("(*"):
                pre += cur
                cur = []
            continue
        cur.append(line)
        if line.startswith("endmodule"):
            mods.append((name, "\n".join(cur) + "\n"))
            cur, name = [], None
    assert name is None, "unterminated module"
    return "\n".join(pre + cur).rstrip() + "\n", mods


def _compact_init(body: str) -> str:
    """Replace Yosys' all-zero memory initialisation (one line per word) by a loop."""
    lines = body.split("\n")
    out: list[str] = []
    i = 0
    loops = 0
    while i < len(lines):
        if lines[i].strip() == "initial begin":
            j = i + 1
            mem, width, n = None, None, 0
            while j < len(lines):
                m = _INIT_LINE.match(lines[j])
                if not m or (mem is not None and (m.group(1) != mem or int(m.group(2)) != n)):
                    break
                mem, width, n = m.group(1), m.group(3), n + 1
                j += 1
            if mem is not None and lines[j].strip() == "end":
                var = f"hfaccel_init{loops}"
                loops += 1
                out += [f"  integer {var};",
                        "  initial begin  // zero contents at power-on (FPGA block RAM init)",
                        f"    for ({var} = 0; {var} < {n}; {var} = {var} + 1)",
                        f"      {mem}[{var}] = {width}'h0;",
                        "  end"]
                i = j + 1
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


_TRIGGER = re.compile(r"\\\$auto\$verilog_backend\S*dump_module\$\d+ ")


def _canon_header(body: str) -> str:
    """The module with its header's port list sorted (instances connect ports by name)."""
    return re.sub(r"^(module \S+ \()([^)]*)\);",
                  lambda m: m.group(1) + ", ".join(sorted(p.strip() for p in
                                                          m.group(2).split(","))) + ");",
                  body, count=1, flags=re.M)


def _module_name(path: str, body: str) -> str:
    """The module name of the submodule at instance ``path`` (``dw.post3``): memories by their
    kind, units by their instance name without an index (:data:`_UNIT_MODULES`), anything else
    after its path."""
    km = re.search(r'\(\* hfaccel_mem = "(\w+)" \*\)', body)
    if km:
        return f"hfaccel_mem_{km.group(1)}"
    leaf = re.sub(r"\d+$", "", path.rsplit(".", 1)[-1])
    return _UNIT_MODULES.get(leaf, "hfaccel_" + path.replace(".", "_"))


# Amaranth names a module port that is no whole signal of the module `port$<cell>$<bit>` after
# the netlist cell that drives it, so twin instances of one unit (the depthwise write-back's
# post-processing words) differ in these names only; they are renumbered per module to merge.
_SYNTH_PORT = re.compile(r"\\port\$(\d+)\$(\d+)(?=\s)")
_CONN_PORT = re.compile(r"(\.)(\\port\$\d+\$\d+)(?=\s*\()")


def _canon_ports(body: str) -> tuple[str, dict[str, str]]:
    """The module with its synthesized port names renumbered (``\\port$0``, ...; in the order
    of their driving cells) and the renaming; connections of its own instances keep theirs."""
    head = body[:body.index(");")]
    found = sorted({(int(c), int(b)) for c, b in _SYNTH_PORT.findall(head)})
    pmap = {f"\\port${c}${b}": f"\\port${k}" for k, (c, b) in enumerate(found)}
    if not pmap:
        return body, pmap
    own = re.compile(r"(?<!\.)\\port\$\d+\$\d+(?=\s)")
    return own.sub(lambda m: pmap.get(m.group(0), m.group(0)), body), pmap


def _rename_connections(body: str, child: str, pmap: dict[str, str]) -> str:
    """In the instances of module ``child`` in ``body``, connect to its renamed ports."""
    if not pmap:
        return body
    out, inside = [], False
    for line in body.split("\n"):
        if not inside and re.match(rf"^\s+{re.escape(child)}\s+\S+\s*\(\s*$", line):
            inside = True
        elif inside:
            if line.strip() == ");":
                inside = False
            else:
                line = _CONN_PORT.sub(lambda m: m.group(1) + pmap.get(m.group(2), m.group(2)),
                                      line)
        out.append(line)
    return "\n".join(out)


def _restructure(text: str, top: str) -> tuple[str, dict[str, str]]:
    """Name the submodules, merge identical ones, guard the memory models.

    Returns the new text and ``{instance path: module name}``.
    """
    # the time-zero trigger register of each module gets one plain name (merges identical bodies)
    text = _TRIGGER.sub("hfaccel_t0 ", text)
    pre, mods = _split_modules(text)
    rename: dict[str, str] = {}  # old module name -> new

    def fix(t: str) -> str:  # instantiations of renamed modules
        if not rename:
            return t
        pat = re.compile("|".join(re.escape(o) + r"(?=\s)" for o in
                                  sorted(rename, key=len, reverse=True)))
        return pat.sub(lambda m: rename[m.group(0)], t)

    def same(a: str, b: str) -> bool:  # equal up to the order of the header's port list
        return a == b or _canon_header(a) == _canon_header(b)

    bodies: dict[str, str] = {}  # new name -> normalised body
    first: dict[str, int] = {}  # new name -> position of its first instance in the text
    # the deepest instances first: a unit's body names its submodules' new names before it is
    # compared with its twins
    order = sorted((i for i, (old, _) in enumerate(mods) if old != top),
                   key=lambda i: -mods[i][0].count("."))
    texts = dict(mods)
    for i in order:
        old = mods[i][0]
        path = old.lstrip("\\").split(".", 1)[1]
        if "$" in path:  # Amaranth suffixes a submodule's name when a wire has the same name
            raise RuntimeError(f"submodule {path!r} was renamed in the Verilog: a port or "
                               "signal of its parent has the same name; rename one of them")
        body, pmap = _canon_ports(texts[old])
        parent = old.rsplit(".", 1)[0] if old.count(".") > 1 else top
        texts[parent] = _rename_connections(texts[parent], old, pmap)
        new = _module_name(path, body)
        norm = fix(_compact_init(body.replace(f"module {old} (", f"module {new} (", 1)))
        if new in bodies and not same(bodies[new], norm):  # same kind, other shape: apart
            k = 2
            while f"{new}_{k}" in bodies and not same(bodies[f"{new}_{k}"], norm):
                k += 1
            norm = norm.replace(f"module {new} (", f"module {new}_{k} (", 1)
            new = f"{new}_{k}"
        bodies.setdefault(new, norm)
        first[new] = min(first.get(new, i), i)
        rename[old] = new

    out = [pre.rstrip() + "\n", fix(_compact_init(texts[top]))]
    for new in sorted(bodies, key=first.__getitem__):
        if new.startswith("hfaccel_mem_"):
            out.append(f"`ifndef {NO_MEM_MODELS}  // behavioural model; see README.md\n"
                       + bodies[new] + f"`endif  // {NO_MEM_MODELS}\n")
        else:
            out.append(bodies[new])
    paths = {old.lstrip("\\").split(".", 1)[1]: new for old, new in rename.items()}
    return "\n".join(out), paths


def parse_modules(text: str) -> dict[str, list[tuple[str, str, int]]]:
    """``{module: [(port, "input"|"output", width), ...]}`` in header order."""
    res = {}
    for name, body in _split_modules(text)[1]:
        head = re.search(r"^module \S+ ?\(([^)]*)\);", body, re.M)
        order = [p.strip() for p in head.group(1).split(",") if p.strip()] if head else []
        decl = {}
        for m in re.finditer(r"^\s*(input|output)\s+(?:\[(\d+):(\d+)\]\s+)?(\S+)\s*;", body,
                             re.M):
            d, hi, lo, p = m.groups()
            decl[p] = (d, int(hi) - int(lo) + 1 if hi else 1)
        res[name.lstrip("\\")] = [(p, *decl[p]) for p in order if p in decl]
    return res


# ------------------------------------------------------------------------------ the package
def generate_verilog(cfg: AccelConfig, out: str | Path | None = None, *, log=print,
                     progress: Progress = NO_PROGRESS) -> Path:
    """Write (or reuse) the Verilog package of ``cfg``; returns the path of the top-level file.

    ``progress`` shows the elapsed time and the phase (a minute or more for 32 lanes)."""
    out = Path(out) if out else rtl_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    top = out / f"{TOP}.v"
    stamp = out / ".stamp"
    key = _key(cfg)
    if top.exists() and stamp.exists() and stamp.read_text() == key:
        return top
    from amaranth.back import verilog

    from hfaccel.rtl.top import Accelerator

    log(f"generating Verilog for {cfg.name} ({cfg.lanes} lanes) into {out} ...")
    phase = ["elaborating"]
    with progress.timer(f"Verilog {cfg.name}", status=lambda: (None, None, phase[0])):
        acc = Accelerator(cfg)
        phase[0] = "Amaranth -> Yosys -> Verilog"
        raw = _portable(verilog.convert(acc, name=TOP, emit_src=False))
        phase[0] = "splitting modules"
        text, paths = _restructure(raw, TOP)
        phase[0] = "AXI top"
        from hfaccel.rtl.axi_top import AxiTop

        axi_raw = _portable(verilog.convert(AxiTop(cfg), name=AXI_TOP, emit_src=False))
        axi_text, axi_paths = _restructure(axi_raw, AXI_TOP)
        clash = set(axi_paths.values()) & set(paths.values())
        if clash:
            raise RuntimeError(f"module name(s) {sorted(clash)} in both tops")
        text += "\n" + "\n".join(body for _, body in _split_modules(axi_text)[1])
    text = header(cfg, key) + text
    renamed = sorted(set(acc.memories) - set(paths))
    if renamed:  # Amaranth suffixes a submodule's name ($n) when a wire has the same name
        raise RuntimeError(f"memory instance(s) {renamed} were renamed in the Verilog: a port or "
                           "signal of their parent has the same name; rename one of them")
    mems = [{"instance": name, "module": paths[name], "kind": s.kind,
             "width": s.info.width, "depth": s.info.depth,
             "bits": s.info.width * s.info.depth,
             "ports": [{"name": p.name, "kind": p.kind, "granularity": p.granularity}
                       for p in s.info.ports]}
            for name, s in acc.memories.items()]
    # every file written whole and renamed into place (test workers may generate at once)
    from hfaccel.accel.regs import c_header

    driver = Path(__file__).parent / "driver"
    for name, content in ((top.name, text), ("config.json", cfg.to_json()),
                          ("hfaccel_regs.h", c_header(cfg)),
                          ("hfaccel_driver.h", (driver / "hfaccel_driver.h").read_text()),
                          ("hfaccel_driver.c", (driver / "hfaccel_driver.c").read_text()),
                          ("files.f", f"{top.name}\n"),
                          ("memories.json", json.dumps(mems, indent=1)),
                          (f"{TOP}.vlt", lint_waivers()),
                          ("README.md", package_readme(cfg, parse_modules(text), mems, paths)),
                          (stamp.name, key)):
        atomic_write_text(out / name, content)
    return top


# Verilator -Wall warning classes waived for the generated file, each with its reason: they are
# properties of machine-written Verilog, not findings (real ones, such as a comparison that was
# constant for the last UB bank, were fixed in the generator). tests/test_synth.py checks that
# the lint passes with exactly these.
WAIVERS = {
    "UNUSEDSIGNAL": "Yosys' Verilog back-end keeps every named Amaranth signal, also bits nothing "
                    "reads (instruction fields of other opcodes, unused product/sum bits, the "
                    "unconnected `rst` of the memory models); synthesis removes them",
    "WIDTHEXPAND": "Amaranth arithmetic is explicitly sized; the back-end writes operands "
                   "narrower than the result and relies on Verilog's zero/sign extension",
    "WIDTHTRUNC": "likewise: Amaranth truncates on assignment by definition and the back-end "
                  "leaves the truncation (and `!` of a multi-bit value) implicit",
    "PROCASSINIT": "every register carries its reset value as a declaration initialiser too "
                   "(the FPGA power-on state); the synchronous reset assigns the same value",
    "CASEINCOMPLETE": "decoders are written as case statements after a default assignment, "
                      "so unlisted values keep the default",
    "DECLFILENAME": "all modules of one configuration live in one generated file",
}


def lint_waivers(classes: dict[str, str] | None = None) -> str:
    lines = ["`verilator_config",
             "// Lint waivers for hfaccel_top.v (generated by hfaccel.rtl.verilog), read by",
             "// the lint tool before the Verilog. Each waived class with its reason.",
             "// Anything else it reports is an error.", ""]
    for rule, why in (classes or WAIVERS).items():
        lines.append(f"// {rule}: {why}")
        lines.append(f'lint_off -rule {rule} -file "*{TOP}.v"')
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ README
_PORTS = {
    "clk": "clock (all logic is synchronous to its rising edge)",
    "rst": "synchronous reset, active high",
    "start": "pulse for one cycle to run the program at `prog`",
    "prog": "beat address of the program's first instruction in external memory",
    "ext_error": "a status code that stops the engine (0: none): the AXI shell's bus errors",
    "busy": "the engine is running",
    "done": "set when the program has finished or stopped on an error; stays until `start`",
    "status": "0 on success, else an error code (table below)",
    "cycles": "cycles since `start`",
    "cmp_busy": "cycles the compute unit was busy",
    "cmp_wait": "cycles the compute unit waited for a load (memory stalls)",
    "ld_busy": "cycles the load/store unit was busy",
    "mac_cycles": "cycles the PE array computed",
    "instrs": "compute instructions finished",
    "req_valid": "external memory request valid",
    "req_ready": "external memory accepts the request",
    "req_we": "request is a write (`req_wdata`), else a read",
    "req_addr": "request address in bus beats",
    "req_wdata": "write data, one bus beat",
    "req_tag": "0 instruction fetch, 1 DMA; returned with the read response",
    "rsp_valid": "read response valid (in request order, no back-pressure)",
    "rsp_data": "read data, one bus beat",
    "rsp_tag": "the request's tag",
    "trace_valid": "observation: one bit per activation word the compute unit writes",
    "trace_layer": "observation: layer id of the current compute instruction",
    "trace_addr": "observation: UB word address of the first traced word",
    "trace_q": "observation: pre-activation codes of the traced words",
    "trace_a": "observation: post-table codes",
    "trace_r": "observation: final codes (after the residual add)",
    "trace_g_valid": "observation: a gated GEMM input word (SE gating)",
    "trace_g_addr": "observation: its UB address",
    "trace_g": "observation: the gated word",
    "perf_valid": "pulses at the end of every compute instruction",
    "perf_layer": "its layer id",
    "perf_t": "cycle count at its end",
    "perf_wait": "cycles it waited for loads",
    "perf_busy": "cycles it was busy",
    "perf_mac": "cycles the PE array computed for it",
}
_MEM_PORT = {"sync": "synchronous read: `data` = word at last edge's `addr` (1 cycle)",
             "comb": "combinational read: `data` = word at `addr`",
             "write": "write `data` at `addr` on the clock edge where `en`"}


def _port_order(name: str):
    """rd_a__addr < rd_a__data < rd_b__addr ...; rc2__addr < rc10__addr (numbers by value)."""
    return [(0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", name)]


def package_readme(cfg: AccelConfig, modules: dict, mems: list[dict], paths: dict) -> str:
    from hfaccel.accel import isa
    from hfaccel.rtl.sram import KINDS
    from hfaccel.rtl.sram import __doc__ as sram_doc

    L = cfg.lanes
    o: list[str] = []
    w = o.append
    w(f"# hfaccel accelerator `{cfg.name}`: Verilog package\n")
    w(f"Generated by `hfaccel rtl --hw {cfg.name}` (`rtl/verilog.py`) from `config.json`; do not "
      "edit. The design is a programmable CNN engine (docs/architecture.md in the repository): "
      f"a {L}x{L} int8 PE array, a {cfg.ub_kib} KiB unified activation buffer in "
      f"{cfg.ub_banks} banks, a {cfg.bus_bytes}-byte external memory port.\n")
    w("| file | what |\n| --- | --- |")
    w(f"| `{TOP}.v` | every module, top level `{TOP}` (Verilog-2005, one clock `clk`, "
      "synchronous active-high `rst`) |")
    w("| `files.f` | file list for simulators and synthesis tools |")
    w(f"| `{TOP}.vlt` | Verilator lint waivers, each class with its reason: "
      f"`verilator --lint-only -Wall {TOP}.vlt {TOP}.v` |")
    w("| `config.json` | the configuration (every parameter and derived size) |")
    w("| `memories.json` | every on-chip memory: instance, module, width, depth, ports |")
    w("")
    w("Synthesis: `make synth HW=<hw> TARGET=generic|xilinx|ice40|ecp5` (Yosys) reports "
      "resources per module; see docs/fpga.md in the repository.\n")

    w("## Modules\n")
    w("| module | instances | what |\n| --- | --: | --- |")
    count: dict[str, int] = {}
    for mod in paths.values():
        count[mod] = count.get(mod, 0) + 1
    w(f"| `{TOP}` | 1 | {UNITS[TOP]} |")
    for mod in sorted(count):
        what = (UNITS.get(re.sub(r"_\d+$", "", mod))
                or KINDS.get(mod.removeprefix("hfaccel_mem_"), ""))
        w(f"| `{mod}` | {count[mod]} | {what} |")
    w("")

    w(f"## Top-level ports of `{TOP}`\n")
    w("| port | dir | bits | what |\n| --- | --- | --: | --- |")
    for p, d, bits in modules[TOP]:
        w(f"| `{p}` | {d} | {bits} | {_PORTS.get(p, '')} |")
    w("")
    w("The `trace_*` and `perf_*` outputs are observation ports for the testbench; leave them "
      "unconnected in a product and synthesis removes their logic.\n")

    w(f"## SoC integration: `{AXI_TOP}`\n")
    w(f"`{AXI_TOP}` is the engine behind AMBA interfaces (rtl/axi_top.py): one clock `aclk`, "
      "the active-low synchronous reset `aresetn`, an AXI4-Lite register slave `s_axi_*` "
      f"(32-bit data), an AXI4 memory master `m_axi_*` ({cfg.bus_bytes * 8}-bit data, "
      f"{cfg.axi_addr_bits}-bit addresses, {cfg.axi_id_bits}-bit IDs (config fields "
      "`axi_addr_bits`, `axi_id_bits`; every transaction carries ID 0), INCR bursts of up to "
      "16 beats that never cross 4 KiB, several reads in "
      "flight, reads wait for earlier writes' B responses), and a level interrupt `irq`. The "
      "names follow the conventions Vivado's and LiteX's interface inference recognize. Every "
      "address of a program is relative to the `base` register: the image runs wherever the "
      "host puts it. The `trace_*`/`perf_*` outputs are observation ports; leave them open.\n")
    w("| port | dir | bits |\n| --- | --- | --: |")
    group = ("aclk", "aresetn", "irq", "s_axi_", "m_axi_")  # clock first, observation last
    for p, d, bits in sorted(modules.get(AXI_TOP, []), key=lambda q: next(
            (i for i, g in enumerate(group) if q[0].startswith(g)), len(group))):
        w(f"| `{p}` | {d} | {bits} |")
    w("")
    w("### Register map (`s_axi`)\n")
    w("Generated from `accel/regs.py`, like the RTL decode, `hfaccel_regs.h` and the Python "
      "runtime's view (`hfaccel.accel.runtime`). Access: `rw`, `ro`, `w1s` (write 1: a pulse; "
      "reads 0), `w1c` (write 1 to clear).\n")
    from hfaccel.accel.regs import config_hash, markdown_table

    w(markdown_table())
    w(f"`cfg_hash` of this package: `0x{config_hash(cfg):08x}`.\n")
    w("### Bare-metal use\n")
    w("`hfaccel_regs.h` (generated) and `hfaccel_driver.c/.h` (`hfaccel_open` checks `id` and "
      "`cfg_hash`, `hfaccel_start(dev, base, irq)`, `hfaccel_wait`, `hfaccel_irq_ack`) compile "
      "with `-Wall -Werror`. Sequence: copy the compiled image (`Program.image`, input at "
      "`input_beat`) to a buffer the master can reach, write `base_lo`/`base_hi`, write "
      "`control` = start | irq_enable, wait for `irq` (or poll `status.done`), write 1 to "
      "`irq_status.done`, check `status.error`, read the logits at `output_beat`.\n")
    w("### Vivado block design\n")
    w("```tcl\n"
      f"add_files {TOP}.v\n"
      f"create_bd_cell -type module -reference {AXI_TOP} hfaccel_0\n"
      "# s_axi and m_axi are inferred as AXI interfaces, aclk/aresetn as their clock/reset\n"
      "apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {Master /zynq_ultra_ps_e_0/"
      "M_AXI_HPM0_FPD} [get_bd_intf_pins hfaccel_0/s_axi]\n"
      "apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config {Slave /zynq_ultra_ps_e_0/"
      "S_AXI_HP0_FPD} [get_bd_intf_pins hfaccel_0/m_axi]\n"
      "connect_bd_net [get_bd_pins hfaccel_0/irq] [get_bd_pins zynq_ultra_ps_e_0/pl_ps_irq0]\n"
      "```\n")
    w("### LiteX SoC\n")
    w("The core as a Migen `Instance`, its ports bound to LiteX AXI interfaces channel by "
      "channel (LiteX names a channel's fields without the channel prefix):\n")
    w("```python\n"
      "from migen import ClockSignal, Instance, ResetSignal, Signal\n"
      "from litex.soc.integration.soc import SoCRegion\n"
      "from litex.soc.interconnect import axi\n\n"
      "def axi_ports(prefix, bus, master):\n"
      "    ports = {}\n"
      "    for ch in ('aw', 'w', 'b', 'ar', 'r'):\n"
      "        ep = getattr(bus, ch)\n"
      "        drive = (ch in ('aw', 'w', 'ar')) == master  # the core drives this channel\n"
      "        o, i = ('o_', 'i_') if drive else ('i_', 'o_')\n"
      "        ports[o + f'{prefix}_{ch}valid'] = ep.valid\n"
      "        ports[i + f'{prefix}_{ch}ready'] = ep.ready\n"
      "        if ch in ('w', 'r') and master:\n"
      "            ports[o + f'{prefix}_{ch}last'] = ep.last\n"
      "        for name, *_ in ep.description.payload_layout:  # addr, len, data, resp, ...\n"
      "            ports[o + f'{prefix}_{ch}{name}'] = getattr(ep, name)\n"
      "    return ports\n\n"
      f"m_axi = axi.AXIInterface(data_width={cfg.bus_bytes * 8}, "
      f"address_width={cfg.axi_addr_bits}, id_width={cfg.axi_id_bits})\n"
      "s_axi = axi.AXILiteInterface(data_width=32, address_width=12)\n"
      "irq = Signal()\n"
      f"soc.specials += Instance('{AXI_TOP}', i_aclk=ClockSignal('sys'),\n"
      "    i_aresetn=~ResetSignal('sys'), o_irq=irq,\n"
      "    **axi_ports('m_axi', m_axi, master=True), **axi_ports('s_axi', s_axi, master=False))\n"
      f"soc.platform.add_source('{TOP}.v')\n"
      "soc.bus.add_master(name='hfaccel_dma', master=m_axi)\n"
      "soc.bus.add_slave('hfaccel', s_axi, region=SoCRegion(size=0x1000, cached=False))\n"
      "```\n")
    w("These snippets are untested here (no Vivado or LiteX on this machine); the AXI ports are "
      "verified with cocotbext-axi's AxiRam and AxiLiteMaster (tests/test_axi.py).\n")
    w("Status codes (`status`):\n")
    w("| code | meaning |\n| --: | --- |")
    for k, v in isa.ERRORS.items():
        w(f"| {k} | {v} |")
    w("")

    w("## Memory map\n")
    w(f"External memory is addressed in **beats** of {cfg.bus_bytes} bytes (`req_addr`); the "
      "program and all data (weights, parameters, tables, input and output) live there in a "
      "layout the compiler chooses (`accel/compiler.py`). On-chip buffers, the `dst` of a LOAD "
      "and their address units in instructions:\n")
    w("| buffer | `dst` | size | address unit | capacity |\n| --- | --: | --: | --- | --: |")
    w(f"| UB (activations) | {isa.BUF_UB} | {cfg.ub_kib} KiB | word of {L} bytes "
      f"(`lanes` int8 channels of one pixel); LOAD `buf` in beats of {cfg.words_per_beat} "
      f"word(s) | {cfg.ub_words} words |")
    w(f"| WGT (weights) | {isa.BUF_WGT} | {cfg.wgt_tiles * cfg.tile_bytes // 1024} KiB | tile of "
      f"{L}x{L} bytes ({cfg.beats_per_tile} beats) | {cfg.wgt_tiles} tiles |")
    w(f"| PRM (bias, shift) | {isa.BUF_PRM} | {cfg.prm_words * cfg.prm_word_bytes // 1024} KiB "
      f"| word of {cfg.prm_word_bytes} bytes ({cfg.beats_per_prm} beats) | {cfg.prm_words} "
      "words |")
    w(f"| TBL (activation tables) | {isa.BUF_TBL} | {cfg.table_slots * 256} B | beat "
      f"({cfg.bus_bytes} entries) | {cfg.table_slots} tables of 256 |")
    w("")
    w("UB word `(ct, p)` of a feature map lies at `base + ct * cstride + p`; UB word `a` is "
      f"in bank `a mod {cfg.ub_banks}` at row `a div {cfg.ub_banks}`.\n")

    w("## Instruction format\n")
    w(f"{isa.INSTR_BITS}-bit instructions ({cfg.instr_bytes} bytes, "
      f"{max(1, cfg.instr_bytes // cfg.bus_bytes)} beat(s)), little-endian, fields from bit 0 "
      "(`accel/isa.py`). Opcodes: "
      + ", ".join(f"{k} = {v}" for k, v in isa.OPCODES.items()) + ".\n")
    for op in ("LOAD", "STORE", "GEMM", "DW", "GAP"):
        fields = ", ".join(f"`{n}` [{pos + bits - 1}:{pos}]{' s' if sg else ''}"
                           for n, pos, bits, sg in isa.OFFSETS[op])
        w(f"* **{op}**: {fields}")
    w("\nNOP and END have the header only (`op`, `wait`, `signal`, `layer`); `s` marks signed "
      "fields.\n")

    w("## On-chip memories\n")
    w("| instance | module | width x depth | bits | ports |\n| --- | --- | --: | --: | --- |")
    total = 0
    for mm in mems:
        total += mm["bits"]
        ports = {}
        for p in mm["ports"]:
            ports[p["kind"]] = ports.get(p["kind"], 0) + 1
        pdesc = ", ".join(f"{n} {k}{' read' if k != 'write' else ''}" for k, n in ports.items())
        w(f"| `{mm['instance']}` | `{mm['module']}` | {mm['width']} x {mm['depth']} | "
          f"{mm['bits']} | {pdesc} |")
    w(f"\nTotal {total} bits ({total / 8 / 1024:.1f} KiB); the instruction FIFOs hold "
      f"{cfg.queue_depth} x {isa.INSTR_BITS} bits each in `hfaccel_fifo_instr`.\n")
    if cfg.ub_uram:
        w("`hfaccel_mem_ub_bank` keeps a copy of the bank per read port, the wide port's tagged "
          "`(* ram_style = \"ultra\" *)` and the narrow port's `\"block\"` (`ub_uram=1`: "
          "UltraRAM and block RAM on UltraScale+). For a part without UltraRAM, generate with "
          "`ub_uram=0` (`--hw default,ub_uram=0`: one memory, the tool's choice) or drop the "
          "tag, as `hfaccel synth` does for such targets.\n")
    w("### Memory module interfaces\n")
    doc = sram_doc.split("Semantics of every behavioural model", 1)[1]
    w("Semantics of every behavioural model" + doc.rstrip() + "\n")
    w(f"With `+define+{NO_MEM_MODELS}` the file declares none of the modules below; provide "
      "them (same names and ports) around your SRAM macros. Port lists:\n")
    for mod in sorted({mm["module"] for mm in mems}):
        kind = mod.removeprefix("hfaccel_mem_")
        ports = sorted(modules[mod], key=lambda p: (p[0] not in ("clk", "rst"),
                                                    _port_order(p[0])))
        w(f"* `{mod}` ({kind}): " + ", ".join(f"{d} [{b - 1}:0] `{p}`" if b > 1 else
                                               f"{d} `{p}`" for p, d, b in ports))
    w("")
    return "\n".join(o)
