"""The accelerator: config, ISA, arithmetic units, compiler, cycle model, and RTL runs.

RTL runs compare every layer of random networks (random shapes, weights, tables and shifts,
channel counts that are not multiples of the lanes, depthwise k3/k5 at stride 1/2, flat and row
modes, saturation) against the integer reference, 0 LSB: in Verilator (one cached build of the
8-lane preset), in Icarus, and in Amaranth's own simulator.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from hfaccel.accel import isa
from hfaccel.accel.compiler import CompileError, compile_graph
from hfaccel.accel.config import DEFAULT, SMALL, AccelConfig, get_preset
from hfaccel.accel.perf import simulate
from hfaccel.errors import ConfigError, HfaccelError
from hfaccel.quant import intops
from hfaccel.quant.reference import run_reference
from hfaccel.sim.hwsim import compare, run_rtl
from support.netgen import random_block_net


# ------------------------------------------------------------------------------ config / ISA
def test_presets_and_json_round_trip():
    assert DEFAULT.lanes == 32 and DEFAULT.macs_per_cycle == 1024
    assert SMALL.lanes == 8
    for cfg in (DEFAULT, SMALL):
        assert AccelConfig.from_dict(cfg.as_dict()) == cfg
    assert get_preset("small") is SMALL


@pytest.mark.parametrize("kw, msg", [
    ({"lanes": 12}, "lanes must be a power of two in 4..64, got 12"),
    ({"acc_bits": 24}, "acc_bits must be 32"),
    ({"bus_bytes": 8}, "bus_bytes must be a power of two from lanes (32) to 256, got 8"),
    ({"ub_banks": 3}, "ub_banks must be a power of two"),
    ({"dw_kernels": (4,)}, "dw_kernels must be a non-empty subset of (1, 3, 5, 7)"),
    ({"wgt_tiles": 3}, "wgt_tiles must be even and >= 4, got 3"),
])
def test_config_errors_name_the_field(kw, msg):
    with pytest.raises(ConfigError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        DEFAULT.replace(**kw)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown hardware preset 'huge'; presets: default"):
        get_preset("huge")


def test_isa_round_trip_and_overflow():
    ins = isa.Instr("GEMM", {"layer": 7, "wait": 1, "x": 123, "xcs": 64, "npix": 4096, "cit": 3,
                             "cot": 2, "gshift": -5, "ashift": 3, "add": 1})
    back = isa.decode(isa.encode(ins))
    assert back.op == "GEMM" and all(back[k] == v for k, v in ins.fields.items())
    with pytest.raises(ValueError, match="GEMM field cit=300 does not fit 8 bits"):
        isa.encode(isa.Instr("GEMM", {"cit": 300}))
    with pytest.raises(ValueError, match="unknown field"):
        isa.encode(isa.Instr("GAP", {"npix": 1}))


# ------------------------------------------------------------------------------ arithmetic
def test_requantize_unit_matches_intops():
    """The requantizer (used by every post-processing lane) against the golden model."""
    from amaranth import Module, Signal, signed
    from amaranth.sim import Simulator

    from hfaccel.rtl.arith import requant8

    m = Module()
    x = Signal(signed(34))
    sh = Signal(signed(8))
    y = requant8(m, x, sh)
    rng = random.Random(1)
    cases = [(rng.randint(-2**33, 2**33 - 1), rng.randint(-16, 31)) for _ in range(1500)]
    cases += [(v, s) for s in range(-16, 32) for v in (-(1 << 33), (1 << 33) - 1, 0, 1, -1, 2,
                                                      -2, 3, -3, 127 * 128, -128 * -128)]
    cases += [((2 * k + 1) << (s - 1), s) for s in range(1, 24) for k in range(-4, 4)]  # ties
    bad = []

    async def tb(ctx):
        for v, s in cases:
            ctx.set(x, v)
            ctx.set(sh, s)
            want = int(intops.requantize(np.array([v]), s)[0])
            if ctx.get(y) != want:
                bad.append((v, s, ctx.get(y), want))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    assert not bad, bad[:5]


# ------------------------------------------------------------------------------ compiler
def test_compiler_rejects_what_the_hardware_cannot_do():
    graph, _ = random_block_net(0, k=5)
    with pytest.raises(CompileError, match=r"layer b.dw: depthwise kernel 5x5 not supported by "
                                           r"small3 \(dw_kernels \(3,\); square"):
        compile_graph(graph, SMALL.replace(name="small3", dw_kernels=(3,)))
    # maps that do not fit stream through the UB in bands; not even one band fitting is an
    # error that names the layer, the maps and the sizes
    with pytest.raises(CompileError, match=r"layer stem: the smallest band of its maps in "
                                           r"external memory \(input, stem.act\) does "
                                           r"not fit the 1 KiB left of the unified buffer; tiny "
                                           r"has 1 KiB \(raise ub_kib\)"):
        compile_graph(random_block_net(0, res=64)[0], SMALL.replace(name="tiny", ub_kib=1,
                                                                     ub_banks=8))
    graph, _ = random_block_net(1)
    graph.layers.append(graph.layers[-1].__class__(
        "extra", "act", (graph.output,), "extra.q", (10,), 3, table=np.zeros(256, int),
        f_in=(3,)))
    graph.output = "extra.q"
    # a table after the classifier fuses; a second standalone act does not
    graph.layers.append(graph.layers[-1].__class__(
        "extra2", "act", ("extra.q",), "extra2.q", (10,), 3, table=np.zeros(256, int),
        f_in=(3,)))
    graph.output = "extra2.q"
    with pytest.raises(CompileError, match="layer extra2: a standalone act is not supported"):
        compile_graph(graph, SMALL)


@pytest.mark.parametrize("k, s", [(3, 1), (5, 2)])
def test_cycle_model_replays_without_deadlock(k, s):
    prog = compile_graph(random_block_net(2, k=k, stride=s)[0], SMALL)
    pred = simulate(prog)
    assert pred.total > sum(pred.compute_busy.values())
    assert sum(pred.per_op.values()) <= pred.total


# ------------------------------------------------------------------------------ RTL
CASES = [  # seed, res, stem channels, k, stride (flat mode for stride 1, row mode for 2)
    (10, 16, 16, 3, 1), (11, 16, 12, 5, 1), (12, 32, 8, 3, 2), (13, 16, 20, 5, 2),
    (14, 32, 16, 5, 1),
]


def _check(prog, ref, res):
    assert res["status"] == 0 and not res["timed_out"], res
    rows = compare(prog, Path(res["files"]["trace"]), {k: v[0] for k, v in ref.items()})
    bad = [f"{r.name}: {r.first_mismatch}" for r in rows if not r.bit_exact]
    assert not bad, bad
    return rows


@pytest.mark.parametrize("seed, res_, c, k, s", CASES)
def test_random_nets_bit_exact_in_verilator(tmp_path, seed, res_, c, k, s):
    graph, x = random_block_net(seed, res=res_, c_stem=c, k=k, stride=s)
    ref = run_reference(graph, x)
    prog = compile_graph(graph, SMALL)
    res = run_rtl(prog, ref["input.q"][0], sim="verilator", work=tmp_path, log=lambda *_: None)
    rows = _check(prog, ref, res)
    assert len(rows) == len(graph.layers) - 1  # every layer but the host-given input


def test_random_net_bit_exact_in_icarus(tmp_path):
    graph, x = random_block_net(20, res=16, c_stem=8, k=3, stride=2)
    ref = run_reference(graph, x)
    prog = compile_graph(graph, SMALL)
    res = run_rtl(prog, ref["input.q"][0], sim="icarus", work=tmp_path, log=lambda *_: None)
    _check(prog, ref, res)


def test_random_net_bit_exact_in_amaranth_simulator(tmp_path):
    from hfaccel.sim.amaranth_run import run_amaranth

    graph, x = random_block_net(30, res=16, c_stem=8, k=3, stride=1)
    ref = run_reference(graph, x)
    prog = compile_graph(graph, SMALL)
    _check(prog, ref, run_amaranth(prog, ref["input.q"][0], tmp_path))


def _mutated(prog, op: str, **fields):
    i = next(i for i, ins in enumerate(prog.instrs) if ins.op == op)
    prog.instrs[i].fields.update(fields)
    word = isa.encode(prog.instrs[i]).to_bytes(prog.cfg.instr_bytes, "little")
    prog.image[i * prog.cfg.instr_bytes:(i + 1) * prog.cfg.instr_bytes] = word
    return prog


@pytest.mark.parametrize("op, fields, status", [
    ("DW", {"k": 4}, 4), ("GEMM", {"npix": 0}, 3), ("GAP", {"g": 0}, 5),
    ("GAP", {"acc": 1}, 5),  # sums carried across instructions need one group (g = 2 here)
    ("LOAD", {"rows": 0}, 2),
])
def test_malformed_descriptor_stops_with_error(tmp_path, op, fields, status):
    graph, x = random_block_net(40, res=16, c_stem=8)
    ref = run_reference(graph, x)
    prog = _mutated(compile_graph(graph, SMALL), op, **fields)
    res = run_rtl(prog, ref["input.q"][0], sim="verilator", work=tmp_path, log=lambda *_: None)
    assert not res["timed_out"] and res["done"] == 1
    assert res["status"] == status, (res["status"], isa.ERRORS.get(res["status"]))


def test_unsatisfiable_wait_trips_the_watchdog(tmp_path):
    """A compute instruction waiting for a token no load will give: error, not a hang."""
    graph, x = random_block_net(41, res=16, c_stem=8)
    ref = run_reference(graph, x)
    prog = compile_graph(graph, SMALL)
    i = next(i for i, ins in enumerate(prog.instrs) if ins.op == "GAP")
    prog = _mutated(prog, "GAP", wait=1)
    # drop every signal so that no token ever arrives
    for ins in prog.instrs[:i]:
        ins.fields["signal"] = 0
    bb = prog.cfg.instr_bytes
    for j, ins in enumerate(prog.instrs):
        prog.image[j * bb:(j + 1) * bb] = isa.encode(ins).to_bytes(bb, "little")
    res = run_rtl(prog, ref["input.q"][0], sim="verilator", work=tmp_path, log=lambda *_: None,
                  max_cycles=400_000)
    assert not res["timed_out"]
    assert res["status"] == 6


def test_hw_sim_rejects_bad_simulator():
    with pytest.raises(HfaccelError, match="unknown simulator 'nosuchsim'"):
        from hfaccel.sim.hwsim import build_simulator

        build_simulator(SMALL, "nosuchsim", Path("build/hwsim/x"), 16, 8)
