"""The bare-metal C driver against the Verilator model of ``hfaccel_axi_top``.

:func:`build_driver_harness` compiles the Verilog package's ``hfaccel_driver.c`` as C with
``-std=c99 -Wall -Wextra -Werror -DHFACCEL_EXTERNAL_REG_IO`` and links it with
``sim/tb/axi_harness.cpp`` (its register access as AXI4-Lite transactions that tick the model,
an AXI4 memory on ``m_axi``) into ``verilator --cc --exe --build`` of the AXI top; cached under
``build/driversim/<hw>``. :func:`run_driver` loads a program image with its input, and the
driver opens the device, sets the perf record area, starts, waits for ``irq`` and reads the
counters; it returns them with the logits' bytes and the perf records.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from hfaccel.accel.compiler import Program, pack_input
from hfaccel.accel.regs import config_hash, perf_records
from hfaccel.accel.runtime import check_base, perf_area
from hfaccel.errors import HfaccelError

__all__ = ["HARNESS", "build_driver_harness", "run_driver"]

HARNESS = Path(__file__).parent / "tb" / "axi_harness.cpp"


def _run(cmd: list[str], log_file: Path, what: str) -> None:
    with open(log_file, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        raise HfaccelError(f"{what} failed (exit {r.returncode}); see {log_file}")


def build_driver_harness(cfg, *, log=print) -> Path:
    """The harness executable for ``cfg`` (built once; rebuilt when a source is newer)."""
    from hfaccel.rtl.verilog import AXI_TOP, generate_verilog
    from hfaccel.sim.hwsim import simulator_env

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None or (shutil.which("g++") or shutil.which("c++")) is None:
        raise HfaccelError("the driver harness needs a C and a C++ compiler (gcc, g++)")
    top = generate_verilog(cfg, log=log)
    pkg = top.parent.resolve()  # the package: hfaccel_top.v, hfaccel_regs.h, hfaccel_driver.c/.h
    build = (Path("build/driversim") / pkg.name).resolve()
    exe = build / "axi_harness"
    sources = [top, HARNESS, pkg / "hfaccel_driver.c", pkg / "hfaccel_driver.h",
               pkg / "hfaccel_regs.h"]
    if exe.exists() and exe.stat().st_mtime > max(s.stat().st_mtime for s in sources):
        return exe
    build.mkdir(parents=True, exist_ok=True)
    blog = build / "build.log"
    blog.write_text("")
    t = time.perf_counter()
    log(f"building the driver harness in {build} (verilator --cc --exe --build) ...")
    drv = build / "hfaccel_driver.o"
    _run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-DHFACCEL_EXTERNAL_REG_IO",
          "-I", str(pkg), "-c", str(pkg / "hfaccel_driver.c"), "-o", str(drv)],
         blog, "compiling the C driver with -Wall -Wextra -Werror")
    with simulator_env("verilator"):
        _run(["verilator", "--cc", "--exe", "--build", "-j", "2", "--top-module", AXI_TOP,
              "--no-timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast",
              "--x-initial", "fast", "--Mdir", str(build), "-o", "axi_harness", "-CFLAGS",
              f"-I{pkg}", str(top.resolve()), str(HARNESS), str(drv)],
             blog, "building the Verilator model with the driver harness")
    log(f"built {exe} in {time.perf_counter() - t:.0f} s")
    return exe


def run_driver(prog: Program, x_codes, *, work: Path, base: int = 0x10_0000,
               stall: int = 25, log=print) -> dict:
    """Run ``prog`` on ``x_codes`` through the C driver on the Verilator model; returns
    ``{"rc", "status", "cycles", "instrs", ..., "out": bytes, "perf": [records]}``."""
    cfg = prog.cfg
    check_base(prog, base)
    exe = build_driver_harness(cfg, log=log)
    work.mkdir(parents=True, exist_ok=True)
    image = bytearray(prog.image)
    blob = pack_input(prog, x_codes)
    b0 = prog.input_beat * cfg.bus_bytes
    image[b0:b0 + len(blob)] = blob
    (work / "image.bin").write_bytes(image)
    perf_addr, perf_cap = perf_area(prog)
    args = [str(exe), str(work / "image.bin"), f"{base:x}", f"{config_hash(cfg):x}",
            str(perf_addr), str(perf_cap), str(prog.output_beat * cfg.bus_bytes),
            str(prog.output_words * cfg.lanes), str(stall), str(work)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    res_file = work / "result.txt"
    if not res_file.exists():
        raise HfaccelError(f"the driver harness did not finish (exit {r.returncode}): "
                           f"{r.stderr.strip()[-500:]}")
    res: dict = {k: int(v) for k, v in (ln.split() for ln in res_file.read_text().splitlines())}
    res["out"] = (work / "out.bin").read_bytes()
    res["perf"] = perf_records((work / "perf.bin").read_bytes(), cfg.bus_bytes)
    res["exit"] = r.returncode
    return res
