"""Unit-level checks of the accelerator against the integer reference (issue 4, "Tests").

Four levels:

* **Arithmetic units** (``rtl/arith.py`` composed as the engine composes them: the
  post-processing lane, the SE gate lane, the residual-add lane, a PE-array row, a GAP lane;
  :mod:`support.unit_tb`): a few thousand vectors, half on the edges (ties of both signs at
  every shift, saturation, int32 extremes, ``-128 * -128``), against :mod:`hfaccel.quant.intops`,
  in Amaranth's simulator and on generated Verilog in Verilator and Icarus.
* **Stateful units against their reference models** (:mod:`support.unit_benches`, Amaranth's
  simulator): the unified buffer's crossbars (``RefUnifiedBuffer``, cycle by cycle: bank and
  buffer wrap-around, DMA beats clashing with compute writes, reads of words being written),
  the table copies of a post-processing word (``ref_post_word``: every code of both tables,
  rewrites during lookups), the depthwise window (``ref_dw_windows``: flat and row mode,
  stride 2, lane remainders, padding, a starved and a blocked reader) and the DMA
  (``RefDma``: random LOAD/STORE programs back to back, bursts longer than
  ``max_outstanding``, a UB that refuses beats until the beat queue is full, a narrow port held
  by compute), each on the small and the default preset's shapes.
* **Single layers through the whole top level** (:mod:`support.layergen`, in the three
  simulators): one program per
  kind (stem, pointwise with lane remainders, FC, depthwise k3/k5 at stride 1/2, GAP, residual
  add, SE gating, activation tables), loaded into memory, started, waited for and read back:
  every traced layer and the stored output equal the reference bit for bit, and the perf
  records and counters agree with the instruction fields as :mod:`hfaccel.accel.isa` encodes
  them. Each case also asserts that its data reached the edges it is meant to test.
* **DMA and decode**: a hand-written program with every opcode (NOP, LOAD, STORE, GAP, END)
  gathers and scatters odd numbers of beats (more than ``max_outstanding`` in one burst) and
  the stored bytes are compared exactly.

Two bugs these tests found (fixed in 747a1b5) stay covered: ``round_shift`` beyond a narrow
input's width (the gate and add lanes; the ``gate_gshift20`` layer case) and a GAP before the
first weight chunk racing the input LOAD (the GAP layer cases).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hfaccel.accel import isa
from hfaccel.accel.compiler import Program, compile_graph, from_words
from hfaccel.accel.config import DEFAULT, SMALL, get_preset
from hfaccel.accel.perf import instr_cycles
from hfaccel.quant import intops
from hfaccel.rtl.dw import writeback_words
from hfaccel.sim.hwsim import compare, run_rtl
from support import unit_benches, unit_tb
from support.layergen import CASES, make_case, random_case, requant_edges

SIMS = ("amaranth", "verilator", "icarus")
COMPUTE = ("GEMM", "DW", "GAP")


# ------------------------------------------------------------------------------ helpers
def _run(sim: str, prog: Program, x: np.ndarray, work: Path) -> dict:
    """Load the program and input into memory, start, wait for done (one simulator)."""
    if sim == "amaranth":
        from hfaccel.sim.amaranth_run import run_amaranth

        return run_amaranth(prog, x, work)
    # the SMALL simulator build is cached under build/hwsim and shared with test_accel.py
    return run_rtl(prog, x, sim=sim, work=work, log=lambda *_: None, max_cycles=400_000)


def _stored_words(sim: str, prog: Program, res: dict) -> np.ndarray:
    """The output region of external memory after the run, as (words, lanes) int8."""
    cfg = prog.cfg
    if sim == "amaranth":
        return res["logits_words"]
    beats = [ln.strip() for ln in Path(res["files"]["out"]).read_text().splitlines()]
    beats = [b for b in beats if b and not b.startswith(("//", "@"))]
    raw = b"".join(int(b, 16).to_bytes(cfg.bus_bytes, "little") for b in beats)
    return np.frombuffer(raw, np.int8)[:prog.output_words * cfg.lanes].reshape(-1, cfg.lanes)


def _mac_cycles(ins: isa.Instr, lanes: int) -> int:
    """PE-array cycles of one compute instruction, from its (decoded) fields."""
    if ins.op == "GEMM":
        return ins["cot"] * ins["npix"] * ins["cit"]
    if ins.op == "DW":
        blocks = (math.ceil(ins["ho"] * ins["wo"] / lanes) if ins["flat"]
                  else ins["ho"] * math.ceil(ins["wo"] / lanes))
        return ins["g"] * blocks * ins["k"] ** 2
    return 0  # GAP sums on its own adder trees


def _check_counters(prog: Program, res: dict) -> None:
    """Perf records and counters agree with the program as the hardware decoded it: one record
    per compute instruction, its layer field, and the MAC cycles its fields imply."""
    # decode what the compiler encoded into the image: the hardware reads these bytes
    bb = prog.cfg.instr_bytes
    words = [int.from_bytes(prog.image[i * bb:(i + 1) * bb], "little")
             for i in range(len(prog.instrs))]
    comp = [ins for ins in map(isa.decode, words) if ins.op in COMPUTE]
    perf = [tuple(map(int, ln.split())) for ln in open(res["files"]["perf"])]
    assert [p[0] for p in perf] == [ins["layer"] for ins in comp], perf
    assert [p[4] for p in perf] == [_mac_cycles(ins, prog.cfg.lanes) for ins in comp], perf
    assert res["instrs"] == len(comp)
    assert res["mac_cycles"] == sum(p[4] for p in perf)
    assert all(p[3] >= p[4] for p in perf)  # busy covers the MAC cycles
    # the cycle model's pipeline constants (accel/perf.py, typed by hand) are the RTL's: a GEMM
    # and a GAP are busy exactly the modelled cycles (the depthwise term is an estimate)
    cfg = prog.cfg
    fixed = [(ins.op, p[3], instr_cycles(ins, cfg.lanes, cfg.ub_banks))
             for ins, p in zip(comp, perf) if ins.op in ("GEMM", "GAP")]
    assert all(busy == model for _, busy, model in fixed), fixed


def _check_layer_run(sim: str, case, prog: Program, res: dict) -> None:
    assert not res["timed_out"] and res["done"] == 1, res
    assert res["status"] == 0, (res["status"], isa.ERRORS.get(res["status"]))
    rows = compare(prog, Path(res["files"]["trace"]), case.ref)
    bad = [f"{r.name}: {r.first_mismatch}" for r in rows if not r.bit_exact]
    assert not bad, bad
    assert len(rows) == len(case.graph.layers) - 1  # every layer but the host's input
    # read back: the STOREd output region holds the final tensor
    out = case.graph[case.graph.output]
    got = from_words(_stored_words(sim, prog, res)[:prog.output_words], out.shape[0],
                     out.shape, prog.cfg.lanes)
    np.testing.assert_array_equal(got, case.ref[out.output])
    _check_counters(prog, res)


# ------------------------------------------------------------------------------ arithmetic
N_VECTORS = 2000


@pytest.fixture(scope="module")
def unit_runner(tmp_path_factory):
    """One build of the wrapper per HDL simulator for the whole module."""
    root = tmp_path_factory.mktemp("units_arith")
    cache: dict = {}

    def get(sim: str):
        if sim not in cache:
            cache[sim] = unit_tb.build_units(sim, root / sim)
        return cache[sim]

    get.root = root
    return get


def test_arith_vectors_reach_the_edges():
    """The vectors hit every edge they are meant to (else the simulator tests prove nothing):
    ties of both signs rounding both ways, saturation both ways and left shifts in every
    requantizing lane, -128 * -128 in the gate and the PE row, the extreme row sums and
    empty/full GAP masks."""
    vecs = unit_tb.vectors(N_VECTORS)

    def edges(acc, sh):
        return requant_edges(np.array(acc), np.array(sh))

    lanes = {
        "rq": edges([v["rs_x"] for v in vecs], [v["rs_sh"] for v in vecs]),
        "post": edges([v["post_acc"] + v["post_bias"] for v in vecs],
                      [v["post_sh"] for v in vecs]),
        "gate": edges([v["gate_x"] * v["gate_g"] for v in vecs], [v["gate_sh"] for v in vecs]),
        "add": edges([(v["add_a"] << v["add_sa"]) + (v["add_b"] << v["add_sb"]) for v in vecs],
                     [v["add_sh"] for v in vecs]),
    }
    for name, c in lanes.items():
        for e in ("tie_pos", "tie_neg", "tie_up", "tie_down", "sat_hi", "sat_lo", "left"):
            assert c[e] > 0, (name, e, dict(c))
    assert sum(v["gate_x"] == v["gate_g"] == -128 for v in vecs) > 0
    sums = [sum(a * b for a, b in zip(v["dot_x"], v["dot_w"])) for v in vecs]
    assert max(sums) == 8 * 128 * 128 and min(sums) == -8 * 128 * 127
    assert sum(a == b == -128 for v in vecs for a, b in zip(v["dot_x"], v["dot_w"])) > 0
    assert {0, 3} <= {v["gap_lvl"] for v in vecs}
    assert any(v["sat_in"] == 128 for v in vecs) and any(v["sat_in"] == -129 for v in vecs)


def test_arith_units_match_intops_in_amaranth():
    """Every arithmetic lane equals the golden integer ops in Amaranth's simulator, at the
    8-lane preset's widths and at 32 lanes / 32 banks (the default preset's)."""
    vecs = unit_tb.vectors(N_VECTORS)
    bad = unit_tb.mismatches(vecs, unit_tb.run_amaranth_units(vecs))
    assert not bad, bad[:5]
    vecs = unit_tb.vectors(200, lanes=32, banks=32, seed=3)
    bad = unit_tb.mismatches(vecs, unit_tb.run_amaranth_units(vecs, lanes=32, banks=32))
    assert not bad, bad[:5]


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_arith_units_match_intops_in_verilog(unit_runner, sim):
    """The same vectors on the Verilog of the wrapper (``amaranth.back.verilog``), driven by
    cocotb: the generated HDL computes what the golden model defines."""
    vecs = unit_tb.vectors(N_VECTORS)
    got = unit_tb.run_cocotb_units(unit_runner(sim), vecs, unit_runner.root / f"run-{sim}")
    bad = unit_tb.mismatches(vecs, got)
    assert not bad, bad[:5]


def test_round_shift_beyond_the_input_width():
    """Regression (found by this file, fixed in 747a1b5): round_shift built its remainder from
    the (W+1)-bit input, so a right shift beyond W+1 of a negative value lost the round-up and
    gave -1 instead of 0: the gate lane (16-bit product) from gshift 18, the residual add
    (24 bits) from ashift 26, both inside the contract's shift range. (Through the whole
    engine: the ``gate_gshift20`` layer case.)"""
    vecs = unit_tb.beyond_width_vectors(64)
    assert all(v["gate_x"] * v["gate_g"] < 0 and v["gate_sh"] > 17 for v in vecs)
    bad = unit_tb.mismatches(vecs, unit_tb.run_amaranth_units(vecs))
    assert not bad, bad[:3]


def _requant_edge_cases(width: int, ends: tuple[int, ...]) -> list[tuple[int, int]]:
    """For every shift of the contract's range, the values where a requantization's decisions
    flip: ties and their neighbours, the code range's ``ends`` after the shift, the input's
    extremes, powers of two."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    cases = []
    for sh in range(DEFAULT.shift_min, DEFAULT.shift_max + 1):
        xs = {lo, hi, 0, 1, -1, lo + 1, hi - 1}
        for k in ends:
            for d in (-1, 0, 1):
                xs.add((k << sh) + d if sh >= 0 else (k >> -sh) + d)
                if sh > 0:
                    xs.add(((2 * k + 1) << (sh - 1)) + d)  # ties
        xs |= {s * (1 << b) + d for b in range(width - 1) for s in (1, -1) for d in (-1, 0)}
        cases += [(x, sh) for x in sorted(xs) if lo <= x <= hi]
    return cases


INT8_ENDS = (-130, -129, -128, -127, -2, -1, 0, 1, 2, 126, 127, 128)
UINT8_ENDS = (-2, -1, 0, 1, 2, 126, 127, 128, 254, 255, 256, 257)


def _run_comb(m, x, sh, outs: list, cases) -> list[list[int]]:
    from amaranth.sim import Simulator
    got = []

    async def tb(ctx):
        for xv, sv in cases:
            ctx.set(x, xv)
            ctx.set(sh, sv)
            got.append([ctx.get(o) for o in outs])

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    return got


@pytest.mark.parametrize("width", [16, 24, 34])
def test_requant8_every_shift_at_its_edges(width):
    """``requant8`` (a logarithmic shifter with round/sticky bits and the saturation decided
    from the dropped bits, not the composition ``saturate8(round_shift())``) equals
    ``intops.requantize`` for every shift of the contract's range, on the values where each
    of its decisions flips: ties and their neighbours, the int8 range's ends after the shift,
    the input's extremes, powers of two."""
    from amaranth import Module, Signal, signed

    from hfaccel.rtl.arith import requant8

    cases = _requant_edge_cases(width, INT8_ENDS)
    m = Module()
    x, sh = Signal(signed(width)), Signal(signed(8))
    got = [g[0] for g in _run_comb(m, x, sh, [requant8(m, x, sh)], cases)]
    want = intops.requantize(np.array([c[0] for c in cases]), np.array([c[1] for c in cases]))
    bad = [(c, g, int(w)) for c, g, w in zip(cases, got, want) if g != w]
    assert not bad, bad[:5]
    assert len(cases) > 48 * 60  # every shift, each with its edges


@pytest.mark.parametrize("width", [16, 34, 40])
def test_requant_code_every_shift_at_its_edges(width):
    """``requant_code`` (the post-processing and GAP lanes' requantization since uint8
    activations: the same logarithmic shifter keeping one bit more) equals
    ``intops.requantize`` in both modes, int8 and uint8, for every shift of the contract's
    range at the edges of both code ranges. (Regression: it was once the full-width
    composition ``saturate_code(round_shift())``, which put ``small``'s post words back from
    ~2,000 to ~4,660 LUTs.)"""
    from amaranth import Module, Signal, signed

    from hfaccel.rtl.arith import requant_code

    cases = _requant_edge_cases(width, tuple(sorted(set(INT8_ENDS) | set(UINT8_ENDS))))
    m = Module()
    x, sh = Signal(signed(width)), Signal(signed(8))
    outs = [requant_code(m, x, sh, unsigned, name=f"rq{unsigned}") for unsigned in (0, 1)]
    got = _run_comb(m, x, sh, outs, cases)
    xv, sv = np.array([c[0] for c in cases]), np.array([c[1] for c in cases])
    for mode, unsigned in enumerate((False, True)):
        want = intops.requantize(xv, sv, unsigned) & 0xFF  # the code's 8 bits
        bad = [(c, g[mode], int(w)) for c, g, w in zip(cases, got, want) if g[mode] != w]
        assert not bad, (unsigned, bad[:5])


# ------------------------------------------------------------------------------ stateful units
# shapes of the unified buffer: the small preset's (8 banks, 2 words a beat, 8 write-back
# words), the large preset's bank count and beat, one whose beat covers every bank, and the
# default preset's (16 banks, 4 write-back words, a copy of each bank per read port: ub_uram)
UB_SHAPES = {"small": dict(banks=8, depth=16, word_bits=16, write_words=8, beat_words=2),
             "large": dict(banks=32, depth=4, word_bits=8, write_words=8, beat_words=2),
             "beat_all_banks": dict(banks=4, depth=8, word_bits=8, write_words=3,
                                    beat_words=4),
             "default_copies": dict(banks=16, depth=8, word_bits=8, write_words=4, beat_words=2,
                                  ram_styles=("ultra", "block"))}


@pytest.mark.parametrize("shape", sorted(UB_SHAPES))
def test_ub_crossbars_match_reference(shape):
    """The UB's read and write crossbars equal the cycle-level model: wide reads from every
    bank offset and across the buffer's end, narrow reads, compute writes of 1..8 words and
    DMA beats in one cycle when their banks differ, the beat refused when they share one, and a
    read of a word being written returns the old word."""
    p = UB_SHAPES[shape]
    r = unit_benches.run_ub(seed=len(shape), cycles=1500, **p)
    assert not r["mismatches"], r["mismatches"][:3]
    assert r["clash"] > 50 and r["wrap"] > 50 and r["read_written"] > 20, r
    if p["beat_words"] < p["banks"]:  # else every beat shares a bank with any compute write
        assert r["both_write"] > 0, r


@pytest.mark.parametrize("words", [2, 8, 32])
def test_rotator_matches_reference(words):
    """The UB's wide-port rotator (its own module) equals ``ref_rotate`` for every amount, on
    random words and on words that are all ones but one (a wrong select shows as a moved 0)."""
    r = unit_benches.run_rotator(words=words, width=8, seed=words)
    assert not r["mismatches"], r["mismatches"][:3]
    assert r["checked"] == 2 * words, r


@pytest.mark.parametrize("shared", [False, True], ids=["lane_copies", "shared"])
@pytest.mark.parametrize("lanes, word_bytes", [(8, 16), (4, 64), (4, 256)])
def test_table_copies_match_reference(lanes, word_bytes, shared):
    """A post-processing word (bias, RNE shift, saturation, table) with its lanes' table copies
    (or one copy the lanes share: ``shared_tables``) equals ``ref_post_word`` while the tables
    are written a word a cycle (the small preset's 16-byte words, the default's 64, the widest
    bus): every code of both tables looked up in every lane, int8 and uint8 results (``qu``)
    at random, rows rewritten, a lookup in a write's cycle sees the old word."""
    r = unit_benches.run_post(seed=word_bytes, cycles=700, lanes=lanes, table_slots=2,
                              table_word_bytes=word_bytes, shared_tables=shared)
    assert not r["mismatches"], r["mismatches"][:3]
    assert r["codes"] == [256, 256] and r["rewrites"] > 0 and r["write_and_lookup"] > 0, r


def test_table_words_are_at_most_16_entries():
    """A table copy's words are a bus beat of at most 16 entries: the default's 64-byte beat is
    four table words (32 rows: as deep as a LUT RAM primitive), written one per cycle by the
    DMA (its test against ``RefDma`` runs the default); the small preset's beat is one word."""
    from hfaccel.rtl.post import table_geometry

    assert table_geometry(bus_bytes=DEFAULT.bus_bytes, table_slots=2) == (16, 32)
    assert (DEFAULT.table_word_bytes, DEFAULT.table_writes_per_beat) == (16, 4)
    assert (SMALL.table_word_bytes, SMALL.table_writes_per_beat) == (16, 1)
    assert table_geometry(bus_bytes=8, table_slots=1) == (8, 32)


def _dw(**f):
    base = dict(x=100, xcs=300, h=6, w=10, ho=6, wo=10, k=3, s=1, pad=1, padt=1, g=2, flat=0,
                wo_log2=0, wgt=0, prm=0, out=0, ocs=0, tbl=0, tslot=0)
    return {**base, **f}


# name -> (DW fields, lanes, banks); UB of 2**10 words
WINDOW_CASES = {
    "row_k3s1_lane_remainder": (_dw(), 8, 8),  # 10 columns: blocks of 8 and 2 pixels
    "row_k5s2_15x15": (_dw(h=15, w=15, ho=8, wo=8, k=5, s=2, pad=2, padt=2, g=1), 8, 8),
    "row_k3s2_odd_9x9": (_dw(h=9, w=9, ho=5, wo=5, k=3, s=2, g=3, xcs=81), 8, 8),
    "flat_k3_4x4_g3": (_dw(x=0, h=4, w=4, ho=4, wo=4, flat=1, wo_log2=2, g=3, xcs=16), 8, 8),
    "flat_k5_2x2": (_dw(h=2, w=2, ho=2, wo=2, k=5, pad=2, padt=2, flat=1, wo_log2=1), 8, 8),
    "band_below_top": (_dw(padt=0, h=5, ho=3), 8, 8),  # a band with real rows above it
    "x0_wraps_around": (_dw(x=0, xcs=60), 8, 8),  # the first windows start before word 0
    "starved_reader": (_dw(s=2, h=12, w=20, ho=6, wo=10), 8, 4),  # 5 reads > 3 taps
    # 7x7: padt = 3 (both bits of the running sums' padt * w), rows above and below the map
    "row_k7s1_padt3": (_dw(h=9, w=9, ho=9, wo=9, k=7, pad=3, padt=3, g=2, xcs=81), 8, 8),
    "default_k5s2": (_dw(x=5, h=40, w=40, ho=20, wo=20, k=5, s=2, pad=2, padt=2, g=1), 32, 32),
}


@pytest.mark.parametrize("consume", [1.0, 0.3])
@pytest.mark.parametrize("case", sorted(WINDOW_CASES))
def test_dw_window_matches_reference(case, consume):
    """Every tap of every window the depthwise window hands out (lane ``j`` of tap ``kx`` of
    row ``ky`` of block ``b``) equals UB word ``base + j * s + kx`` of ``ref_dw_windows``, with
    a consumer as fast as the MAC loop and a slow one (the reader then waits for a slot)."""
    fields, lanes, banks = WINDOW_CASES[case]
    window = lanes * 2 + 5 - 1
    r = unit_benches.run_window(fields, seed=len(case), lanes=lanes, banks=banks, window=window,
                                addr_width=10 if lanes == 8 else 12, consume=consume)
    assert not r["mismatches"], r["mismatches"][:3]
    assert r["windows"] > 0 and r["busy_at_end"] == 0, r
    if consume < 1:
        assert r["reader_waits"] > 0, r  # both slots full: the reader waited
    if case == "starved_reader" and consume == 1:
        assert r["stalls"] > r["windows"], r  # the consumer waited for windows


def test_dw_window_cases_reach_their_edges():
    """The window cases cover what they are named for: stride 2, blocks with lanes past the
    map (row and flat mode), windows starting above or left of the map (padding) and before
    UB word 0 (address wrap-around), a band without top padding, more reads than taps."""
    seen = set()
    for fields, lanes, banks in WINDOW_CASES.values():
        nreads, nblk, bx = unit_benches.window_params(fields, lanes=lanes, banks=banks)
        flat = fields["flat"]
        checks = {
            "stride2": fields["s"] == 2,
            "flat_remainder": flat and nblk * lanes > fields["ho"] * fields["wo"],
            "row_remainder": not flat and bx * lanes > fields["wo"],
            "padding": fields["pad"] > 0 and fields["padt"] > 0,
            "band": fields["padt"] == 0,
            "wrap": fields["x"] - fields["padt"] * fields["w"] - fields["pad"] < 0,
            "starved": nreads > fields["k"],
        }
        seen |= {name for name, hit in checks.items() if hit}
    assert seen == {"stride2", "flat_remainder", "row_remainder", "padding", "band", "wrap",
                    "starved"}, seen


def _dma_runs():
    fast = [(SMALL, s) for s in range(4)] + [(DEFAULT, 0)]
    slow = [(SMALL, s) for s in range(4, 40)] + [(DEFAULT, s) for s in range(1, 8)]
    return ([pytest.param(c, s, id=f"{c.name}-{s}") for c, s in fast]
            + [pytest.param(c, s, id=f"{c.name}-{s}", marks=pytest.mark.slow) for c, s in slow])


@pytest.mark.parametrize("cfg, seed", _dma_runs())
def test_dma_matches_reference(cfg, seed):
    """A random LOAD/STORE program, back to back (every destination; bursts longer than
    max_outstanding; buffer addresses wrapping around; waits and signals), leaves the UB, the
    weight and parameter buffers, the tables and external memory as ``RefDma`` says, and gives
    one "data loaded" token per signal; with a memory that grants at random and answers after
    a random latency, a UB that refuses beats for runs of cycles and a narrow port that compute
    holds at random."""
    r = unit_benches.run_dma(cfg, seed=seed, instrs=24 if cfg is SMALL else 16)
    assert not r["mismatches"], r["mismatches"][:3]
    assert r["max_ub_outstanding"] <= cfg.max_outstanding, r
    assert r["ub_refused"] > 0 and r["port_b_denied"] > 0, r


def test_dma_runs_reach_a_full_queue():
    """Among the fast DMA seeds, UB beats pile up to ``max_outstanding`` (the beat queue full:
    the DMA must stop requesting) while the UB refuses them; and both loads and stores run."""
    runs = [unit_benches.run_dma(SMALL, seed=s) for s in range(4)]
    assert any(r["max_ub_outstanding"] == SMALL.max_outstanding for r in runs)
    ops = Counter(ins.op for r in runs for ins in r["program"])
    assert ops["LOAD"] > 20 and ops["STORE"] > 5, ops


# ------------------------------------------------------------------------------ single layers
@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_case_reaches_its_edges(name):
    """Each single-layer case's data hits the edges it exists for (ties of both signs rounding
    both ways, saturation both ways, -128 * -128, left/zero shifts, all 256 table codes), per
    the integer reference's own accumulators."""
    case = make_case(name)
    assert not case.missing_edges(), (case.missing_edges(), case.edges)


# Verilator runs every case in `make test` (about a second each, on the cached build shared
# with test_accel.py); Amaranth's simulator (2..50 s a case) and Icarus run a representative
# subset there, one or more of each kind, and every case in `make test-all`.
AMARANTH_FAST = {"pw_c3_c11", "pw_c19_c11_zero", "fc_classifier", "dw_k3s2", "dw_k5s1_1x1",
                 "dw_k3s2_odd_9x9", "gap_4x4_c11_x2", "add_c16_left", "gate_c11", "gate_gshift20"}
ICARUS_FAST = {"stem_k3s2", "pw_c3_c11", "pw_c64_c40_chunks", "fc_classifier", "dw_k3s1",
               "dw_k5s2", "gap_4x4_c11_x2", "add_c11", "gate_c16", "tables_dw"}
SLOW = ({("amaranth", n) for n in CASES if n not in AMARANTH_FAST}
        | {("icarus", n) for n in CASES if n not in ICARUS_FAST})
LAYER_RUNS = [pytest.param(sim, name, marks=[pytest.mark.slow] if (sim, name) in SLOW else [])
              for sim in SIMS for name in sorted(CASES)]


def test_table_cases_reach_every_code_in_every_lane():
    """Each post-processing lane has its own table copy, so "all 256 codes" must hold per
    copy: per GEMM lane (channel mod lanes) and per depthwise write-back lane (pixel mod
    write-back words, channel), for the inputs of both tables (both slots)."""
    L = SMALL.lanes
    for name in ("tables_gemm", "tables_dw"):
        case = make_case(name)
        acts = [ly for ly in case.graph.layers if ly.op == "act"]
        assert len(acts) == 2
        for ly in acts:
            q = case.ref[ly.inputs[0]]
            c = q.shape[0]
            if name == "tables_gemm":
                groups = [q[k::L].reshape(-1) for k in range(L)]
            else:
                flat = q.reshape(c, -1)
                wb = writeback_words(SMALL)
                groups = [flat[k, i::wb] for k in range(c) for i in range(wb)]
            assert all(len(np.unique(g)) == 256 for g in groups), (name, ly.name)


@pytest.mark.parametrize("sim, name", LAYER_RUNS)
def test_single_layer_bit_exact(tmp_path, sim, name):
    """One layer of each kind through the whole engine (program in memory, start, wait, read
    back) equals the integer reference bit for bit: every fused stage on the trace port and
    the stored output; perf records and counters match the instruction fields."""
    case = make_case(name)
    assert not case.missing_edges()
    prog = compile_graph(case.graph, SMALL)
    res = _run(sim, prog, case.x, tmp_path)
    _check_layer_run(sim, case, prog, res)

@pytest.mark.parametrize("name", ["tables_gemm", "tables_dw"])
def test_shared_tables_layer_bit_exact(tmp_path, name):
    """``shared_tables=1`` (the lanes of a post-processing word share one table copy: the
    ASIC structure) through the whole engine: every code of both tables in every lane, bit for
    bit, at the cycles of the lane copies (the perf records; tests/test_hwsim.py runs a whole
    network both ways in `make test-all`)."""
    case = make_case(name)
    prog = compile_graph(case.graph, get_preset("small,shared_tables=1"))
    res = _run("verilator", prog, case.x, tmp_path / "shared")
    _check_layer_run("verilator", case, prog, res)
    copies = _run("verilator", compile_graph(case.graph, SMALL), case.x, tmp_path / "copies")
    assert Path(res["files"]["perf"]).read_text() == Path(copies["files"]["perf"]).read_text()


def _random_runs():
    """Two seeds per kind in Verilator for `make test`; more seeds, Icarus and Amaranth in
    `make test-all`."""
    fast = [("verilator", s) for s in range(14)]
    slow = ([("verilator", s) for s in range(14, 70)] + [("icarus", s) for s in range(14)]
            + [("amaranth", s) for s in range(7)])
    return ([pytest.param(sim, s) for sim, s in fast]
            + [pytest.param(sim, s, marks=pytest.mark.slow) for sim, s in slow])


@pytest.mark.parametrize("sim, seed", _random_runs())
def test_random_single_layer_bit_exact(tmp_path, sim, seed):
    """A single layer of a random kind and random shape (1..80 channels, maps from 1x1 and
    non-square, k3/k5, stride 1/2, random exponents) through the whole engine equals the
    integer reference bit for bit, stored output and counters included."""
    case = random_case(seed)
    prog = compile_graph(case.graph, SMALL)
    _check_layer_run(sim, case, prog, _run(sim, prog, case.x, tmp_path))


def test_leading_gap_waits_for_the_input(tmp_path):
    """Regression (found by this file, fixed in 747a1b5): a GAP that is the first compute
    instruction took no token, so it raced the input LOAD (status 7, UB write collision), and
    with no weight chunk the output STORE did not wait for it. Now the GAP waits for the input
    LOAD's token and signals the STORE; the GAP layer cases run it in every simulator."""
    case = make_case("gap_4x4_c11_x2")
    prog = compile_graph(case.graph, SMALL)
    ins = prog.instrs
    gap = next(i for i, x in enumerate(ins) if x.op == "GAP")
    store = next(i for i, x in enumerate(ins) if x.op == "STORE")
    assert ins[0].op == "LOAD" and ins[0]["signal"] and ins[gap]["wait"]
    assert ins[gap]["signal"] and ins[store]["wait"]
    _check_layer_run("amaranth", case, prog, _run("amaranth", prog, case.x, tmp_path))


# ------------------------------------------------------------------------------ DMA and decode
def _dma_program(cfg, seed: int = 0):
    """A hand-written program: NOP, two LOADs into the UB (a strided gather of 3 rows of 5
    beats, and one burst of 21 beats, more than max_outstanding), a contiguous STORE and a
    strided scatter of the UB back out, two GAPs on the loaded words (one with a negative,
    i.e. left, shift and a 16-bit layer id) and a STORE of their results, END.

    Returns (program, expected output region as bytes, expected GAP words)."""
    rng = np.random.default_rng(seed)
    bb, R, L = cfg.bus_bytes, cfg.words_per_beat, cfg.lanes
    assert cfg.max_outstanding < 21
    prog_beats = 10 * cfg.instr_bytes // bb
    src = prog_beats  # 64 beats of random source data
    out = src + 64  # output region: 36 copied + 18 scattered + 2 GAP beats
    ub0 = 16  # UB beat of the loaded data
    gap_out = 512  # UB word of the GAP results (beat-aligned)
    n_out = 36 + 18 + 2
    data = rng.integers(0, 256, size=(64, bb), dtype=np.uint8)
    data[1, :] = 0x80  # -128 in every lane of the first loaded word

    def ins(op, **f):
        return isa.Instr(op, f)

    gap_a = dict(layer=0xBEEF, wait=1, x=ub0 * R, xcs=4, hw_log2=2, g=2, out=gap_out,
                 shift=1)
    gap_b = dict(layer=7, signal=1, x=ub0 * R + 8, xcs=8, hw_log2=3, g=2, out=gap_out + 2,
                 shift=-1)
    instrs = [
        ins("NOP"),
        ins("LOAD", dst=isa.BUF_UB, dram=src + 1, buf=ub0, rows=3, row_beats=5, stride=7),
        ins("LOAD", dst=isa.BUF_UB, dram=src + 30, buf=ub0 + 15, rows=1, row_beats=21,
            stride=0, signal=1),
        ins("GAP", **gap_a),
        ins("GAP", **gap_b),
        ins("NOP"),
        ins("STORE", dst=isa.BUF_UB, dram=out, buf=ub0, rows=1, row_beats=36, stride=0),
        ins("STORE", dst=isa.BUF_UB, dram=out + 36, buf=ub0, rows=4, row_beats=3, stride=5),
        ins("STORE", wait=1, dst=isa.BUF_UB, dram=out + 54, buf=gap_out // R, rows=1,
            row_beats=2, stride=0),
        ins("END"),
    ]
    assert len(instrs) * cfg.instr_bytes <= prog_beats * bb
    image = bytearray((out + n_out) * bb)  # the output region starts zeroed
    for i, x in enumerate(instrs):
        image[i * cfg.instr_bytes:(i + 1) * cfg.instr_bytes] = \
            isa.encode(x).to_bytes(cfg.instr_bytes, "little")
    image[src * bb:(src + 64) * bb] = data.tobytes()
    # what the UB holds after the loads (beats), and the expected output region
    ub = np.concatenate([data[1:6], data[8:13], data[15:20], data[30:51]])
    exp = np.zeros((n_out, bb), np.uint8)
    exp[:36] = ub
    for r in range(4):
        exp[36 + 5 * r:36 + 5 * r + 3] = ub[3 * r:3 * r + 3]
    words = ub.view(np.int8).reshape(-1, L).astype(np.int64)  # UB words from ub0 * R
    gap_words = []
    for f in (gap_a, gap_b):
        base = f["x"] - ub0 * R
        n = 1 << f["hw_log2"]
        for g in range(f["g"]):
            acc = words[base + g * f["xcs"]:base + g * f["xcs"] + n].sum(axis=0)
            gap_words.append(intops.requantize(acc, f["shift"]))
    gw = np.array(gap_words, np.int64)
    exp[54:56] = gw.astype(np.int8).view(np.uint8).reshape(2, bb)
    prog = Program(cfg=cfg, graph=None, ops=[], tensors={}, instrs=instrs, image=image,
                   input_beat=out, input_beats=0, output_beat=out, output_words=n_out * R,
                   stem_im2col=None, ub_peak_words=0)
    return prog, exp, gw


def test_dma_program_reference_is_meaningful():
    """The hand-written DMA/GAP program's expectations exercise what they claim: the GAP
    results include a saturation (left shift) and a -128 word was loaded."""
    prog, exp, gw = _dma_program(SMALL)
    assert (gw == 127).any() or (gw == -128).any()
    assert (exp[:36] == 0x80).all(axis=1).any()
    assert prog.instrs[2]["row_beats"] > SMALL.max_outstanding


@pytest.mark.parametrize("sim", SIMS)
def test_dma_round_trip_and_every_opcode(tmp_path, sim):
    """LOAD (strided gather, a burst longer than max_outstanding) and STORE (contiguous and
    strided scatter) move bytes exactly through the UB; NOP, GAP (negative shift field, 16-bit
    layer field) and END decode as the ISA encodes them; the semaphores order GAP after the
    loads and the last STORE after the GAPs; perf records and counters match."""
    prog, exp, _ = _dma_program(SMALL)
    res = _run(sim, prog, np.zeros((0, 1, 1), np.int64), tmp_path)
    assert not res["timed_out"] and res["done"] == 1 and res["status"] == 0, res
    got = _stored_words(sim, prog, res).view(np.uint8).reshape(-1, SMALL.bus_bytes)
    np.testing.assert_array_equal(got[:len(exp)], exp)
    _check_counters(prog, res)
    assert res["ld_busy"] > 15 + 21 + 36 + 12 + 2  # every beat took a DMA cycle


def test_every_opcode_occurs_in_the_runs():
    """The layer cases and the DMA program together run every opcode the ISA defines."""
    ops = Counter(ins.op for ins in _dma_program(SMALL)[0].instrs)
    for name in CASES:
        ops.update(ins.op for ins in compile_graph(make_case(name).graph, SMALL).instrs)
    assert set(isa.OPCODES) <= set(ops), set(isa.OPCODES) - set(ops)
