"""The PE's MAC cell (rtl/mac.py): the Amaranth module against its reference, the DSP48E2 wrapper
of the UltraScale flows against the Amaranth module, and what Yosys makes of the wrapper."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hfaccel.rtl.mac import MAC_MODULE, Mac, check_width, dsp48e2_verilog, ref_mac
from hfaccel.rtl.verilog import parse_modules

MODEL = Path(__file__).parent / "support" / "dsp48e2_model.v"
EDGES_A = (-256, -129, -128, -1, 0, 1, 127, 128, 255)  # 9-bit: int8 values and uint8 codes
EDGES_W = (-128, -127, -1, 0, 1, 127)


def _stimulus(n: int, seed: int) -> list[dict]:
    """``n`` cycles of inputs: edge operands half of the time, long accumulations (``acc``
    mostly high) so that a narrow accumulator wraps, every control combination."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        edge = rnd.random() < 0.5
        out.append({
            "ce": int(rnd.random() < 0.85), "acc": int(rnd.random() < 0.8),
            "mul": int(rnd.random() < 0.85), "use_t": rnd.getrandbits(1),
            "a": rnd.choice(EDGES_A) if edge else rnd.randint(-256, 255),
            "w": rnd.choice(EDGES_W) if edge else rnd.randint(-128, 127),
            "t": rnd.choice(EDGES_W) if edge else rnd.randint(-128, 127),
        })
    return out


def _expected(stim: list[dict], width: int) -> list[int]:
    """``p`` after each cycle's clock edge, from the reference."""
    p, out = 0, []
    for s in stim:
        p = ref_mac(p, **s, width=width)
        out.append(p)
    return out


@pytest.mark.parametrize("width", [17, 20, 48])
def test_mac_matches_reference(width):
    stim = _stimulus(600, seed=width)
    want = _expected(stim, width)
    if width == 17:  # the sums leave the range: the register wraps as the reference does
        assert want != _expected(stim, 64)
    dut = Mac(width=width)
    got = []

    async def bench(ctx):
        for s in stim:
            for k, v in s.items():
                ctx.set(getattr(dut, k), v)
            await ctx.tick()
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == want


def test_mac_rejects_a_bad_width():
    for bad in (16, 49, 20.0):  # (Mac and PeArray validate with it)
        with pytest.raises(ValueError, match="width must be an integer in 17..48"):
            check_width(bad)


def _testbench(stim: list[dict], width: int) -> str:
    """A self-checking Verilog bench: the behavioural module (``mac_ref``) and the wrapper
    (``hfaccel_mac``) side by side, the stimulus applied between clock edges."""
    lines = ["module tb; reg clk = 0, rst = 0, ce = 0, acc = 0, mul = 0, use_t = 0;",
             "  reg [8:0] a = 0; reg [7:0] w = 0, t = 0;",
             f"  wire [{width - 1}:0] p_ref, p_dsp; integer bad = 0, n = 0;",
             "  mac_ref r (.clk(clk), .rst(rst), .ce(ce), .acc(acc), .mul(mul), .use_t(use_t),"
             " .a(a), .w(w), .t(t), .p(p_ref));",
             f"  {MAC_MODULE} d (.clk(clk), .rst(rst), .ce(ce), .acc(acc), .mul(mul),"
             " .use_t(use_t), .a(a), .w(w), .t(t), .p(p_dsp));",
             "  always #5 clk = ~clk;",
             "  always @(negedge clk) begin n = n + 1;"
             " if (p_ref !== p_dsp) begin bad = bad + 1;"
             " if (bad < 5) $display(\"cycle %0d: ref %h dsp %h\", n, p_ref, p_dsp); end end",
             "  initial begin"]
    for s in stim:
        sets = " ".join(f"{k} = {v & ((1 << (9 if k == 'a' else 8)) - 1) if k in 'awt' else v};"
                        for k, v in s.items())
        lines.append(f"    @(negedge clk); {sets}")
    lines += ["    @(negedge clk); @(negedge clk);",
              "    $display(\"RESULT %0d %0d\", n, bad); $finish;", "  end", "endmodule"]
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (make setup)")
@pytest.mark.parametrize("width", [17, 20])
def test_dsp48e2_wrapper_matches_the_module(tmp_path, width):
    """The UltraScale flows' DSP48E2 instance computes what the generated module does, cycle by
    cycle (the primitive as tests/support/dsp48e2_model.v models it from UG579)."""
    behav = verilog.convert(Mac(width=width), name="mac_ref", emit_src=False)
    ports = parse_modules(behav)["mac_ref"]
    (tmp_path / "ref.v").write_text(behav)
    (tmp_path / "dsp.v").write_text(dsp48e2_verilog(ports))
    stim = _stimulus(2000, seed=100 + width)
    (tmp_path / "tb.v").write_text(_testbench(stim, width))
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "tb.v", "ref.v", "dsp.v", str(MODEL)],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=tmp_path, capture_output=True, text=True)
    res = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    assert res, out.stdout + out.stderr
    n, bad = map(int, res[0].split()[1:])
    assert n >= len(stim) and bad == 0, out.stdout
    # the model stops on a mode it does not implement: a wrapper using one fails here
    assert "fatal" not in (out.stdout + out.stderr).lower()


def test_dsp48e2_model_refuses_modes_it_does_not_model(tmp_path):
    """The check above is not vacuous: a wrapper with the P register's Z code wrong (PCIN
    instead of P) stops the model."""
    if shutil.which("iverilog") is None:
        pytest.skip("needs Icarus Verilog (make setup)")
    behav = verilog.convert(Mac(width=20), name="mac_ref", emit_src=False)
    wrong = dsp48e2_verilog(parse_modules(behav)["mac_ref"]).replace(
        "1'b0, acc, 1'b0, 1'b0, mul", "1'b0, 1'b0, acc, 1'b0, mul")
    (tmp_path / "ref.v").write_text(behav)
    (tmp_path / "dsp.v").write_text(wrong)
    (tmp_path / "tb.v").write_text(_testbench(_stimulus(50, seed=1), 20))
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "tb.v", "ref.v", "dsp.v", str(MODEL)],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=tmp_path, capture_output=True, text=True)
    assert "DSP48E2 model: Z code" in out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("yosys") is None, reason="needs Yosys (make setup)")
def test_dsp48e2_wrapper_is_one_dsp_and_nothing_else(tmp_path):
    """On UltraScale+ the MAC cell is a DSP48E2 alone: no LUT, no flip-flop (the behavioural
    module keeps its accumulate and selects in the fabric there)."""
    from hfaccel.rtl.synth import ALU_TREE_MAP, _script

    behav = verilog.convert(Mac(width=20), name=MAC_MODULE, emit_src=False)
    (tmp_path / "job.v").write_text(dsp48e2_verilog(parse_modules(behav)[MAC_MODULE]))
    (tmp_path / ALU_TREE_MAP[0]).write_text(ALU_TREE_MAP[1])
    (tmp_path / "synth.ys").write_text(_script("xilinx", "xcup", MAC_MODULE, [], prims=True))
    r = subprocess.run(["yosys", "-q", "-s", "synth.ys"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    cells = json.loads((tmp_path / "stat.json").read_text())["modules"]
    cells = next(iter(cells.values()))["num_cells_by_type"]
    assert cells == {"DSP48E2": 1}, cells
