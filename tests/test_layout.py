"""The layout's rules (docs/layout.md): one import direction between stages, ruff clean, a fast
CLI start, and a package that works without the source tree (hw-sim's testbench is package data).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _stage_tree(dst: Path) -> Path:
    """The ``hfaccel`` package as it installs (``package-dir`` applied), made of copies.

    import-linter (grimp) walks the package's folder on disk; the repository's folders map to
    sub-packages only through setuptools' import finder, so the check runs on this copy."""
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    for pkg, folder in dirs.items():
        out = dst.joinpath(*pkg.split("."))
        out.mkdir(parents=True, exist_ok=True)
        for f in (ROOT / folder).glob("*.py"):
            shutil.copy(f, out / f.name)
    return dst


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    # run from the copy: the repository's own hfaccel/ folder must not shadow it
    return subprocess.run([str(BIN / "lint-imports"), str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": str(BIN)},
                          capture_output=True, text=True, timeout=300)


def test_stages_import_only_earlier_stages(tmp_path):
    r = _lint_imports(_stage_tree(tmp_path))
    assert r.returncode == 0 and "1 kept, 0 broken" in r.stdout, r.stdout[-3000:] + r.stderr


def test_a_backward_import_breaks_the_contract(tmp_path):
    """The contract is not vacuous: quant importing the compiler (a later stage) is caught."""
    tree = _stage_tree(tmp_path)
    ref = tree / "hfaccel" / "quant" / "reference.py"
    ref.write_text(ref.read_text() + "\nfrom hfaccel.accel import compiler  # noqa\n")
    r = _lint_imports(tree)
    assert r.returncode != 0
    assert "hfaccel.quant.reference -> hfaccel.accel.compiler" in r.stdout


def test_ruff_clean():
    r = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:]


@pytest.mark.parametrize("argv", [["--help"], ["models", "--help"], ["hw-sim", "--help"]])
def test_cli_help_imports_no_heavy_library(argv):
    """``hfaccel --help`` builds every parser: no torch, onnx, amaranth or numpy on that path."""
    code = ("import sys; from hfaccel.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torch', 'onnx', 'onnxruntime', 'amaranth', 'brevitas', 'numpy', 'cocotb'})\n"
            "print('HEAVY', heavy)")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                       timeout=120)
    assert "HEAVY []" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]


def test_testbench_is_package_data():
    """A non-editable install carries sim/tb/tb_top.v (hw-sim builds the simulator from it)."""
    from hfaccel.sim.hwsim import TB

    assert TB.exists()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert "tb/*.v" in data["hfaccel.sim"]


def test_test_generators_are_not_shipped():
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    shipped = {f.name for d in dirs.values() for f in (ROOT / d).glob("*.py")}
    assert not shipped & {"netgen.py", "layergen.py", "unit_tb.py", "unit_cocotb.py"}


def test_command_constants_follow_the_library():
    """The CLI keeps a few defaults as literals (to stay light); they must equal the library's."""
    from hfaccel.accel.report import MAC_BYTES
    from hfaccel.commands import report, synth
    from hfaccel.rtl.synth import TARGETS

    assert report.MAC_BYTES == MAC_BYTES
    assert synth.TARGETS == TARGETS
