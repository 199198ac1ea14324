"""SoC integration (issue 16): the register map and its generated views, the AXI4-Lite register
file against its reference, and the whole AXI top level on the ``small`` preset with models no
one here wrote (cocotbext-axi's ``AxiRam`` with random back-pressure, ``AxiLiteMaster``) driven
by the host runtime: a network bit-exact, a spilling program (read after write through AXI), a
non-zero base, error responses, a configuration-hash mismatch, start while busy, interrupt
clear."""

from __future__ import annotations

import json
import pickle
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from amaranth.sim import Simulator

from hfaccel.accel import regs
from hfaccel.accel.compiler import compile_graph
from hfaccel.accel.config import SMALL
from hfaccel.accel.isa import Status
from hfaccel.quant.reference import run_reference
from hfaccel.rtl.axil import AxilRegs, RefAxilRegs, port_name
from hfaccel.rtl.perfrec import PerfWriter, ref_perf_writes
from hfaccel.sim.hwsim import simulator_env
from support.netgen import random_block_net

# a buffer small enough that the compiler spills maps to external memory and loads them back
SPILL = SMALL.replace(name="small-spill", ub_kib=2)


# ------------------------------------------------------------------------------ register map
def test_register_map_is_consistent_and_generates_its_views():
    offs = [r.offset for r in regs.REGISTERS]
    assert len(set(offs)) == len(offs) and all(o % 4 == 0 for o in offs)
    assert regs.offset("control") == 0x08 and regs.field("status", "error").lsb == 8
    assert regs.unpack("status", regs.pack("status", busy=1, error=6)) == \
        {"busy": 1, "done": 0, "rejected": 0, "error": 6}
    with pytest.raises(ValueError, match="does not fit"):
        regs.pack("status", error=256)
    table = regs.markdown_table()
    h = regs.c_header(SMALL)
    for r in regs.REGISTERS:
        assert f"`{r.name}`" in table and f"HFACCEL_REG_{r.name.upper()} 0x{r.offset:03x}u" in h
    assert f"0x{regs.config_hash(SMALL):08x}u" in h
    assert regs.config_hash(SMALL) != regs.config_hash(SMALL.replace(ub_kib=64))
    assert regs.config_hash(SMALL) == regs.config_hash(SMALL.replace(name="other"))


def test_docs_register_table_is_the_generated_one(capsys):
    from hfaccel.cli import main

    doc = (Path(__file__).parents[1] / "docs" / "soc.md").read_text()
    table = doc.split("<!-- regs:begin -->\n", 1)[1].split("<!-- regs:end -->", 1)[0]
    assert table == regs.markdown_table(), "docs/soc.md: paste `hfaccel regs` between the markers"
    assert main(["regs"]) == 0 and capsys.readouterr().out == table
    assert main(["regs", "--format", "c", "--hw", "small"]) == 0
    assert f"0x{regs.config_hash(SMALL):08x}u" in capsys.readouterr().out


def test_c_header_and_driver_compile_with_wall_werror(tmp_path):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler")
    (tmp_path / "hfaccel_regs.h").write_text(regs.c_header(SMALL))
    drv = Path(__file__).parents[1] / "rtl" / "driver" / "hfaccel_driver.c"
    r = subprocess.run([gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(drv),
                        "-I", str(tmp_path), "-I", str(drv.parent), "-o",
                        str(tmp_path / "drv.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_register_file_matches_reference():
    """Random AXI4-Lite writes (with byte strobes, to every register and unmapped offsets) and
    reads against :class:`RefAxilRegs`, with read-only inputs and w1c sets changing."""
    dut = AxilRegs()
    ref = RefAxilRegs()
    rng = random.Random(3)
    ro = [(port_name(r, f), f.bits) for r in regs.REGISTERS for f in r.fields
          if f.access == "ro"]
    w1c = [(port_name(r, f), f.bits) for r in regs.REGISTERS for f in r.fields
           if f.access == "w1c"]
    w1s = [port_name(r, f) for r in regs.REGISTERS for f in r.fields if f.access == "w1s"]
    addrs = [r.offset for r in regs.REGISTERS] + [0x3C, 0xFFC]
    errors: list[str] = []

    async def bench(ctx):
        b = dut.bus
        ctx.set(b.bready, 1)
        ctx.set(b.rready, 1)
        for _ in range(400):
            for p, bits in ro:
                v = rng.getrandbits(bits)
                ctx.set(getattr(dut, p), v)
                ref.inputs[p] = v
            for p, bits in w1c:
                v = rng.getrandbits(bits) if rng.random() < 0.3 else 0
                ctx.set(getattr(dut, f"{p}_set"), v)
            await ctx.tick()
            for p, _ in w1c:
                ref.set(p, ctx.get(getattr(dut, f"{p}_set")))
                ctx.set(getattr(dut, f"{p}_set"), 0)
            addr = rng.choice(addrs)
            if rng.random() < 0.5:
                data, strb = rng.getrandbits(32), rng.choice([0xF, 0xF, 0x1, 0x6, 0x0])
                ctx.set(b.awaddr, addr)
                ctx.set(b.wdata, data)
                ctx.set(b.wstrb, strb)
                ctx.set(b.awvalid, 1)
                ctx.set(b.wvalid, 1)
                pulses = {p: ctx.get(getattr(dut, p)) for p in w1s}
                await ctx.tick()
                ref.write(addr, data, strb)
                for p in w1s:
                    if pulses[p] != ref.pulses.get(p, 0):
                        errors.append(f"pulse {p} {pulses[p]} != {ref.pulses.get(p, 0)}")
                ctx.set(b.awvalid, 0)
                ctx.set(b.wvalid, 0)
                if not ctx.get(b.bvalid) or ctx.get(b.bresp):
                    errors.append(f"no OKAY write response at {addr:#x}")
            else:
                ctx.set(b.araddr, addr)
                ctx.set(b.arvalid, 1)
                await ctx.tick()
                ctx.set(b.arvalid, 0)
                got, want = ctx.get(b.rdata), ref.read(addr)
                if not ctx.get(b.rvalid) or got != want:
                    errors.append(f"read {addr:#x}: {got:#x} != {want:#x}")
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert not errors, errors[:5]


@pytest.mark.parametrize("data_width,cap", [(128, 1000), (512, 1000), (64, 7), (32, 1000)])
def test_perf_writer_matches_reference(data_width, cap):
    """Random perf pulses (back to back too) and a master that takes beats at random: the
    beats written equal :func:`ref_perf_writes` (record layout, padding, ``cap``), ``urgent``
    rises only with a full queue, ``count`` ends at the records written."""
    dut = PerfWriter(data_width=data_width)
    rng = random.Random(data_width + cap)
    recs = [(rng.getrandbits(16), rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32),
             rng.getrandbits(32)) for _ in range(40)]
    got: list[tuple[int, int]] = []
    errors: list[str] = []

    async def bench(ctx):
        ctx.set(dut.addr, 0x123)
        ctx.set(dut.cap, cap)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        pending = list(recs)
        for _ in range(3000):
            fire = bool(pending) and rng.random() < 0.15
            if fire:
                if ctx.get(dut.rec_urgent):
                    fire = False  # the shell's engine would have stalled: never lose one
            ctx.set(dut.perf_valid, int(fire))
            if fire:
                r = pending.pop(0)
                for name, v in zip(("layer", "t", "wait", "busy", "mac"), r, strict=True):
                    ctx.set(getattr(dut, f"perf_{name}"), v)
            ready = rng.random() < 0.4
            ctx.set(dut.rec_ready, int(ready))
            if ready and ctx.get(dut.rec_valid):
                got.append((ctx.get(dut.rec_addr), ctx.get(dut.rec_data)))
            await ctx.tick()
        ctx.set(dut.perf_valid, 0)
        if not ctx.get(dut.idle) or ctx.get(dut.count) != min(cap, len(recs)):
            errors.append(f"idle {ctx.get(dut.idle)} count {ctx.get(dut.count)}")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    want = ref_perf_writes(recs, addr=0x123, cap=cap, data_width=data_width)
    assert not errors, errors
    assert got == want
    recs_back = regs.perf_records(b"".join(d.to_bytes(data_width // 8, "little")
                                           for _, d in got), data_width // 8)
    assert [tuple(r.values()) for r in recs_back] == recs[:cap]


def test_mmap_device_maps_registers_and_buffer(tmp_path):
    """The Linux device on plain files (no hardware here): register offsets, the DMA buffer at
    its bus address, out-of-buffer addresses refused, and a polled interrupt."""
    import asyncio

    from hfaccel.accel.runtime import MmapDevice

    (tmp_path / "regs").write_bytes(bytes(4096))
    (tmp_path / "buf").write_bytes(bytes(8192))
    dev = MmapDevice(str(tmp_path / "regs"), str(tmp_path / "buf"), buf_bus=0x8000_0000,
                     buf_bytes=8192)

    async def go():
        await dev.write32(regs.offset("base_hi"), 0x1234)
        assert await dev.read32(regs.offset("base_hi")) == 0x1234
        await dev.mem_write(0x8000_0010, b"abc")
        assert await dev.mem_read(0x8000_000F, 5) == b"\0abc\0"
        with pytest.raises(ValueError, match="outside the DMA buffer"):
            await dev.mem_read(0x8000_1FFF, 2)
        assert not await dev.wait_irq(0.01)
        await dev.write32(regs.offset("irq_status"), 1)
        assert await dev.wait_irq(0.01)

    asyncio.run(go())
    dev.close()
    raw = (tmp_path / "regs").read_bytes()
    assert raw[regs.offset("base_hi"):regs.offset("base_hi") + 4] == (0x1234).to_bytes(4, "little")


# ------------------------------------------------------------------------------ the AXI top
def test_c_driver_runs_on_the_verilator_model(tmp_path):
    """The bare-metal driver (compiled -Wall -Wextra -Werror) against the Verilator model of
    ``small``'s AXI top through AXI4-Lite (sim/tb/axi_harness.cpp: its register access ticks
    the model, a C++ AXI4 memory stalls every channel in 25% of cycles): it opens the device,
    sets the perf area, starts, waits for irq; logits equal the integer reference and the
    perf records one per compute instruction."""
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("no C++ compiler (g++): the Verilator harness cannot be built")
    from hfaccel.accel.runtime import decode_output
    from hfaccel.sim.driver_run import run_driver

    case, want = _net_case(SMALL, 1, 0)
    res = run_driver(case["prog"], case["x"], work=tmp_path, base=0x1F_F840, log=lambda *_: 0)
    assert res["rc"] == 0 and res["exit"] == 0, res
    assert regs.unpack("status", res["status"])["error"] == 0
    np.testing.assert_array_equal(decode_output(case["prog"], res["out"]).ravel(), want)
    assert len(res["perf"]) == res["perf_count"] == res["instrs"] > 0
    assert sum(r["mac"] for r in res["perf"]) == res["mac_cycles"]

def _net_case(cfg, seed: int, base: int, **kw) -> tuple[dict, np.ndarray]:
    graph, x = random_block_net(seed, res=16)
    ref = run_reference(graph, x)
    prog = compile_graph(graph, cfg)
    want = np.asarray(ref[graph[graph.output].output][0]).ravel()
    case = {"prog": prog, "x": ref[graph.layers[0].output][0], "base": base, "seed": seed, **kw}
    return case, want


@pytest.fixture(scope="module")
def axi_runs(tmp_path_factory):
    """Every case in one simulator run (Icarus) of the AXI top of ``small``."""
    from cocotb_tools.runner import get_runner

    from hfaccel.rtl.verilog import AXI_TOP, generate_verilog

    work = tmp_path_factory.mktemp("axi")
    cases, want = {}, {}
    cases["network"], want["network"] = _net_case(SMALL, 1, 0)
    cases["based"], want["based"] = _net_case(SMALL, 2, 0x1F_F840, pause=0.5)
    cases["spill"], want["spill"] = _net_case(SPILL, 3, 0x2000)
    bad = cases["network"]["prog"]
    cases["slverr_read"] = {"prog": bad, "x": cases["network"]["x"], "base": 0x4000,
                            "bad_read_from": 0x4000 + bad.input_beat * SMALL.bus_bytes,
                            "bad_read_to": 0x4000 + (bad.input_beat + 1) * SMALL.bus_bytes}
    cases["slverr_write"] = {**cases["network"], "base": 0x8000, "bad_write": True}
    other = compile_graph(random_block_net(1, res=16)[0],
                          SMALL.replace(name="other", watchdog_cycles=1000))
    cases["hash"] = {"prog": other, "x": cases["network"]["x"], "base": 0}
    cases["restart"] = {**cases["network"], "restart": True, "pause": 0}
    cases["reset"], want["reset"] = _net_case(SMALL, 1, 0x10000, soft_reset=800)
    spill_prog = cases["spill"]["prog"]
    assert spill_prog.spilled, "the spill case must spill a map (read after write)"
    cfile = work / "cases.pkl"
    cfile.write_bytes(pickle.dumps(cases))
    top = generate_verilog(SMALL, log=lambda *_: None)
    # the spill program runs on the same hardware except the buffer size: its own package
    spill_top = generate_verilog(SPILL, log=lambda *_: None)
    out = {}
    for hw_top, names in ((top, [n for n in cases if n != "spill"]), (spill_top, ["spill"])):
        build = Path("build/axisim") / f"{hw_top.parent.name}-icarus"
        with simulator_env("icarus"):
            runner = get_runner("icarus")
            runner.build(sources=[hw_top.resolve()], hdl_toplevel=AXI_TOP, build_dir=build,
                         timescale=("1ns", "1ps"), always=False, log_file=build / "build.log")
            runner.test(test_module="support.axi_cocotb", hdl_toplevel=AXI_TOP,
                        build_dir=build, test_dir=work,
                        testcase=[f"test_{n}" for n in names],
                        extra_env={"HFACCEL_AXI_CASES": str(cfile.resolve()),
                                   "HFACCEL_AXI_OUT": str(work.resolve())},
                        log_file=work / f"sim-{hw_top.parent.name}.log")
    for n in cases:
        f = work / f"{n}.json"
        out[n] = json.loads(f.read_text()) if f.exists() else {"missing": str(work)}
    return out, want


def _ok(res: dict) -> None:
    assert "error" not in res and "missing" not in res, res
    assert res["status"]["done"] == 1 and res["status"]["error"] == 0, res


@pytest.mark.parametrize("name", ["network", "based", "spill"])
def test_network_through_axi_bit_exact(axi_runs, name):
    """A network through the AXI ports under random back-pressure: logits equal the integer
    reference; "based" runs the image at a base that is not 4 KiB-aligned (bursts split at 4
    KiB, which the RAM model asserts), "spill" a program that stores maps and loads them back."""
    res, want = axi_runs[0][name], axi_runs[1][name]
    _ok(res)
    np.testing.assert_array_equal(np.array(res["output"]), want)
    assert res["counters"]["cycles"] > 0 and res["counters"]["instrs"] > 0
    # the runtime's per-instruction records, written by the engine through AXI, are what the
    # perf port gave (tb_top.v's perf.txt): one a compute instruction
    assert res["perf"] == res["perf_port"] and len(res["perf"]) == res["counters"]["instrs"]
    assert res["irq_status_after_clear"] == 0 and res["irq_after_clear"] == 0
    assert res["idle_after"]


def test_read_error_stops_cleanly(axi_runs):
    res = axi_runs[0]["slverr_read"]
    assert res["status"]["error"] == Status.BUS_ERROR and res["status"]["done"] == 1, res
    assert res["bus_error"] == {"resp": 2, "write": 0}
    assert "bus error" in res["error"] and res["idle_after"]


def test_write_error_stops_cleanly(axi_runs):
    res = axi_runs[0]["slverr_write"]
    assert res["status"]["error"] == Status.BUS_ERROR, res
    assert res["bus_error"] == {"resp": 2, "write": 1}
    assert res["idle_after"]


def test_runtime_refuses_other_configuration(axi_runs):
    res = axi_runs[0]["hash"]
    assert "configuration hash" in res.get("mismatch", ""), res


def test_soft_reset_mid_run_then_a_clean_run(axi_runs):
    """control.soft_reset stops the engine mid-run (not done, not busy once the bus drained);
    the next start runs the program bit-exact."""
    res = axi_runs[0]["reset"]
    st = res["status_after_reset"]
    assert st["busy"] == 0 and st["done"] == 0, res
    _ok(res)
    np.testing.assert_array_equal(np.array(res["output"]), axi_runs[1]["reset"])


def test_start_while_busy_is_rejected(axi_runs):
    res = axi_runs[0]["restart"]
    st = res["status_after_restart"]
    assert st["busy"] == 1 and st["rejected"] == 1, res
    _ok(res)  # the first run finishes undisturbed


def test_cli_run_drives_the_runtime_on_the_rtl(tmp_path, capsys, monkeypatch):
    """``hfaccel run``: the host runtime against the AXI top of ``small`` in Icarus, two images
    of a tiny QCDQ network at a base above 4 GiB (the memory model spans the master's address
    space); logits equal the integer reference."""
    from hfaccel.cli import main
    from support.onnxgen import tiny_qcdq

    onnx = tiny_qcdq(tmp_path / "tiny.onnx")
    monkeypatch.chdir(Path(__file__).parents[1])  # build/ of the checkout (cached simulator)
    code = main(["run", "--onnx", str(onnx), "--hw", "small", "--images", "2", "--data",
                 "digits", "--base", "0x1_2340_0040"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("logits == integer reference") == 2 and "PASS: 2 image(s)" in out, out
    assert "counters: cycles " in out and "instrs " in out
    # per-layer counters from the device's perf records, printed and written as CSV
    assert out.count("perf records from the device") == 2, out
    csv = Path(out.split("perf records from the device; ")[1].split(")")[0])
    rows = csv.read_text().splitlines()
    assert rows[0].startswith("op,name,instrs,cycles,end,wait,busy,mac") and len(rows) > 2


def test_axi_widths_come_from_the_config(tmp_path, capsys, monkeypatch):
    """``axi_addr_bits``/``axi_id_bits`` size the master's ports (Verilog package README,
    LiteX snippet), and a 32-bit-address, 4-bit-ID ``small`` runs a network bit-exact through
    the host runtime (Icarus)."""
    from hfaccel.cli import main
    from support.onnxgen import tiny_qcdq

    onnx = tiny_qcdq(tmp_path / "tiny.onnx")
    monkeypatch.chdir(Path(__file__).parents[1])
    code = main(["run", "--onnx", str(onnx), "--hw", "small,axi_addr_bits=32,axi_id_bits=4",
                 "--data", "digits", "--base", "0xf3f0_0000"])
    out = capsys.readouterr().out
    assert code == 0 and "logits == integer reference" in out, out
    readme = next(Path("build/rtl").glob("small-*axi_addr_bits32*/README.md")).read_text()
    assert "32-bit addresses, 4-bit IDs" in readme
    for port, bits in (("awaddr", 32), ("araddr", 32), ("awid", 4), ("arid", 4), ("bid", 4),
                       ("rid", 4)):
        assert f"| `m_axi_{port}` | {'in' if port[0] in 'br' else 'out'}put | {bits} |" \
            in readme, port
    assert "address_width=32, id_width=4" in readme
