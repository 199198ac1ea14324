"""Unit checks of the arithmetic builders (:mod:`hfaccel.rtl.arith`) in three simulators.

:class:`ArithUnits` instantiates the builders the engine's units use, as they compose them:
the post-processing lane (``bias_requant8``, as in ``rtl/post.py``: int32 accumulator + int32
bias, per-channel requantization), the SE gate lane (``gate8``, ``rtl/gemm.py``: int8 x int8,
requantized), the residual-add lane (``add8``, ``rtl/gemm.py``: two int8 codes aligned by left
shifts in 24 bits, requantized), one PE-array row (``rtl/pe.py``'s ``pe_row``: ``lanes`` int8
products and the adder tree) and one GAP lane (``rtl/gap.py``'s ``gap_sum``: the sum of the
first ``2**gap_lvl`` of ``ub_banks`` words), plus the bare ``round_shift`` and ``saturate8``. The
row and GAP sums' ports are as wide as the builders' results. All of it is combinational; one
vector per step.

The same vectors run in Amaranth's simulator (:func:`run_amaranth_units`) and, through cocotb, on
the Verilog that ``amaranth.back.verilog`` writes for the wrapper, in Verilator and Icarus
(:func:`build_units`, :func:`run_cocotb_units`; the cocotb side is :mod:`support.unit_cocotb`).
:func:`expected` computes every output from :mod:`hfaccel.quant.intops`, the golden definitions.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from amaranth import Module, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hfaccel.quant import intops
from hfaccel.rtl.arith import (
    add8,
    bias_requant8,
    gate8,
    lanes_of,
    requant8,
    round_shift,
    saturate8,
)
from hfaccel.rtl.gap import gap_sum
from hfaccel.rtl.pe import pe_row, row_sum_shape
from hfaccel.sim.hwsim import simulator_env

__all__ = ["ArithUnits", "beyond_width_vectors", "build_units", "expected", "mismatches",
           "run_amaranth_units", "run_cocotb_units", "vectors", "write_verilog"]

TOP = "units_top"
# the contract's shift range (AccelConfig.shift_min/shift_max): the builders are only defined there
SH_MIN, SH_MAX = -16, 31
# Beyond these right shifts the gate lane (16-bit product) and the add lane (24 bits) shift
# past their input's width; round_shift once got that wrong for negative values (-1 instead of
# 0): :func:`beyond_width_vectors` targets exactly that region.
GATE_SH_WIDTH, ADD_SH_WIDTH = 17, 25


def _gap_sum_width(banks: int) -> int:
    """The width of a GAP lane's sum of ``banks`` int8 codes (the builder's own)."""
    codes = [Signal(signed(8)) for _ in range(banks)]
    return Value.cast(gap_sum(codes, Signal(range(banks.bit_length())))).shape().width


def _ports(lanes: int, banks: int) -> dict[str, tuple[str, int, bool]]:
    """name -> (direction, width, signed)."""
    return {
        # bare round_shift (its full-width result) and requant8 of a 34-bit value
        "rs_x": ("in", 34, True), "rs_sh": ("in", 8, True),
        "rs_out": ("out", 52, True), "rq_out": ("out", 8, True),
        "sat_in": ("in", 40, True), "sat_out": ("out", 8, True),
        # post-processing lane: s = acc + bias in 34 bits, requantized by the channel's shift
        "post_acc": ("in", 32, True), "post_bias": ("in", 32, True),
        "post_sh": ("in", 8, True), "post_q": ("out", 8, True),
        # SE gate lane: x * gate (16 bits), requantized by gshift
        "gate_x": ("in", 8, True), "gate_g": ("in", 8, True), "gate_sh": ("in", 8, True),
        "gate_q": ("out", 8, True),
        # residual add lane: (a << sa) + (b << sb) in 24 bits, requantized by ashift
        "add_a": ("in", 8, True), "add_b": ("in", 8, True), "add_sa": ("in", 5, False),
        "add_sb": ("in", 5, False), "add_sh": ("in", 8, True), "add_r": ("out", 8, True),
        # one PE-array row: sum of lanes int8 x int8 products
        "dot_x": ("in", lanes * 8, False), "dot_w": ("in", lanes * 8, False),
        "dot_sum": ("out", row_sum_shape(lanes).width, True),
        # one GAP lane: sum of the first 2**gap_lvl of ub_banks int8 codes
        "gap_x": ("in", banks * 8, False), "gap_lvl": ("in", 8, False),
        "gap_sum": ("out", _gap_sum_width(banks), True),
    }


class ArithUnits(wiring.Component):
    """The arithmetic builders composed as in the engine, each behind its own ports."""

    def __init__(self, lanes: int = 8, banks: int = 8):
        self.lanes, self.banks = lanes, banks
        self.port_spec = _ports(lanes, banks)
        super().__init__({n: (In if d == "in" else Out)(signed(w) if s else w)
                          for n, (d, w, s) in self.port_spec.items()})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.rs_out.eq(round_shift(m, self.rs_x, self.rs_sh, name="rs"))
        m.d.comb += self.rq_out.eq(requant8(m, self.rs_x, self.rs_sh, name="rq"))
        m.d.comb += self.sat_out.eq(saturate8(m, self.sat_in, name="sat"))
        # the lane builders of rtl/post.py and rtl/gemm.py: post-processing, SE gate, residual add
        m.d.comb += self.post_q.eq(bias_requant8(m, self.post_acc, self.post_bias, self.post_sh,
                                                 name="post"))
        m.d.comb += self.gate_q.eq(gate8(m, self.gate_x, self.gate_g, self.gate_sh, name="gate"))
        m.d.comb += self.add_r.eq(add8(m, self.add_a, self.add_sa, self.add_b, self.add_sb,
                                       self.add_sh, name="add"))
        # a PE-array row in GEMM mode (rtl/pe.py's builder)
        xs, ws = lanes_of(self.dot_x, self.lanes), lanes_of(self.dot_w, self.lanes)
        _, row_sum = pe_row(m, xs, ws, name="pp")
        m.d.comb += self.dot_sum.eq(row_sum)
        # a GAP lane: a prefix of one wide read's words (rtl/gap.py's builder)
        gx = lanes_of(self.gap_x, self.banks)
        m.d.comb += self.gap_sum.eq(gap_sum(gx, self.gap_lvl))
        return m


# ------------------------------------------------------------------------------ vectors
def _pack(vals, bits: int = 8) -> int:
    return sum((int(v) & ((1 << bits) - 1)) << (i * bits) for i, v in enumerate(vals))


def vectors(n: int, *, lanes: int = 8, banks: int = 8, seed: int = 0) -> list[dict]:
    """``n`` random vectors (signed values), the first ones on the edges.

    Edges: ties ``(2k+1) * 2^(s-1)`` of both signs for every right shift, the largest and
    smallest inputs, values just inside/outside the int8 range after the shift, every left
    shift, ``-128 * -128`` in the gate and in every PE lane, empty and full GAP masks.
    """
    rng = random.Random(seed)
    out = []
    i8 = [-128, -127, -1, 0, 1, 126, 127]

    def rnd(bits):
        return rng.randint(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)

    for i in range(n):
        e = i < n // 2  # first half: edge cases, second half: uniform random
        sh = rng.randint(SH_MIN, SH_MAX)
        if e and sh > 0:  # an exact tie of either sign, in or beyond the int8 range
            k = rng.choice([rng.randint(-130, 129), rng.randint(-3, 2)])
            rs_x = max(-(1 << 33), min((1 << 33) - 1, (2 * k + 1) << (sh - 1)))
        elif e:
            rs_x = rng.choice([-(1 << 33), (1 << 33) - 1, 0, 1, -1, 127, 128, -128, -129,
                               rnd(12), 128 * 128])
        else:
            rs_x = rnd(34)
        sat_in = rng.choice([127, 128, -128, -129, 0, -(1 << 39), (1 << 39) - 1, rnd(9)]) \
            if e else rnd(40)
        # post: acc + bias on a tie (or at the int32 extremes)
        p_sh = rng.randint(SH_MIN, SH_MAX)
        acc = rng.choice([-(1 << 31), (1 << 31) - 1, rnd(20)]) if e else rnd(32)
        if e and p_sh > 0 and rng.random() < 0.7:
            tie = (2 * rng.randint(-130, 129) + 1) << (p_sh - 1)
            bias = max(-(1 << 31), min((1 << 31) - 1, tie - acc))
        else:
            bias = rng.choice([-(1 << 31), (1 << 31) - 1, 0]) if e else rnd(32)
        # gate: -128 * -128, odd x against an odd multiple of 2^(s-1) (ties)
        g_sh = rng.randint(-4, 12) if e else rng.randint(SH_MIN, SH_MAX)
        gx, gg = (rng.choice(i8), rng.choice(i8)) if e else (rnd(8), rnd(8))
        if e and g_sh > 0 and rng.random() < 0.5:
            gx = rng.randrange(-127, 127, 2)
            gg = max(-128, min(127, (1 << (g_sh - 1)) * rng.choice([1, -1, 3, -3])))
        # add: alignment shifts of the compiler's range (0..14)
        aa, ab = (rng.choice(i8), rng.choice(i8)) if e else (rnd(8), rnd(8))
        sa, sb = rng.randint(0, 14), rng.randint(0, 14)
        a_sh = rng.randint(SH_MIN, SH_MAX)
        dot_x = [rng.choice([-128, rnd(8)]) for _ in range(lanes)]
        dot_w = [rng.choice([-128, rnd(8)]) for _ in range(lanes)]
        if e and i % 3 == 0:  # the extreme row sums
            dot_x = [-128] * lanes
            dot_w = [rng.choice([-128, 127])] * lanes
        gap_x = [rng.choice([-128, 127, rnd(8)]) if e else rnd(8) for _ in range(banks)]
        out.append({"rs_x": rs_x, "rs_sh": sh, "sat_in": sat_in, "post_acc": acc,
                    "post_bias": bias, "post_sh": p_sh, "gate_x": gx, "gate_g": gg,
                    "gate_sh": g_sh, "add_a": aa, "add_b": ab, "add_sa": sa, "add_sb": sb,
                    "add_sh": a_sh, "dot_x": dot_x, "dot_w": dot_w, "gap_x": gap_x,
                    "gap_lvl": rng.randint(0, banks.bit_length() - 1)})
    return out


def beyond_width_vectors(n: int = 64, *, lanes: int = 8, banks: int = 8,
                         seed: int = 1) -> list[dict]:
    """Vectors whose gate and add lanes shift a negative value right by more than their width
    + 1 (inside the contract's -16..31): the golden result is 0 (a former bug gave -1)."""
    rng = random.Random(seed)
    vecs = vectors(n, lanes=lanes, banks=banks, seed=seed)
    for v in vecs:
        v["gate_x"], v["gate_g"] = rng.randint(1, 127), rng.randint(-128, -1)
        v["gate_sh"] = rng.randint(GATE_SH_WIDTH + 1, SH_MAX)
        v["add_a"], v["add_b"] = rng.randint(-128, -1), rng.randint(-128, 0)
        v["add_sa"], v["add_sb"] = rng.randint(0, 14), rng.randint(0, 14)
        v["add_sh"] = rng.randint(ADD_SH_WIDTH + 1, SH_MAX)
    return vecs


def _encode(vec: dict, spec) -> dict[str, int]:
    """Signed values / lists of lanes -> the ports' unsigned bit patterns."""
    enc = {}
    for name, v in vec.items():
        _, w, _ = spec[name]
        enc[name] = _pack(v) if isinstance(v, list) else int(v) & ((1 << w) - 1)
    return enc


def _decode(raw: dict[str, int], spec) -> dict[str, int]:
    out = {}
    for name, v in raw.items():
        _, w, sgn = spec[name]
        out[name] = v - (1 << w) if sgn and v >> (w - 1) else v
    return out


def expected(vec: dict) -> dict[str, int]:
    """Every output of :class:`ArithUnits` for ``vec``, from the golden integer operations."""
    rq = intops.requantize
    a = np.array(vec["dot_x"], np.int64)
    w = np.array(vec["dot_w"], np.int64)
    return {
        "rs_out": int(intops.round_shift(vec["rs_x"], vec["rs_sh"])),
        "rq_out": int(rq(vec["rs_x"], vec["rs_sh"])),
        "sat_out": int(intops.saturate(vec["sat_in"])),
        "post_q": int(rq(vec["post_acc"] + vec["post_bias"], vec["post_sh"])),
        # intops.mul: exact product, one requantization by f_x + f_g - f_out
        "gate_q": int(rq(vec["gate_x"] * vec["gate_g"], vec["gate_sh"])),
        # intops.add with F - f_a = sa, F - f_b = sb, F - f_out = ashift
        "add_r": int(rq((vec["add_a"] << vec["add_sa"]) + (vec["add_b"] << vec["add_sb"]),
                        vec["add_sh"])),
        "dot_sum": int((a * w).sum()),
        "gap_sum": int(sum(vec["gap_x"][:1 << vec["gap_lvl"]])),
    }


def mismatches(vecs: list[dict], got: list[dict]) -> list[str]:
    """Every (vector, output) whose simulated value differs from :func:`expected`."""
    bad = []
    assert len(got) == len(vecs), (len(got), len(vecs))
    for i, (v, g) in enumerate(zip(vecs, got)):
        for k, want in expected(v).items():
            if g[k] != want:
                bad.append(f"vector {i} {k}: got {g[k]}, want {want} (inputs {v})")
    return bad


# ------------------------------------------------------------------------------ simulators
def run_amaranth_units(vecs: list[dict], *, lanes: int = 8, banks: int = 8) -> list[dict]:
    """Outputs (signed values) of every vector in Amaranth's simulator."""
    from amaranth.sim import Simulator

    dut = ArithUnits(lanes, banks)
    spec = dut.port_spec
    outs = [n for n, (d, _, _) in spec.items() if d == "out"]
    got: list[dict] = []

    async def tb(ctx):
        for v in vecs:
            for name, val in _encode(v, spec).items():
                ctx.set(getattr(dut, name), val)
            got.append({n: int(ctx.get(getattr(dut, n))) for n in outs})

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return got  # Amaranth returns signed values for signed ports already


def write_verilog(path: Path, *, lanes: int = 8, banks: int = 8) -> Path:
    """The wrapper as Verilog (``amaranth.back.verilog``), top module ``units_top``."""
    from amaranth.back import verilog

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(verilog.convert(ArithUnits(lanes, banks), name=TOP, emit_src=False))
    return path


def build_units(sim: str, build_dir: Path, *, lanes: int = 8, banks: int = 8):
    """Generate the wrapper's Verilog and build ``sim`` (verilator | icarus) for it; returns
    the cocotb runner."""
    from cocotb_tools.runner import get_runner

    src = write_verilog(build_dir / f"{TOP}.v", lanes=lanes, banks=banks)
    args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"] if sim == "verilator" else []
    with simulator_env(sim):
        runner = get_runner(sim)
        runner.build(sources=[src.resolve()], hdl_toplevel=TOP, build_dir=build_dir,
                     build_args=args, timescale=("1ns", "1ps"), always=True,
                     log_file=build_dir / "build.log")
    return runner


def run_cocotb_units(runner, vecs: list[dict], work: Path, *, lanes: int = 8,
                     banks: int = 8) -> list[dict]:
    """Outputs (signed values) of every vector on the built Verilog, driven by cocotb."""
    spec = _ports(lanes, banks)
    work.mkdir(parents=True, exist_ok=True)
    vec_file, res_file = (work / "vectors.json").resolve(), (work / "result.json").resolve()
    res_file.unlink(missing_ok=True)
    vec_file.write_text(json.dumps({
        "inputs": [_encode(v, spec) for v in vecs],
        "outputs": [n for n, (d, _, _) in spec.items() if d == "out"]}))
    with simulator_env(runner.__class__.__name__.lower()):
        runner.test(test_module="support.unit_cocotb", hdl_toplevel=TOP, test_dir=work,
                    extra_env={"UNITS_VECTORS": str(vec_file), "UNITS_RESULT": str(res_file)},
                    log_file=work / "sim.log")
    if not res_file.exists():
        raise RuntimeError(f"the unit simulation did not finish; see {work / 'sim.log'}")
    return [_decode(r, spec) for r in json.loads(res_file.read_text())]
