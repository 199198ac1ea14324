"""Whole-network RTL simulation (issue 5's CI): HF3 on the default preset in Verilator, HF3 on a
third of the buffer its maps need (spatial tiling), and a small zoo model on the 8-lane preset
in Icarus, all bit-exact on every layer; and the waveform of a layer that fails on purpose."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hfaccel.accel import isa
from hfaccel.accel.compiler import compile_graph
from hfaccel.accel.config import DEFAULT, SMALL, get_preset
from hfaccel.model import Scaling, get_config, scale
from hfaccel.quant.pipeline import default_out_dir, quantize_to_onnx
from hfaccel.sim import hwsim
from hfaccel.sim.hwsim import format_report, hw_sim

REQUIRED = {"model", "hw", "images", "bit_exact", "layers", "total", "sim"}
LAYER_KEYS = {"name", "op", "macs", "cycles", "cycles_predicted", "utilization", "bit_exact"}


def _check_report(rep: dict, out: Path) -> None:
    assert REQUIRED <= set(rep)
    assert json.loads((out / "report.json").read_text())["bit_exact"] == rep["bit_exact"]
    assert all(LAYER_KEYS <= set(r) for r in rep["layers"])
    bad = [f"{r['name']}: {r['mismatch']}" for r in rep["layers"] if not r["bit_exact"]]
    assert not bad, bad
    assert rep["bit_exact"]
    t = rep["total"]
    assert sum(r["macs"] for r in rep["layers"]) == t["macs"]
    assert sum(r["cycles"] for r in rep["layers"]) <= t["cycles"]
    im = rep["per_image"][0]
    assert im["top1_rtl"] == im["top1_onnxruntime"]
    assert {"simulator", "wall_s", "cycles_per_s"} <= set(rep["sim"])
    assert "PASS" in format_report(rep)


def test_hf3_whole_network_verilator_bit_exact(tmp_path):
    """Through the AXI shell (hfaccel_axi_top, image above 4 GiB) with a memory that never
    stalls, so that the cycles are the engine's and the shell's: the analytic model of the
    engine tracks them (the shell costs under 2% on HF3)."""
    cfg = get_config("hf3")
    path, graph, meta = quantize_to_onnx(cfg, default_out_dir(cfg.name))
    rep = hw_sim(Path(path), graph, meta, DEFAULT, images=1, sim="verilator", out_dir=tmp_path,
                 stall=0)
    assert rep["shell"]["top"] == "hfaccel_axi_top"
    _check_report(rep, tmp_path)
    # the analytic model tracks the RTL (the per-layer 10% target is a benchmark, not a test)
    assert abs(rep["total"]["cycles_predicted"] / rep["total"]["cycles"] - 1) < 0.1


def test_hf3_tiled_in_a_third_of_its_buffer_verilator_bit_exact(tmp_path):
    """HF3's maps peak at 384 KiB; on a 128 KiB buffer the compiler spills maps to external
    memory and streams them in row bands (depthwise halos, SE pools summed across pieces). Run
    through the AXI shell with every AXI channel stalled at random in a quarter of the cycles
    (hw-sim's default): every spilled map is written and read back through AXI."""
    cfg = get_config("hf3")
    path, graph, meta = quantize_to_onnx(cfg, default_out_dir(cfg.name))
    rep = hw_sim(Path(path), graph, meta, get_preset("default,ub_kib=128"), images=1,
                 sim="verilator", out_dir=tmp_path)
    t = rep["tiling"]
    assert t["spilled_maps"] >= 5 and t["banded_ops"] >= 10 and t["ub_peak_kib"] <= 128
    _check_report(rep, tmp_path)
    assert rep["shell"]["stall_percent"] == 25
    # a memory that delivers at most 3 beats in 4 costs cycles the engine's model leaves out
    assert rep["total"]["cycles"] >= rep["total"]["cycles_predicted"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small zoo-scaled model, quantized once for the tests below."""
    net = scale(Scaling(0.25, 0.3, 32, hf=True), name="tiny", num_classes=10)
    path, graph, meta = quantize_to_onnx(net, tmp_path_factory.mktemp("tiny") / "quant")
    return Path(path), graph, meta


def test_small_model_icarus_bit_exact(tmp_path, tiny):
    rep = hw_sim(*tiny, SMALL, images=1, sim="icarus", out_dir=tmp_path)
    # the AXI shell's perf records in memory equal the perf port's (checked by run_rtl)
    assert rep["shell"]["perf_records"] == rep["total"]["counters"]["instrs"] > 0
    _check_report(rep, tmp_path)


@pytest.mark.slow
def test_shared_tables_same_bits_and_cycles_icarus(tmp_path, tiny):
    """``shared_tables=1`` (one table copy per post-processing word, the ASIC structure) is the
    same function at the same cycles as a copy per lane: the tiny model bit-exact on every
    layer, its activation tables used, and every layer's cycles equal to the lane copies'."""
    prog = compile_graph(tiny[1], SMALL)
    assert any(i["tbl"] for i in prog.instrs if i.op in ("GEMM", "DW"))  # tables looked up
    shared = hw_sim(*tiny, get_preset("small,shared_tables=1"), images=1, sim="icarus",
                    out_dir=tmp_path / "shared")
    _check_report(shared, tmp_path / "shared")
    copies = hw_sim(*tiny, SMALL, images=1, sim="icarus", out_dir=tmp_path / "copies")
    assert [r["cycles"] for r in shared["layers"]] == [r["cycles"] for r in copies["layers"]]
    assert shared["total"]["cycles"] == copies["total"]["cycles"]


def test_waves_of_the_first_failing_layer(tmp_path, tiny, monkeypatch):
    """``hw-sim --waves``: a weight of the stem corrupted in the memory image after compiling
    makes the stem differ from onnxruntime; the run is repeated up to the end of that layer
    with a waveform, which is written and named in the report."""
    stem = {}

    def corrupted(graph, cfg):
        prog = compile_graph(graph, cfg)
        op = prog.ops[0]
        load = next(i for i in op.loads if prog.instrs[i].op == "LOAD"
                    and prog.instrs[i]["dst"] == isa.BUF_WGT)
        # byte 0 of the first weight tile: output channel 0, im2col input 0 (a real tap)
        prog.image[prog.instrs[load]["dram"] * cfg.bus_bytes] ^= 0x55
        stem["name"] = op.name
        return prog

    monkeypatch.setattr(hwsim, "compile_graph", corrupted)
    monkeypatch.setenv("WAVES", "1")  # as `make hw-sim WAVES=1` exports it (hidden from cocotb)
    rep = hw_sim(*tiny, SMALL, images=1, sim="icarus", out_dir=tmp_path, waves=True)
    assert not rep["bit_exact"]
    bad = [r for r in rep["layers"] if not r["bit_exact"]]
    assert bad[0]["name"] == stem["name"] and bad[0]["mismatch"].startswith("image 0: index")
    w = rep["per_image"][0]["waves"]
    assert w["layer"] == stem["name"] and w["cycles"][0] == 0 < w["cycles"][1]
    f = Path(w["file"])
    assert f == (tmp_path / "hwsim" / "image0" / "waves" / "waves.fst").resolve()
    assert f.is_file() and f.stat().st_size > 1000
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["per_image"][0]["waves"] == w  # named in the report
    text = format_report(rep)
    assert f"waveform of the first failing layer, {stem['name']}" in text and str(f) in text
    assert "FAIL" in text


def test_cli_hw_sim_error_is_one_line(capsys):
    from hfaccel.cli import main

    assert main(["hw-sim", "HF3", "--hw", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hfaccel hw-sim: error: argument --hw: unknown hardware preset "
                          "'nosuch'")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hf0", "hf1", "hf2", "hf4", "hf5"])
def test_other_hf_models_verilator_bit_exact(tmp_path, name):
    cfg = get_config(name)
    path, graph, meta = quantize_to_onnx(cfg, default_out_dir(cfg.name))
    rep = hw_sim(Path(path), graph, meta, DEFAULT, images=1, sim="verilator", out_dir=tmp_path)
    _check_report(rep, tmp_path)


def test_simulator_env_hides_cocotbs_waves_variable(monkeypatch):
    """cocotb's runner would let WAVES override the explicit ``waves=False`` of a normal run."""
    monkeypatch.setenv("WAVES", "1")
    with hwsim.simulator_env("icarus"):
        assert "WAVES" not in os.environ
    assert os.environ["WAVES"] == "1"


def test_small_model_seven_bit_weights_verilator_bit_exact(tmp_path):
    """Weights within -64..63 (--weight-bits 7) are ordinary int8 codes to the engine."""
    net = scale(Scaling(0.25, 0.3, 32, hf=True), name="tiny", num_classes=10)
    path, graph, meta = quantize_to_onnx(net, tmp_path / "quant", weight_bits=7)
    assert meta["weight_bits"] == 7
    rep = hw_sim(Path(path), graph, meta, SMALL, images=1, sim="verilator", out_dir=tmp_path)
    _check_report(rep, tmp_path)
