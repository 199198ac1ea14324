"""The PE array's MAC cell (rtl/mac.py): the Amaranth module against its reference, the DSP48E2
wrapper of the UltraScale flows against the Amaranth module, and what Yosys makes of the
wrapper."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hfaccel.rtl.mac import (
    CONTROL,
    DATA,
    MAC_MODULE,
    MacPair,
    check_width,
    dsp48e2_verilog,
    ref_mac_pair,
)
from hfaccel.rtl.verilog import parse_modules

MODEL = Path(__file__).parent / "support" / "dsp48e2_model.v"
EDGES_A = (-256, -129, -128, -1, 0, 1, 127, 128, 255)  # 9-bit: int8 values and uint8 codes
EDGES_W = (-128, -127, -1, 0, 1, 127)


def _stimulus(n: int, seed: int, keep: float = 0.8) -> list[dict]:
    """``n`` cycles of inputs: edge operands half of the time, long accumulations (``acc``
    mostly high) so that a narrow accumulator wraps, every control combination the PE array
    drives (the cascade and PE 1's accumulate never both)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        edge = rnd.random() < 0.5
        z1 = "cas1" if rnd.random() > keep else rnd.choice(("acc1",) * 9 + (None,))
        x = {"ce0": int(rnd.random() < 0.85), "acc0": int(rnd.random() < keep),
             "ce1": int(rnd.random() < 0.85), "acc1": int(z1 == "acc1"),
             "cas1": int(z1 == "cas1"), "a_en": rnd.getrandbits(1), "d_en": rnd.getrandbits(1)}
        for n_ in ("a0", "a1"):
            x[n_] = rnd.choice(EDGES_A) if edge else rnd.randint(-256, 255)
        for n_ in ("w", "t"):
            x[n_] = tuple(rnd.choice(EDGES_W) if edge else rnd.randint(-128, 127)
                          for _ in range(2))
        out.append(x)
    return out


def _word(pair) -> int:
    """Two int8 as the 16-bit port (the first in the low byte)."""
    return (pair[0] & 0xFF) | (pair[1] & 0xFF) << 8


def _expected(stim: list[dict], width: int) -> list[tuple[int, int]]:
    """``(p0, p1)`` after each cycle's clock edge, from the reference."""
    state, out = (0, 0, 0), []
    for x in stim:
        state = ref_mac_pair(state, width=width, **x)
        out.append(state[:2])
    return out


@pytest.mark.parametrize("width", [18, 20, 48])
def test_mac_pair_matches_reference(width):
    stim = _stimulus(800, seed=width, keep=0.98)
    want = _expected(stim, width)
    if width == 18:  # the sums leave the range: the registers wrap as the reference does
        assert want != _expected(stim, 64)
    dut = MacPair(width=width)
    got = []

    async def bench(ctx):
        for x in stim:
            for k, v in x.items():
                ctx.set(getattr(dut, k), _word(v) if k in ("w", "t") else v)
            await ctx.tick()
            got.append((ctx.get(dut.p0), ctx.get(dut.p1)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == want


def test_mac_rejects_a_bad_width():
    for bad in (17, 49, 20.0):  # (MacPair and PeArray validate with it)
        with pytest.raises(ValueError, match="width must be an integer in 18..48"):
            check_width(bad)


def _testbench(stim: list[dict], width: int) -> str:
    """A self-checking Verilog bench: the behavioural module (``mac_ref``) and the wrapper
    (``hfaccel_mac_pair``) side by side, the stimulus applied between clock edges."""
    names = [*CONTROL, *DATA]
    bits = {"a0": 9, "a1": 9, "w": 16, "t": 16}
    conn = ", ".join(f".{n}({n})" for n in ["clk", "rst", *names])
    lines = ["module tb; reg clk = 0, rst = 0;",
             "  " + " ".join(f"reg {n} = 0;" for n in CONTROL),
             "  reg [8:0] a0 = 0, a1 = 0; reg [15:0] w = 0, t = 0;",
             f"  wire [{width - 1}:0] r0, r1, d0, d1; integer bad = 0, n = 0;",
             f"  mac_ref r ({conn}, .p0(r0), .p1(r1));",
             f"  {MAC_MODULE} d ({conn}, .p0(d0), .p1(d1));",
             "  always #5 clk = ~clk;",
             "  always @(negedge clk) begin n = n + 1;"
             " if (r0 !== d0 || r1 !== d1) begin bad = bad + 1;"
             " if (bad < 5) $display(\"cycle %0d: ref %h %h dsp %h %h\", n, r0, r1, d0, d1);"
             " end end",
             "  initial begin"]
    for x in stim:
        sets = " ".join(f"{k} = {_word(v) if k in ('w', 't') else v & ((1 << bits[k]) - 1)};"
                        if k in DATA else f"{k} = {v};" for k, v in x.items())
        lines.append(f"    @(negedge clk); {sets}")
    lines += ["    @(negedge clk); @(negedge clk);",
              "    $display(\"RESULT %0d %0d\", n, bad); $finish;", "  end", "endmodule"]
    return "\n".join(lines) + "\n"


def _run_bench(tmp_path, wrapper: str, behav: str, stim, width) -> str:
    (tmp_path / "ref.v").write_text(behav)
    (tmp_path / "dsp.v").write_text(wrapper)
    (tmp_path / "tb.v").write_text(_testbench(stim, width))
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "tb.v", "ref.v", "dsp.v", str(MODEL)],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=tmp_path, capture_output=True, text=True)
    return out.stdout + out.stderr


def _behav(width: int) -> tuple[str, list]:
    text = verilog.convert(MacPair(width=width), name="mac_ref", emit_src=False)
    return text, parse_modules(text)["mac_ref"]


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (make setup)")
@pytest.mark.parametrize("width", [18, 20])
def test_dsp48e2_wrapper_matches_the_module(tmp_path, width):
    """The UltraScale flows' two DSP48E2s compute what the generated module does, cycle by
    cycle (the primitive as tests/support/dsp48e2_model.v models it from UG579)."""
    behav, ports = _behav(width)
    stim = _stimulus(2000, seed=100 + width)
    out = _run_bench(tmp_path, dsp48e2_verilog(ports), behav, stim, width)
    res = [ln for ln in out.splitlines() if ln.startswith("RESULT")]
    assert res, out
    n, bad = map(int, res[0].split()[1:])
    assert n >= len(stim) and bad == 0, out
    # the model stops on a mode it does not implement: a wrapper using one fails here
    assert "fatal" not in out.lower()


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (make setup)")
def test_dsp48e2_bench_catches_a_wrong_wrapper(tmp_path):
    """The check above is not vacuous: a wrapper without the slice's A-gate inversion differs,
    and one with PE 1's Z code wrong (P and PCIN swapped) too."""
    behav, ports = _behav(20)
    stim = _stimulus(200, seed=1)
    good = dsp48e2_verilog(ports)
    for bad in (good.replace(".IS_INMODE_INVERTED(5'b00010)", ".IS_INMODE_INVERTED(5'b00000)"),
                good.replace("1'b0, acc1, cas1, 4'b0101", "1'b0, cas1, acc1, 4'b0101")):
        assert bad != good
        out = _run_bench(tmp_path, bad, behav, stim, 20)
        assert "cycle" in out, out


@pytest.mark.skipif(shutil.which("yosys") is None, reason="needs Yosys (make setup)")
def test_dsp48e2_wrapper_is_two_dsps_and_nothing_else(tmp_path):
    """On UltraScale+ the MAC cell is two DSP48E2s alone: no LUT, no flip-flop (the behavioural
    module keeps its accumulate, selects and pair adder in the fabric there)."""
    from hfaccel.rtl.synth import ALU_TREE_MAP, PRIM_TAG, _script

    behav = verilog.convert(MacPair(width=20), name=MAC_MODULE, emit_src=False)
    text = dsp48e2_verilog(parse_modules(behav)[MAC_MODULE])
    # the string the synthesis flow looks for to read the primitives' black boxes
    assert PRIM_TAG in text and PRIM_TAG not in behav
    (tmp_path / "job.v").write_text(text)
    (tmp_path / ALU_TREE_MAP[0]).write_text(ALU_TREE_MAP[1])
    (tmp_path / "synth.ys").write_text(_script("xilinx", "xcup", MAC_MODULE, [],
                                               prims=PRIM_TAG in text))
    r = subprocess.run(["yosys", "-q", "-s", "synth.ys"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    cells = json.loads((tmp_path / "stat.json").read_text())["modules"]
    cells = next(iter(cells.values()))["num_cells_by_type"]
    assert cells == {"DSP48E2": 2}, cells
