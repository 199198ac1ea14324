"""Reports (accel/report/): golden CSVs, plain CSVs with JSON sidecars, columns that add up,
predicted vs measured, plots, the design-space sweep, the per-config report folder, and clear
errors for bad input. Analytic only: no RTL, a few seconds.

Regenerate the golden files after an intended change with
``HFACCEL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report.py -k golden``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from hfaccel.accel.compiler import compile_graph
from hfaccel.accel.config import DEFAULT, SMALL, get_preset
from hfaccel.accel.perf import roofline, simulate
from hfaccel.accel.report import (
    STORE_ROW,
    SWEEP_COLUMNS,
    TILING_COLUMNS,
    UTIL_COLUMNS,
    build_report,
    load_measured,
    pareto_front,
    read_csv,
    report_model,
    sweep,
    sweep_configs,
    sweep_graphs,
    write_reports,
)
from hfaccel.errors import ConfigError, HfaccelError
from support.netgen import random_block_net

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
# Two deterministic MBConv-like nets on the 8-lane preset: 12 channels (padding to 16),
# depthwise k3/s1 (flat mode) with a residual add, and k5/s2 (row mode on a 4x4 map).
NETS = {"block-s1": dict(res=16, c_stem=12, k=3, stride=1),
        "block-s2": dict(res=16, c_stem=12, k=5, stride=2)}


def _prog(name: str, cfg=SMALL):
    graph, _ = random_block_net(3, **NETS[name])
    return compile_graph(graph, cfg)


def _num(v: str) -> float:
    return float(v) if v else 0.0


# ------------------------------------------------------------------------------ golden
@pytest.mark.parametrize("name", sorted(NETS))
def test_golden_reports(tmp_path, name):
    rep = write_reports(_prog(name), None, tmp_path, model=name, plots=False)
    assert set(rep.files) == {"utilization", "tiling", "summary", "utilization_json",
                              "tiling_json"}
    for f in ("utilization.csv", "tiling.csv"):
        got = (tmp_path / f).read_text()
        want = GOLDEN / name / f
        if os.environ.get("HFACCEL_UPDATE_GOLDEN"):
            want.parent.mkdir(parents=True, exist_ok=True)
            want.write_text(got)
        assert want.is_file(), f"missing golden file {want} (HFACCEL_UPDATE_GOLDEN=1)"
        assert got == want.read_text(), f"{f} of {name} differs from {want}"


def test_plain_csvs_and_sidecars_document_every_column(tmp_path):
    prog = _prog("block-s1")
    write_reports(prog, None, tmp_path, model="block-s1", plots=False)
    docs = (REPO / "docs" / "reports.md").read_text()
    for f, cols in (("utilization.csv", UTIL_COLUMNS), ("tiling.csv", TILING_COLUMNS)):
        lines = (tmp_path / f).read_text().splitlines()
        # plain CSV: the header first, then one line per operation and the store, nothing else
        assert lines[0] == ",".join(c for c, _ in cols)
        assert len(lines) == 1 + len(prog.ops) + 1
        assert list(read_csv(tmp_path / f)[0]) == [c for c, _ in cols]
        side = json.loads((tmp_path / f).with_suffix(".json").read_text())
        assert side["table"] == f and side["columns"] == dict(cols)
        assert side["model"] == "block-s1" and side["hw"] == json.loads(prog.cfg.to_json())
        assert side["title"].endswith("block-s1 on small (8 lanes, 8x8 PEs, bus 16 B, UB 128 "
                                      "KiB, 8 banks, WGT 64 tiles, PRM 64 words)")
        assert side["cycles_measured_from"] is None
        for c, _ in cols:
            assert f"`{c}`" in docs, f"docs/reports.md does not define {c}"
    for c, _ in SWEEP_COLUMNS:
        assert f"`{c}`" in docs, f"docs/reports.md does not define sweep column {c}"


# ------------------------------------------------------------------------------ sums
TILED = SMALL.replace(name="small-ub8", ub_kib=8)  # a quarter of the maps' peak: banded ops


@pytest.mark.parametrize("name, cfg", [("block-s1", SMALL), ("block-s2", SMALL),
                                       ("block-s1", DEFAULT), ("tiled", TILED)])
def test_columns_add_up(tmp_path, name, cfg):
    if name == "tiled":
        prog = compile_graph(random_block_net(4, res=32, c_stem=16, k=5)[0], cfg)
        assert prog.spilled and any(op.n_bands > 1 for op in prog.ops)
    else:
        prog = _prog(name, cfg)
    pred = simulate(prog)
    write_reports(prog, pred, tmp_path, plots=False)
    util = read_csv(tmp_path / "utilization.csv")
    til = read_csv(tmp_path / "tiling.csv")
    ops = [r for r in util if r["kind"] != "store"]
    assert len(ops) == len(prog.ops) and len(util) == len(til) == len(prog.ops) + 1
    assert util[-1]["layer"] == STORE_ROW
    # MACs add up to the model's, cycles (with the store row) to the predicted total
    assert sum(int(r["macs"]) for r in util) == prog.graph.macs
    assert sum(int(r["cycles_pred"]) for r in util) == pred.total
    for r in ops:
        assert int(r["busy_pred"]) + int(r["stall_pred"]) == int(r["cycles_pred"])
        assert int(r["busy_pred"]) == pred.compute_busy[int(r["index"])]
        roof = roofline(prog)[int(r["index"])]
        assert float(r["roofline_cycles"]) == pytest.approx(roof.cycles, abs=0.05)
        assert r["bound"] == roof.bound
        if int(r["macs"]):
            L2 = cfg.macs_per_cycle
            assert float(r["util_pred_pct"]) == pytest.approx(
                100 * int(r["macs"]) / (int(r["cycles_pred"]) * L2), abs=0.006)
            assert float(r["util_pred_pct"]) <= float(r["compute_util_pred_pct"]) \
                <= float(r["mapping_eff_pct"]) + 1e-9
    # traffic: the components add up per row, and the rows to every byte the DMA moves
    for r in til:
        assert _num(r["ext_read_bytes"]) == sum(_num(r[k]) for k in (
            "ext_wgt_bytes", "ext_prm_bytes", "ext_tbl_bytes", "ext_in_bytes"))
        assert _num(r["ext_write_bytes"]) == _num(r["ext_out_bytes"])
    dma = sum(i["rows"] * i["row_beats"] * cfg.bus_bytes for i in prog.instrs
              if i.op in ("LOAD", "STORE"))
    assert sum(_num(r["ext_read_bytes"]) + _num(r["ext_write_bytes"]) for r in til) == dma
    assert sum(_num(r["instr_bytes"]) for r in til) == len(prog.instrs) * cfg.instr_bytes
    # the UB words live per op are the allocator's own (band staging bank-aligned as
    # allocated): their maximum is the compiler's peak
    assert max(_num(r["ub_live_bytes"]) for r in til) == prog.ub_peak_words * cfg.word_bytes
    assert all(_num(r["ub_op_bytes"]) <= _num(r["ub_live_bytes"]) for r in til[:-1])
    assert all(0 <= _num(r[k]) <= 100 for r in til for k in ("ub_occ_pct", "wgt_occ_pct",
                                                             "prm_occ_pct", "tbl_occ_pct"))


def test_mapping_efficiency_and_tiling_definitions():
    # 16 channels on 32 lanes: half of the array holds real work
    graph, _ = random_block_net(0)  # c_stem 16, expand 2
    rep = build_report(compile_graph(graph, DEFAULT))
    u = {r.layer: r for r in rep.util}
    assert u["b.expand"].mapping_eff_pct == 50.0  # 16 in x 32 out on one 32x32 tile
    assert u["stem"].mapping_eff_pct == pytest.approx(100 * 27 * 16 / (32 * 32), abs=0.01)
    assert u["b.dw"].mapping_eff_pct == 100.0  # 32 channels, 8x8 flat: 64 pixels / 2 blocks
    assert "mapping 50% (16 in x 32 out channels on 1x1 tiles of 32)" in u["b.expand"].why
    # 8-lane row mode on a 4x4 output: 4 of 8 pixel lanes per block
    rep = build_report(_prog("block-s2"))
    u = {r.layer: r for r in rep.util}
    t = {r.layer: r for r in rep.tiling}
    dw = t["b.dw"]
    assert dw.dw_mode == "row" and dw.n_pix_tiles == 4 and dw.n_cin_tiles == 3
    assert u["b.dw"].mapping_eff_pct == 50.0
    assert "mapping 50% (24 channels, 4x4 outputs in 4 row blocks of 8)" in u["b.dw"].why
    # window words: 3 groups x 4 blocks x 5 rows x (2 x 8 + 5 - 1) words, input 3 x 64 words
    assert dw.dw_window_words == 3 * 4 * 5 * 20 and dw.halo_factor == 6.25
    stem = t["stem"]
    assert stem.n_cin_tiles == 4 and stem.n_cout_tiles == 2  # im2col 27 -> 4 tiles of 8
    assert stem.ext_in_bytes == 4 * 64 * 8  # the im2col input, padded to 32 channels
    assert stem.min_bytes == 12 * 27 + 5 * 12 + 256 + 3 * 16 * 16
    assert u["b.se.pool"].mapping_eff_pct is None and u["b.se.pool"].bound == ""
    assert u["b.se.pool"].why.startswith("pooling: wide UB reads, no MACs")
    # rows are frozen: a report is a value, not a record to patch
    with pytest.raises(dataclasses.FrozenInstanceError):
        u["stem"].macs = 0


# ------------------------------------------------------------------------------ measured
def _fake_measured(prog, pred, scale=1.1, hw=None):
    """A report.json as hw_sim writes it, with cycles scaled from the prediction."""
    layers = []
    for op in prog.ops:
        for name in op.stages:
            main = name == op.name
            layers.append({"name": name, "hw_op": op.index, "fused_into": None if main
                           else op.name, "macs": prog.graph[name].macs,
                           "cycles": round(pred.per_op[op.index] * scale) if main else 0})
    total = sum(r["cycles"] for r in layers) + 10
    return {"model": "fake", "hw": hw or json.loads(json.dumps(prog.cfg.as_dict())),
            "images": 1, "layers": layers, "total": {"cycles": total},
            "sim": {"simulator": "verilator"}}


def test_predicted_and_measured_side_by_side(tmp_path):
    prog = _prog("block-s1")
    pred = simulate(prog)
    meas = _fake_measured(prog, pred)
    busy = {op.index: pred.compute_busy[op.index] + 1 for op in prog.ops}
    rep = write_reports(prog, pred, tmp_path, measured=meas, measured_busy=busy, plots=False)
    assert rep.measured and rep.measured_from == "report.json (verilator)"
    util = read_csv(tmp_path / "utilization.csv")
    assert sum(int(r["cycles_meas"]) for r in util) == meas["total"]["cycles"]
    for r in util[:-1]:
        m, p = int(r["cycles_meas"]), int(r["cycles_pred"])
        assert float(r["cycles_err_pct"]) == pytest.approx(100 * (p - m) / m, abs=0.006)
        assert int(r["stall_meas"]) == m - int(r["busy_meas"])
    T = rep.totals
    assert T.cycles_meas == meas["total"]["cycles"]
    assert T.cycles_err_pct == pytest.approx(100 * (pred.total - T.cycles_meas)
                                             / T.cycles_meas, abs=0.006)
    summary = (tmp_path / "summary.md").read_text()
    assert "Predicted vs measured" in summary and "measured" in summary
    # a report of another program is refused, not silently mixed in
    other = _fake_measured(_prog("block-s2"), simulate(_prog("block-s2")))
    with pytest.raises(HfaccelError, match="does not match the program"):
        build_report(prog, pred, measured=other)


def test_load_measured_from_a_hw_sim_folder(tmp_path):
    prog = _prog("block-s1")
    pred = simulate(prog)
    assert load_measured(prog, tmp_path)[0] is None  # nothing there: analytic only
    meas = _fake_measured(prog, pred, scale=1.0)
    (tmp_path / "report.json").write_text(json.dumps(meas))
    # the perf port log of the last image: layer, end cycle, wait, busy, MAC cycles
    perf = tmp_path / "hwsim" / "image0" / "perf.txt"
    perf.parent.mkdir(parents=True)
    end, lines = 0, []
    for op in prog.ops:
        end += round(pred.per_op[op.index])
        lines.append(f"{op.index} {end} 0 {pred.compute_busy[op.index]} 0")
    perf.write_text("\n".join(lines) + "\n")
    rep_json, busy, note = load_measured(prog, tmp_path)
    assert rep_json == meas and busy == pred.compute_busy and "measured cycles" in note
    rep = build_report(prog, pred, measured=rep_json, measured_busy=busy)
    assert all(r.stall_meas == r.stall_pred for r in rep.util[:-1])
    # a report.json of another hardware config is ignored with a note
    (tmp_path / "report.json").write_text(json.dumps(_fake_measured(
        prog, pred, hw=DEFAULT.as_dict())))
    rep_json, busy, note = load_measured(prog, tmp_path)
    assert rep_json is None and "is for hardware 'default', not 'small'" in note


def test_cli_report_of_an_override_config_uses_its_own_folder(tmp_path, monkeypatch, capsys):
    """``hfaccel report HF3 --hw default,ub_kib=128`` writes build/hf3-default-ub_kib128/reports/
    and takes that folder's measured report.json (accel/paths.run_dir, as hw-sim does), never
    the default hardware's build/hf3/report.json."""
    from hfaccel.accel.report.models import load_graph
    from hfaccel.cli import main

    monkeypatch.chdir(REPO)
    _, graph = load_graph("HF3")  # quantized once, cached under build/hf3/quant
    monkeypatch.chdir(tmp_path)
    (tmp_path / "build" / "hf3").mkdir(parents=True)
    (tmp_path / "build" / "hf3" / "quant").symlink_to(REPO / "build" / "hf3" / "quant")
    cfg = get_preset("default,ub_kib=128")
    prog = compile_graph(graph, cfg)
    pred = simulate(prog)
    run = tmp_path / "build" / "hf3-default-ub_kib128"
    run.mkdir()
    meas = _fake_measured(prog, pred, scale=1.05)
    (run / "report.json").write_text(json.dumps(meas))
    # a run of the default hardware beside it: not this config's
    default = compile_graph(graph, DEFAULT)
    (tmp_path / "build" / "hf3" / "report.json").write_text(json.dumps(
        _fake_measured(default, simulate(default))))
    assert main(["report", "HF3", "--hw", "default,ub_kib=128", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "measured cycles from build/hf3-default-ub_kib128/report.json" in out
    assert "wrote build/hf3-default-ub_kib128/reports/" in out
    assert not (tmp_path / "build" / "hf3" / "reports").exists()
    util = read_csv(run / "reports" / "utilization.csv")
    assert sum(int(r["cycles_meas"]) for r in util) == meas["total"]["cycles"]
    side = json.loads((run / "reports" / "utilization.json").read_text())
    assert side["cycles_measured_from"] == "build/hf3-default-ub_kib128/report.json"
    assert side["hw"]["name"] == "default-ub_kib128" and side["hw"]["ub_kib"] == 128


# ------------------------------------------------------------------------------ plots
def test_plots_and_summary(tmp_path):
    prog = _prog("block-s1")
    pred = simulate(prog)
    rep = write_reports(prog, pred, tmp_path, model="block-s1",
                        measured=_fake_measured(prog, pred))
    for f in ("utilization.png", "roofline.png", "traffic.png"):
        data = (tmp_path / f).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, f
    s = (tmp_path / "summary.md").read_text()
    assert "## The ten most expensive layers" in s and "bound" in s
    assert f"| {rep.cfg.name} | {rep.cfg.lanes} |" in s  # the config it describes
    assert "compute-bound" in s or "memory-bound" in s


# ------------------------------------------------------------------------------ sweep
def test_sweep_records_configs_that_do_not_map(tmp_path):
    graph, _ = random_block_net(3, **NETS["block-s1"])
    configs = [SMALL, SMALL.replace(name="small-2x", lanes=16, bus_bytes=32, ub_banks=16),
               SMALL.replace(name="tiny-ub", ub_kib=1)]
    rows = sweep_graphs({"block": graph}, configs, tmp_path)
    by = {r.config: r for r in rows}
    assert by["small"].status == "ok" and by["small-2x"].status == "ok"
    assert by["small"].preset == "small"
    assert by["tiny-ub"].status == "compile error"
    assert "unified buffer" in by["tiny-ub"].error
    assert by["small"].cycles == simulate(compile_graph(graph, SMALL)).total
    assert by["small-2x"].mac_units == 256 and by["small"].mac_units == 64
    assert by["small-2x"].cycles < by["small"].cycles
    assert by["small"].pareto == 1 and by["tiny-ub"].pareto == 0
    got = read_csv(tmp_path / "sweep.csv")
    assert [r["config"] for r in got] == [c.name for c in configs]
    assert got[2]["cycles"] == "" and got[0]["cycles"] == str(by["small"].cycles)
    side = json.loads((tmp_path / "sweep.json").read_text())
    assert side["columns"] == dict(SWEEP_COLUMNS) and side["configs"] == list(by)
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_grid_and_pareto():
    ok, bad = sweep_configs(lanes=(8, 64), bus=(32, 128), ub_kib=(512,), wgt_kib=(64,))
    names = [c.name for c in ok]
    # 8 lanes: a 64-byte weight tile is not a whole number of 128-byte beats; 64 lanes need a
    # bus of at least 64 bytes
    assert names == ["L8-bus32-ub512k-wgt64k", "L64-bus128-ub512k-wgt64k"]
    assert {n for n, _ in bad} == {"L8-bus128-ub512k-wgt64k", "L64-bus32-ub512k-wgt64k"}
    assert all(c.ub_banks >= c.bus_bytes // c.lanes for c in ok)
    assert ok[0].wgt_tiles == 64 * 1024 // 64 and ok[1].wgt_tiles == 16
    assert pareto_front([(1, 10), (2, 5), (2, 6), (3, 5), (0.5, 20)]) == [
        True, True, False, False, True]


def test_sweep_of_zoo_models(tmp_path, monkeypatch):
    # the quantized graphs are cached under build/<model>/quant; a fresh clone quantizes them
    # here (~15 s each)
    monkeypatch.chdir(REPO)
    rows = sweep(["HF4", "hf5"], [DEFAULT, SMALL], tmp_path, plots=False)
    by = {(r.model, r.config): r for r in rows}
    assert by["hf4", "default"].status == "ok" and by["hf4", "default"].preset == "default"
    assert by["hf5", "small"].status == "compile error"  # 128 KiB UB, 4 KiB of weights
    assert "raise" in by["hf5", "small"].error


# ------------------------------------------------------------------------------ errors
def test_bad_input_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown hardware preset 'huge'"):
        report_model("HF3", hw="huge")  # fails before any model is loaded
    with pytest.raises(HfaccelError, match="unknown model 'NOPE'"):
        report_model("NOPE", out_dir=tmp_path)
    with pytest.raises(HfaccelError, match="unknown model 'hf9'"):
        sweep(["HF3", "hf9"], [DEFAULT], tmp_path)
    from hfaccel.cli import main

    assert main(["report", "NOPE"]) == 2
    assert "hfaccel report: error: unknown model 'NOPE'" in capsys.readouterr().err
    assert main(["report", "HF3", "--hw", "huge"]) == 2
    assert "unknown hardware preset 'huge'" in capsys.readouterr().err
    assert main(["sweep", "HF3", "--lanes", "12", "--out", str(tmp_path)]) == 2
    assert "no valid config in the grid" in capsys.readouterr().err
    assert main(["sweep", "--lanes", "eight"]) == 2
    assert "expected comma-separated integers" in capsys.readouterr().err
