"""Spatial tiling (accel/tiling.py): maps that do not fit the unified buffer stream through it
in row bands, and the result is still bit-exact on every layer.

The band geometry is checked against brute force (every output row's window lies in its band's
input rows or in the padding); the schedule against its own invariants (every signal has its
wait, nothing deadlocks); whole random networks with buffers 4-16x too small run in Verilator,
Icarus and Amaranth's simulator against the integer reference, 0 LSB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hfaccel.accel.compiler import compile_graph
from hfaccel.accel.config import SMALL, get_preset
from hfaccel.accel.perf import simulate
from hfaccel.accel.tiling import Band, Slots, Staging, dw_bands, gap_bands, gemm_bands
from hfaccel.errors import ConfigError
from hfaccel.quant.reference import run_reference
from hfaccel.sim.hwsim import compare, run_rtl
from support.netgen import random_block_net


# ------------------------------------------------------------------------------ geometry
@pytest.mark.parametrize("h, k, s", [(16, 3, 1), (16, 5, 1), (16, 3, 2), (15, 5, 2), (7, 3, 1)])
@pytest.mark.parametrize("room", [200, 600, 5000])
def test_dw_bands_cover_every_window(h, k, s, room):
    pad = k // 2
    w = h
    ho = (h + 2 * pad - k) // s + 1
    plan = dw_bands(h=h, w=w, ho=ho, wo=ho, k=k, s=s, pad=pad, x_dram=True, out_dram=True,
                    groups=1, room=room, cfg=SMALL)
    if plan is None:
        return
    bands = plan.bands
    assert plan.slots.words <= room and plan.groups == 1
    assert [b.r0 for b in bands] == sorted({b.r0 for b in bands}) and bands[0].r0 == 0
    assert bands[-1].r1 == ho and all(a.r1 == b.r0 for a, b in zip(bands, bands[1:]))
    R = SMALL.words_per_beat
    for b in bands:
        assert b.p0 % R == 0  # a store writes whole beats
        assert 0 <= b.padt <= pad
        for oy in range(b.r0, b.r1):
            for ky in range(k):
                iy = oy * s + ky - pad  # the row the window needs
                local = (oy - b.r0) * s + ky - b.padt  # the row the hardware reads
                if 0 <= iy < h:
                    assert b.i0 <= iy < b.i1 and local == iy - b.i0
                else:  # padding: the hardware must see it outside the band
                    assert not 0 <= local < b.i1 - b.i0


def test_gemm_bands_align_stores_to_beats_for_odd_widths():
    cfg = SMALL.replace(name="b4", bus_bytes=32)  # 4 words per beat
    plan = gemm_bands(h=9, w=7, x_dram=True, skip_dram=False, out_dram=True, cx=1, co=2,
                      room=10_000, cfg=cfg)
    bands = plan.bands
    assert all(b.p0 % 4 == 0 for b in bands) and bands[-1].p1 == 63
    assert plan.slots.out == 2 * -(-max(b.npix for b in bands) // 4) * 4
    assert plan.slots.streamed == ("x", "out") and plan.slots.skip == 0
    assert gemm_bands(h=9, w=7, x_dram=True, skip_dram=False, out_dram=True, cx=1, co=2,
                      room=10, cfg=cfg) is None


def test_dw_bands_split_channel_groups_before_rows_run_out():
    kw = dict(h=16, w=16, ho=16, wo=16, k=5, s=1, pad=2, x_dram=True, out_dram=True,
              cfg=SMALL)
    plan = dw_bands(groups=8, room=1000, **kw)
    assert plan.groups == 4 and plan.slots.words <= 1000
    assert dw_bands(groups=8, room=100_000, **kw).groups == 8


def test_gap_pieces_are_powers_of_two():
    assert gap_bands(hw=256, room=10_000, cfg=SMALL).bands == (Band(0, 0, 0, 256, 0, 0),)
    plan = gap_bands(hw=256, room=200, cfg=SMALL)
    assert [b.npix for b in plan.bands] == [64] * 4 and plan.slots == Slots(x=64)
    assert gap_bands(hw=256, room=2, cfg=SMALL) is None


def test_staging_slots_follow_each_other():
    st = Staging(100, Slots(x=10, out=4))
    assert [st.slot("x", k) for k in range(3)] == [100, 110, 100]
    assert [st.slot("out", k) for k in range(2)] == [120, 124] and st.words == 28


def test_hw_override_names_the_config():
    cfg = get_preset("small,ub_kib=8")
    assert (cfg.name, cfg.ub_kib, cfg.lanes) == ("small-ub_kib8", 8, SMALL.lanes)
    with pytest.raises(ConfigError, match="hardware override 'ub=8': expected field=value"):
        get_preset("small,ub=8")
    with pytest.raises(ConfigError, match="ub_kib must be a power of two"):
        get_preset("small,ub_kib=12")


# ------------------------------------------------------------------------------ schedule
def test_fitting_networks_are_not_tiled():
    graph, _ = random_block_net(3)
    prog = compile_graph(graph, SMALL)
    assert not prog.spilled and all(op.n_bands == 1 and op.stream is None for op in prog.ops)


@pytest.mark.parametrize("kib", [8, 16])
def test_spilled_schedule_pairs_every_signal_with_a_wait(kib):
    graph, _ = random_block_net(4, res=32, c_stem=16, k=5)
    prog = compile_graph(graph, SMALL.replace(name=f"s{kib}", ub_kib=kib))
    assert prog.spilled and prog.ub_peak_words * prog.cfg.word_bytes <= kib * 1024
    ld = [i for i in prog.instrs if i.op in ("LOAD", "STORE")]
    cm = [i for i in prog.instrs if i.op in ("GEMM", "DW", "GAP")]
    # tokens: the compute unit's waits consume the load unit's signals one for one
    assert sum(i["signal"] for i in ld) == sum(i["wait"] for i in cm)
    assert sum(i["signal"] for i in cm) == sum(i["wait"] for i in ld)
    simulate(prog)  # raises on a deadlock


# ------------------------------------------------------------------------------ RTL
TILED = [  # seed, res, stem channels, k, stride, ub KiB (the untiled peak is 4-16x that)
    (40, 32, 16, 3, 1, 8), (41, 32, 12, 5, 1, 8), (42, 32, 8, 3, 2, 4), (43, 32, 24, 5, 2, 8),
]


def _run(tmp_path, seed, res, c, k, s, kib, sim):
    graph, x = random_block_net(seed, res=res, c_stem=c, k=k, stride=s)
    ref = run_reference(graph, x)
    prog = compile_graph(graph, SMALL.replace(name=f"small-ub{kib}", ub_kib=kib))
    assert prog.spilled
    assert any(op.n_bands > 1 for op in prog.ops if op.kind == "dw")
    res_ = run_rtl(prog, ref["input.q"][0], sim=sim, work=tmp_path, log=lambda *_: None)
    assert res_["status"] == 0 and not res_["timed_out"], res_
    rows = compare(prog, Path(res_["files"]["trace"]), {n: v[0] for n, v in ref.items()})
    bad = [f"{r.name}: {r.first_mismatch}" for r in rows if not r.bit_exact]
    assert not bad, bad
    assert len(rows) == len(graph.layers) - 1
    return prog, res_


@pytest.mark.parametrize("seed, res, c, k, s, kib", TILED)
def test_tiled_random_nets_bit_exact_in_verilator(tmp_path, seed, res, c, k, s, kib):
    prog, res_ = _run(tmp_path, seed, res, c, k, s, kib, "verilator")
    pred = simulate(prog).total
    assert abs(pred / res_["cycles"] - 1) < 0.15, (pred, res_["cycles"])


def test_tiled_random_net_bit_exact_in_icarus(tmp_path):
    _run(tmp_path, 44, 32, 8, 3, 1, 4, "icarus")


def test_tiled_random_net_bit_exact_in_amaranth_simulator(tmp_path):
    from hfaccel.sim.amaranth_run import run_amaranth

    graph, x = random_block_net(45, res=16, c_stem=8, k=3, stride=1)
    ref = run_reference(graph, x)
    prog = compile_graph(graph, SMALL.replace(name="small-ub1", ub_kib=1))
    assert prog.spilled
    res_ = run_amaranth(prog, ref["input.q"][0], tmp_path)
    assert res_["status"] == 0, res_
    rows = compare(prog, Path(res_["files"]["trace"]), {n: v[0] for n, v in ref.items()})
    assert all(r.bit_exact for r in rows), [r.first_mismatch for r in rows if not r.bit_exact]
