"""Every mistake a clear error, found early (issue 18): a table of bad inputs run through the CLI.

Each row is (command line, exit status, fragment of the message). A rejected input must be one
line on stderr naming the option or the problem, exit status 2, never a traceback; an accepted
one (a capped request, a model that does not fit the hardware) says so in one line. The rows
run in-process (``hfaccel.cli.main``), the Makefile's variables in a subprocess (``make -n``).
New options get new rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
from pathlib import Path

import pytest

from hfaccel.cli import build_parser, main
from support.onnxgen import tiny_qcdq

ROOT = Path(__file__).resolve().parent.parent

# {name} is replaced by a file of the `files` fixture
BAD_INPUTS = [
    # --- what a new user tried that ended in a traceback
    ("check-reference --onnx {b2} --images 1", 2, "--images 1: {b2} has a fixed batch of 2"),
    ("hw-sim --onnx {b2} --images 1 --hw small", 2, "has a fixed batch of 2"),
    ("report HF3 --hw {bad_json}", 2, "argument --hw: hardware config file {bad_json} is not "
                                      "valid JSON"),
    ("report HF3 --hw {list_json}", 2, "must hold a JSON object of AccelConfig fields, not a "
                                       "list"),
    ("report HF3 --hw {str_lanes_json}", 2, "AccelConfig field lanes must be an integer, got "
                                            "\"32\""),
    ("check-reference HF3 --deployment bogus", 2, "argument --deployment: invalid choice: "
                                                  "'bogus'"),
    ("check-reference HF3 --weight-bits 9", 2, "argument --weight-bits: invalid choice: 9"),
    ("quantize HF3 --calibration bogus", 2, "argument --calibration: unknown calibration "
                                             "method 'bogus'; choose one of brevitas, mse, "
                                             "percentile"),
    ("train HF3 --calibration MSE", 2, "argument --calibration: unknown calibration method"),
    ("quantize HF3 --diagnose 0", 2, "argument --diagnose: '0' is not allowed"),
    ("ncs --qat-epochs -1 --plan", 2, "argument --qat-epochs: '-1' is not allowed"),
    ("ncs --calibration max --plan", 2, "argument --calibration: unknown calibration method"),
    ("train HF3 --bias-correction global", 2, "argument --bias-correction: unknown bias "
     "correction 'global'; choose one of none, local, float"),
    ("train HF3 --batch 0", 2, "argument --batch: '0' is not allowed: expected a positive "
                               "integer"),
    ("rtl --out {file}", 2, "argument --out: {file} is an existing file"),
    ("hw-sim HF3 --report-dir {file}", 2, "argument --report-dir: {file} is an existing file"),
    # --- accepted without complaint
    ("synth --jobs 0", 2, "argument --jobs: '0' is not allowed"),
    ("synth --jobs -1", 2, "argument --jobs: '-1' is not allowed"),
    ("train HF3 --epochs -1", 2, "argument --epochs: '-1' is not allowed: expected an integer "
                                 ">= 0"),
    ("train HF3 --resolution 0", 2, "argument --resolution: '0' is not allowed"),
    ("check-reference --onnx {ok} --images 100000 --data digits", 0,
     "--images 100000: digits has 360 validation images; using 360"),
    ("ncs --backend bogus --plan", 2, "argument --backend: unknown backend 'bogus'; choose one "
                                      "of local, ray"),
    # --- late or wrong messages
    ("check-reference --onnx {empty_onnx}", 2, "{empty_onnx} is empty (0 bytes), not an ONNX "
                                               "file"),
    ("check-reference --onnx {dir_onnx}", 2, "{dir_onnx} is a directory, not an ONNX file"),
    ("synth --family bogus --target xilinx", 2, "argument --family: invalid choice: 'bogus'"),
    ("regs --format yaml", 2, "argument --format: invalid choice: 'yaml'"),
    ("hw-sim HF3 --stall 100", 2, "argument --stall: '100' is not allowed"),
    # --- hardware limits, found before anything expensive
    ("check-reference --onnx {dw7}", 0, "hardware: does not fit default: layer dw.Q: depthwise "
                                        "kernel 7x7 not supported by default (dw_kernels"),
    ("check-reference --onnx {act2}", 0, "hardware: does not fit default: layer stem_act2.Q: a "
                                         "standalone act is not supported"),
    ("check-reference --onnx {dw7} --hw default,dw_kernels=3:5:7", 0, "hardware: fits "
                                                                      "default-dw_kernels3_5_7"),
    ("check-reference --onnx {rect} --images 2", 0, "PASS: 7 quantized tensors x 2 image(s)"),
    ("hw-sim --onnx {dw7}", 2, "does not fit default: layer dw.Q: depthwise kernel 7x7"),
    ("hw-sim --onnx {act2} --hw small", 2, "(ONNX nodes stem_act2.Relu, stem_act2.Q)"),
    ("report --onnx {act2} --report-dir {tmp}/r", 2, "does not fit default: layer stem_act2.Q"),
    # --- hardware configs
    ("hw-sim HF3 --hw nosuch", 2, "argument --hw: unknown hardware preset 'nosuch'"),
    ("hw-sim HF3 --hw default,ub_kib=abc", 2, "hardware override 'ub_kib=abc': 'abc' is not an "
                                              "integer"),
    ("hw-sim HF3 --hw default,foo=1", 2, "hardware override 'foo=1': expected field=value"),
    ("check-reference HF3 --hw default,ub_kib=3", 2, "ub_kib must be a power of two"),
    ("report HF3 --hw {missing}.json", 2, "hardware config file {missing}.json does not exist"),
    ("lint --hw bogus", 2, "argument --hw: unknown hardware preset 'bogus'"),
    # --- models and their files
    ("models nope", 2, "unknown model 'nope'; valid names: b0"),
    ("quantize elite0", 2, "model elite0: block 0 feature map is 112x112 = 12544 pixels"),
    ("quantize --w 0.25 --d 0.3 --res 100", 2, "block 0 feature map is 50x50 = 2500 pixels"),
    ("quantize --out {file} HF3", 2, "argument --out: {file} is an existing file"),
    ("rtl --out {file}/sub", 2, "{file} is a file, so nothing can be written below it"),
    ("hw-sim --onnx {ok} HF3", 2, "--onnx names the model already"),
    ("hw-sim --checkpoint {missing}.pt", 2, "argument --checkpoint: {missing}.pt does not exist"),
    ("check-reference --onnx {missing}.onnx", 2, "{missing}.onnx does not exist"),
    ("check-reference --onnx {file}", 2, "expected a name ending in .onnx"),
    ("check-reference --onnx {junk_onnx}", 2, "cannot read ONNX file"),
    ("check-reference --onnx {scale}", 2, "node 'stem.Q' (QuantizeLinear): scale 0.00999999978 "
                                          "is not a power of two"),
    ("check-reference HF3 --calib-images 0", 2, "argument --calib-images: '0' is not allowed"),
    ("check-reference HF3 --calib-data nowhere", 2, "'nowhere' is neither a known data set nor "
                                                    "an existing folder"),
    ("check-reference --onnx {ok} --data {file}", 2, "argument --data: '{file}' is a file"),
    ("check-reference HF3 --images 0", 2, "argument --images: '0' is not allowed"),
    ("check-reference HF3 --seed -1", 2, "argument --seed: '-1' is not allowed"),
    ("models --w 0 --d 1 --res 64", 2, "expected a width coefficient w in (0, 1]"),
    ("models --w 1 --d 0 --res 64", 2, "argument --d: '0' is not allowed: expected a positive "
                                       "number"),
    ("models --w 1 --d 1 --res -3", 2, "argument --res: '-3' is not allowed"),
    ("models --w 1 --d 1", 2, "a model by coefficients needs --res as well"),
    ("bogus-command", 2, "argument COMMAND: invalid choice: 'bogus-command'"),
    # --- reports and sweeps
    ("report HF3 --measured {missing}.json", 2, "argument --measured: {missing}.json does not "
                                                "exist"),
    ("report HF3 --measured {list_json} --analytic", 2, "argument --analytic: not allowed with "
                                                        "argument --measured"),
    ("sweep --lanes eight", 2, "expected comma-separated integers, got 'eight'"),
    ("sweep --lanes 0,8", 2, "expected comma-separated positive integers"),
    ("sweep --mac-bytes 0", 2, "argument --mac-bytes: '0' is not allowed"),
    ("sweep HF3 hf9 --out {tmp}/s", 2, "unknown model 'hf9'"),
    ("sweep HF3 --lanes 12 --out {tmp}/s", 2, "no valid config in the grid"),
    # --- synthesis
    ("synth --target asic", 2, "argument --target: invalid choice: 'asic'"),
    ("synth --family xcup", 2, "--family xcup applies to --target xilinx only, not generic"),
    ("synth --timeout 0", 2, "argument --timeout: '0' is not allowed: expected a positive "
                             "number"),
    ("synth --timeout soon", 2, "argument --timeout: 'soon' is not allowed"),
    ("synth --hw {bad_json}", 2, "is not valid JSON"),
    # --- place and route (all stop before any tool runs)
    ("pnr --part 99k", 2, "argument --part: invalid choice: '99k'"),
    ("pnr --package TQFP144", 2, "the ECP5 85k does not come in package 'TQFP144'; packages: "
                                 "CABGA381"),
    ("pnr --freq 0", 2, "argument --freq: '0' is not allowed"),
    ("pnr --freq 900", 2, "--freq must be a target clock in MHz from 1 to 500, got 900"),
    ("pnr --seed -1", 2, "argument --seed: '-1' is not allowed"),
    ("pnr --hw default", 2, "default does not fit the ECP5 85k: its 32x32 PE array needs 1024 "
                            "multipliers, the part has 156 MULT18X18D; use --hw ecp5"),
    ("pnr --part 25k", 2, "ecp5 does not fit the ECP5 25k: its 8x8 PE array needs 64 "
                          "multipliers, the part has 28 MULT18X18D; use a larger --part"),
    ("pnr --hw ecp5,ub_kib=256", 2, "its 256 KiB UB in two read-port copies needs 256 EBRs"),
    ("pnr --nextpnr-args=--seed=3", 2, "--nextpnr-args must not set --seed: use hfaccel pnr's "
                                       "--seed"),
    ("pnr --nextpnr-args=--placer=sa", 2, "--nextpnr-args must not set --placer: use hfaccel "
                                          "pnr's --placer"),
    ("pnr --placer analytic", 2, "argument --placer: invalid choice: 'analytic'"),
    ("pnr --nextpnr-args=--json=x.json", 2, "--nextpnr-args must not set --json: the flow "
                                            "writes it itself"),
    # --- training
    ("train HF3 --lr 0", 2, "argument --lr: '0' is not allowed"),
    ("train HF3 --lr nan", 2, "argument --lr: 'nan' is not allowed"),
    ("train HF3 --qat-epochs -2", 2, "argument --qat-epochs: '-2' is not allowed"),
    ("train HF3 --limit 0", 2, "argument --limit: '0' is not allowed"),
    ("train HF3 --data nowhere", 2, "argument --data: 'nowhere' is neither a known data set"),
    ("train HF3 --out {tmp}", 2, "argument --out: {tmp} is a folder; give a file name"),
    ("train elite0 --resolution 24 --epochs 0 --qat-epochs 0 --limit 8 --val-limit 8 --out "
     "{tmp}/e.pt", 0, "note: model elite0: block 0 feature map is 12x12 = 144 pixels"),
    # --- network candidate search
    ("ncs --pool resnet --plan", 2, "argument --pool: unknown pool 'resnet'; choose one of "
                                    "elite, hf"),
    ("ncs --criterion median --plan", 2, "unknown criterion 'median'"),
    ("ncs --group-size 1 --plan", 2, "argument --group-size: '1' is not allowed: expected an "
                                     "integer >= 2"),
    ("ncs --max-resolution 4 --plan", 2, "argument --max-resolution: '4' is not allowed: "
                                         "expected an integer >= 8"),
    ("ncs --threads 0 --plan", 2, "argument --threads: '0' is not allowed"),
    ("ncs --epochs 0 --plan", 2, "argument --epochs: '0' is not allowed"),
    ("ncs --plan --analyze {file}", 2, "argument --analyze: not allowed with argument --plan"),
    ("ncs --analyze {missing}", 2, "argument --analyze: {missing} does not exist"),
    ("ncs --base {missing}.json --plan", 2, "argument --base: {missing}.json does not exist"),
    ("ncs --out {file} --plan", 2, "argument --out: {file} is an existing file"),
    # --- hfaccel run (the host runtime on the RTL simulator): refused before any build
    ("run --onnx {ok} --base 0x3", 2, "--base: base address 0x3 must be a bus address >= 0 "
                                      "aligned to the bus width (16 bytes): use a multiple of 16"),
    ("run --onnx {ok} --base abc", 2, "argument --base: 'abc' is not allowed: expected a bus "
                                      "address"),
    ("run --onnx {ok} --base -8", 2, "argument --base: '-8' is not allowed"),
    ("run --onnx {b2} --images 1", 2, "has a fixed batch of 2"),
    ("run --onnx {dw7} --hw default", 2, "does not fit default: layer dw.Q: depthwise kernel"),
    ("run --onnx {ok} --sim ghdl", 2, "argument --sim: invalid choice: 'ghdl'"),
    ("run --onnx {ok} --stall 100", 2, "argument --stall: '100' is not allowed"),
    ("run --onnx {ok} --hw small,axi_addr_bits=16 --base 0xfff0", 2, "--base: the program at "
     "base 0xfff0"),
    ("run --onnx {ok} --hw small,axi_addr_bits=16 --base 0xfff0", 2, "does not fit the "
     "device's 16-bit AXI addresses (axi_addr_bits)"),
    ("regs --hw small,axi_addr_bits=8", 2, "axi_addr_bits must be from 12 to 64, got 8"),
    ("regs --hw small,axi_id_bits=0", 2, "axi_id_bits must be from 1 to 16, got 0"),
    ("regs --hw small,shared_tables=2", 2, "shared_tables must be 0 (a table copy per lane"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad")
    f = {"tmp": d, "ok": tiny_qcdq(d / "ok.onnx"), "b2": tiny_qcdq(d / "b2.onnx", batch=2),
         "dw7": tiny_qcdq(d / "dw7.onnx", dw_kernel=7),
         "act2": tiny_qcdq(d / "act2.onnx", double_act=True),
         "rect": tiny_qcdq(d / "rect.onnx", hw=(8, 16)),
         "scale": tiny_qcdq(d / "scale.onnx", stem_scale=0.01),
         "empty_onnx": d / "empty.onnx", "dir_onnx": d / "dir.onnx", "junk_onnx": d / "junk.onnx",
         "bad_json": d / "bad.json", "list_json": d / "list.json",
         "str_lanes_json": d / "lanes.json", "file": d / "a-file", "missing": d / "missing"}
    f["empty_onnx"].write_bytes(b"")
    f["dir_onnx"].mkdir()
    f["junk_onnx"].write_text("not onnx at all")
    f["bad_json"].write_text("{bad")
    f["list_json"].write_text("[1, 2]")
    f["str_lanes_json"].write_text(json.dumps({"lanes": "32"}))
    f["file"].write_text("x")
    return {k: str(v) for k, v in f.items()}


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("line, code, fragment", BAD_INPUTS,
                         ids=[r[0][:60] for r in BAD_INPUTS])
def test_bad_input(line, code, fragment, files, capsys):
    argv = [a.format(**files) for a in line.split()]
    fragment = fragment.format(**files)
    got, out, err = run_cli(argv, capsys)
    assert "Traceback" not in err + out
    assert got == code, (got, out[-2000:], err[-2000:])
    if code == 2:
        assert fragment in err, err
        assert len(err.strip().splitlines()) == 1, err  # one line, no usage dump
        assert err.startswith("hfaccel"), err
    else:
        assert fragment in out + err, out[-3000:] + err[-2000:]


def test_the_table_covers_every_reported_case():
    """The 16 kinds of input of issue 18 each have a row (plus what grew around them)."""
    lines = [r[0] for r in BAD_INPUTS]
    for needle in ("{b2} --images 1", "--hw {bad_json}", "--hw {list_json}", "--deployment bogus",
                   "--batch 0", "rtl --out {file}", "--report-dir {file}", "--jobs 0",
                   "--jobs -1", "--epochs -1", "--resolution 0", "--images 100000",
                   "--backend bogus", "{empty_onnx}", "{dir_onnx}", "--family bogus",
                   "{dw7}", "{act2}", "{rect}"):
        assert any(needle in ln for ln in lines), needle
    assert len(BAD_INPUTS) >= 70


def test_a_capped_request_prints_a_summary_not_360_numbers(files, capsys):
    code, out, _ = run_cli(["check-reference", "--onnx", files["ok"], "--images", "100000",
                            "--data", "digits"], capsys)
    assert code == 0
    assert "top-1: reference equal to onnxruntime on 360/360 images" in out
    assert max(len(ln) for ln in out.splitlines()) < 400


# ------------------------------------------------------------------------------ make variables
MAKE_CASES = [
    ("hw-sim IMAGES=abc", "IMAGES=abc: expected a positive integer"),
    ("hw-sim IMAGES=0", "IMAGES=0: expected a positive integer"),
    ("hw-sim SIM=modelsim", "SIM=modelsim: expected verilator or icarus"),
    ("synth TARGET=asic", "TARGET=asic: expected generic, xilinx, ice40 or ecp5"),
    ("hw-sim HW=hu/ge", "HW=hu/ge: expected a preset (make help lists them) or a config .json"),
    ("hw-sim WEIGHT_BITS=9", "WEIGHT_BITS=9: expected 2 to 8"),
    ("hw-sim HW=nope.json", "HW=nope.json: nope.json is not an existing config file"),
    ("hw-sim MDOEL=HF3", "unknown variable MDOEL"),
    ("hw-sim MODEL=", "MODEL='': expected one model name"),
    ("hw-sim ONNX=nope.onnx", "ONNX=nope.onnx: not an existing file"),
    ("hw-sim ONNX=Makefile MODEL=HF3", "give MODEL or ONNX, not both"),
    ("hw-sim WAVES=yes", "WAVES=yes: expected WAVES=1"),
    ("pnr PNR_ARG=--seed", "unknown variable PNR_ARG"),
]


def _make(args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-n", *args.split()], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, fragment", MAKE_CASES, ids=[c[0] for c in MAKE_CASES])
def test_bad_make_variable_stops_with_one_line(args, fragment):
    r = _make(args)
    assert r.returncode != 0
    err = r.stderr.strip()
    assert fragment in err and len(err.splitlines()) == 1, err
    assert "hfaccel" not in r.stdout  # stopped before any recipe


def test_make_images_default_per_target():
    """IMAGES left out: check-reference checks 2 images (its recipe's default), hw-sim 1."""
    assert "check-reference HF3 --hw default --images 2" in _make("check-reference").stdout
    assert "--images 1" in _make("hw-sim").stdout
    r = _make("hw-sim IMAGES=3 HW=small,ub_kib=64 SIM=icarus")
    assert "--hw small,ub_kib=64 --sim icarus --images 3" in r.stdout, r.stderr


def test_make_pnr_defaults_to_the_ecp5_preset():
    """HW left out: `make pnr` places the preset that fits the ECP5-85k, not `default`."""
    assert "pnr --hw ecp5" in _make("pnr").stdout
    assert "pnr --hw small --seed 3" in _make("pnr HW=small PNR_ARGS=--seed=3").stdout.replace(
        "--seed=3", "--seed 3")


# ------------------------------------------------------------------------------ help
def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_option_has_help_and_shows_its_default():
    for name, p in _subparsers().items():
        text = p.format_help()
        assert "examples:" in text or "example:" in text, name
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help, f"{name} {a.option_strings or a.dest}: no help"
            if a.option_strings and a.default not in (None, False):
                assert "(default" in p._get_formatter()._get_help_string(a), \
                    f"{name} {a.option_strings}: default not shown"


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_help_exits_0(name, capsys):
    assert main([name, "--help"]) == 0
    assert "usage: hfaccel " + name in capsys.readouterr().out


def test_hw_help_mentions_overrides(capsys):
    main(["hw-sim", "--help"])
    assert ",field=value" in capsys.readouterr().out


def test_command_literals_follow_the_library():
    """Choices kept as literals in the commands (to keep --help light) equal the library's."""

    from hfaccel.commands import args, ncs, quant, synth
    from hfaccel.ncs.backends import BACKENDS
    from hfaccel.ncs.criteria import CRITERIA
    from hfaccel.ncs.pool import POOL_KINDS
    from hfaccel.ncs.search import MIN_RESOLUTION
    from hfaccel.quant.data import DATASETS
    from hfaccel.quant.defaults import BIAS_CORRECTIONS, CALIBRATION_METHODS
    from hfaccel.quant.ort import DEPLOYMENTS
    from hfaccel.rtl.synth import FAMILIES

    assert synth.FAMILIES == FAMILIES and args.DATASETS == DATASETS
    assert args.CALIBRATION_METHODS == CALIBRATION_METHODS
    assert args.BIAS_CORRECTIONS == BIAS_CORRECTIONS
    assert ncs.BACKENDS == BACKENDS and ncs.POOLS == POOL_KINDS
    assert ncs.CRITERIA == tuple(CRITERIA) and ncs.MIN_RESOLUTION == MIN_RESOLUTION
    assert set(quant.DEPLOYMENT_CHOICES) == set(DEPLOYMENTS) | {"none"}


# ------------------------------------------------------------------------------ capability
def test_fit_names_layer_nodes_and_limit(files):
    from hfaccel.accel.capability import check_fit, require_fit
    from hfaccel.accel.compiler import CompileError
    from hfaccel.accel.config import DEFAULT, get_preset
    from hfaccel.quant.ir import lower

    ok = check_fit(lower(files["ok"]), DEFAULT)
    assert ok.ok and ok.ops == 4 and ok.program is not None
    assert ok.line().startswith("fits default: 4 hardware operations")
    bad = check_fit(lower(files["dw7"]), DEFAULT)
    assert not bad.ok and bad.layer == "dw.Q" and bad.nodes == ("dw.Conv", "dw.Q")
    assert "dw_kernels (3, 5)" in bad.reason
    assert check_fit(lower(files["dw7"]), get_preset("default,dw_kernels=3:5:7")).ok
    with pytest.raises(CompileError, match="m does not fit default: layer stem_act2.Q"):
        require_fit(lower(files["act2"]), DEFAULT, "m")


def test_lower_names_a_directory_and_an_empty_file(files):
    from hfaccel.quant.ir import OnnxError, lower

    with pytest.raises(OnnxError, match="is a directory"):
        lower(files["dir_onnx"])
    with pytest.raises(OnnxError, match="holds no graph"):
        lower(files["empty_onnx"])
    assert lower(files["b2"]).batch == 2 and lower(files["ok"]).batch is None


def test_a_non_square_model_runs_bit_exact_in_rtl(files, tmp_path):
    """Non-square inputs are no hardware limit: 8x16 on `small`, every layer 0 LSB."""
    import numpy as np

    from hfaccel.accel.compiler import compile_graph
    from hfaccel.accel.config import SMALL
    from hfaccel.quant.ir import lower
    from hfaccel.quant.reference import run_reference
    from hfaccel.sim.hwsim import compare, run_rtl

    g = lower(files["rect"])
    x = np.random.default_rng(0).uniform(-1, 1, size=(1, 3, 8, 16)).astype(np.float32)
    ref = run_reference(g, x)
    prog = compile_graph(g, SMALL)
    res = run_rtl(prog, ref["input.q"][0], sim="verilator", work=tmp_path, log=lambda *_: None)
    rows = compare(prog, Path(res["files"]["trace"]), {k: v[0] for k, v in ref.items()})
    assert res["status"] == 0 and rows and all(r.bit_exact for r in rows), rows


# ------------------------------------------------------------------------------ progress
def test_progress_is_quiet_off_a_terminal(monkeypatch):
    from hfaccel.progress import Progress

    monkeypatch.delenv("HFACCEL_PROGRESS", raising=False)
    assert not Progress.auto().enabled  # pytest's stderr is not a terminal
    monkeypatch.setenv("HFACCEL_PROGRESS", "1")
    assert Progress.auto().enabled
    monkeypatch.setenv("HFACCEL_PROGRESS", "0")
    assert not Progress.auto().enabled


def test_progress_bars_and_timer(capsys):
    from hfaccel.progress import NO_PROGRESS, Progress

    assert list(NO_PROGRESS.iter(range(3), "x", 3)) == [0, 1, 2]
    with NO_PROGRESS.timer("quiet", status=lambda: (1, 2, "x")) as b:
        b.update(1)
    assert capsys.readouterr().err == ""
    p = Progress(True)
    assert list(p.iter(range(4), "count", 4, "batch")) == [0, 1, 2, 3]
    state = {"n": 0}
    with p.timer("build", status=lambda: (state["n"], 5, "compiling"), unit="objects",
                 interval=0.05):
        state["n"] = 5
        threading.Event().wait(0.2)
    err = capsys.readouterr().err
    assert "count: 100%" in err and "4/4" in err
    assert "build" in err and "5/5" in err and "compiling" in err


def test_rtl_progress_ends_complete_on_a_short_run(files, tmp_path, capsys):
    """The bar reads the perf records once more after the run: a short run ends at n/n."""
    from hfaccel.accel.compiler import compile_graph
    from hfaccel.accel.config import SMALL
    from hfaccel.progress import Progress
    from hfaccel.quant.ir import lower
    from hfaccel.sim.hwsim import _watch_progress

    prog = compile_graph(lower(files["ok"]), SMALL)
    perf = tmp_path / "perf.txt"
    n = len(prog.computes)
    perf.write_text("".join(f"{prog.ops[min(i, len(prog.ops) - 1)].index} {10 * (i + 1)} 0 5 5\n"
                            for i in range(n)))
    stop = threading.Event()
    stop.set()  # the run is over before the first look
    _watch_progress(prog, perf, stop, Progress(True))
    assert f"{n}/{n}" in capsys.readouterr().err


def test_verilator_build_status(tmp_path):
    """Phase, then objects compiled of the classes Verilator listed (+ the testbench main)."""
    from hfaccel.sim.hwsim import _verilator_status

    assert _verilator_status(tmp_path, 0)[2].startswith("verilating")
    (tmp_path / "Vtop_classes.mk").write_text("VM_CLASSES_FAST += \\\n  Vtop \\\n  Vtop__0 \\\n"
                                              "\nVM_GLOBAL_FAST += \\\n  verilated \\\n")
    (tmp_path / "Vtop.o").write_bytes(b"")
    assert _verilator_status(tmp_path, 0) == (1, 4, "compiling C++")


# ------------------------------------------------------------------------------ start-up
HEAVY = ("torch", "onnx", "onnxruntime", "amaranth", "brevitas", "numpy", "cocotb")


@pytest.mark.parametrize("argv", [["models"], ["models", "HF3", "--stages"],
                                  *([c, "--help"] for c in sorted(_subparsers()))],
                         ids=lambda a: " ".join(a))
def test_help_and_models_import_no_heavy_library(argv):
    """Every command's --help, and the zoo table, run without torch, onnx, amaranth, numpy."""
    import sys

    code = ("import sys; from hfaccel.cli import main\n"
            "main(sys.argv[1:])\n"
            f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                       timeout=120)
    assert "HEAVY []" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]


def test_an_unwritable_path_is_one_line(monkeypatch, capsys):
    """A permission error (a folder the user cannot write) is the user's to fix: one line."""
    from hfaccel.commands import models

    def denied(args):
        raise PermissionError(13, "Permission denied", "/root/out")

    monkeypatch.setattr(models, "cmd_models", denied)
    code, _, err = run_cli(["models"], capsys)
    assert code == 2 and err.strip() == "hfaccel models: error: Permission denied: /root/out"
