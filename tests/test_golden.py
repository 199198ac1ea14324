"""The golden onnxruntime session is the same on every CPU; deployments are reported, not judged.

onnxruntime's optimized session runs uint8 x int8 kernels that, on x86 CPUs without VNNI, add
pairs of products in int16 with saturation. A 1x1 conv with weights +-127 on inputs near 1
(uint8 codes near 255 after onnxruntime's uint8 rewrite) overflows there. The bit-exact verdict
must not depend on it: it compares with the golden session only. Where ``qemu-x86_64`` is
installed (Debian's ``qemu-user``, see tools/setup-system.sh), the same checks run on an
emulated Haswell (AVX2 and FMA, no AVX-512, no VNNI), where the saturation is real.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hfaccel.quant.check import check_reference
from hfaccel.quant.ir import lower
from hfaccel.quant.ort import DEPLOYMENTS, GOLDEN, OrtConfig, session, u8s8_probe_model


def _near_one(n: int = 4, channels: int = 16, size: int = 4) -> np.ndarray:
    """Inputs whose int8 codes are 100..127: uint8 codes 228..255 after the rewrite."""
    rng = np.random.default_rng(0)
    return (rng.integers(100, 128, (n, channels, size, size)) / 128).astype(np.float32)


def _check(weight: int, deployment: str):
    m = u8s8_probe_model(weight=weight)
    return check_reference(m, lower(m), _near_one(), DEPLOYMENTS[deployment])


def test_probe_is_within_the_contract_and_its_sums_need_more_than_int16():
    g = lower(u8s8_probe_model())
    conv = g.layers[1]
    assert conv.op == "conv" and int(np.abs(conv.weight).min()) == 127
    # 2 * 255 * 127 = 64770: one pair of uint8 x int8 products already exceeds int16
    assert 2 * 255 * 127 > 32767 >= 2 * 255 * 64
    ref = check_reference(u8s8_probe_model(), g, _near_one(), None)
    assert ref.bit_exact and ref.deployment is None


def test_verdict_does_not_depend_on_the_fused_path():
    """With the uint8 rewrite forced on (u8) or off (s8) the verdict and every LSB are equal."""
    u8, s8 = _check(127, "u8"), _check(127, "s8")
    assert u8.bit_exact and s8.bit_exact, (u8.verdict(), s8.verdict())
    assert u8.verdict() == s8.verdict() and u8.max_diff == s8.max_diff
    assert "ORT_DISABLE_ALL" in u8.verdict()
    for res in (u8, s8):
        d = res.deployment
        assert "not part of the verdict" in d.line() and d.cpu.u8s8_exact is not None
        # where the probe finds exact kernels, the deployment agrees; where it finds
        # saturation (a CPU without VNNI), the disagreement is reported, not failed
        assert d.exact == d.cpu.u8s8_exact, d.line()


def test_golden_session_ignores_deployment_options():
    """ORT_DISABLE_ALL runs no transformer, so the rewrite options cannot change its result."""
    m = u8s8_probe_model()
    x = _near_one()
    want = session(m, GOLDEN).run(None, {"input": x})[0]
    for cfg in DEPLOYMENTS.values():
        forced = OrtConfig("golden+" + cfg.name, GOLDEN.level, cfg.entries)
        assert np.array_equal(session(m, forced).run(None, {"input": x})[0], want)


QEMU = shutil.which("qemu-x86_64")
EMULATED = ["-cpu", "Haswell-v4"]  # AVX2 + FMA, no AVX-512, no VNNI: MLAS picks its AVX2 kernels

_SCRIPT = """
import json
from tests.test_golden import _check
out = {}
for weight in (127, 64):
    for dep in ("default", "u8", "s8", "x64precision"):
        r = _check(weight, dep)
        d = r.deployment
        out[f"{weight}/{dep}"] = {"bit_exact": r.bit_exact, "verdict": r.verdict(),
                                  "max_diff": r.max_diff, "identical": d.identical,
                                  "images": d.images, "probe": d.cpu.u8s8_exact,
                                  "features": list(d.cpu.features), "line": d.line()}
print("RESULT " + json.dumps(out))
"""


@pytest.mark.skipif(not QEMU or platform.machine() != "x86_64",
                    reason="needs qemu-x86_64 (Debian qemu-user) on an x86-64 host")
def test_emulated_avx2_without_vnni_reports_disagreement_and_passes(tmp_path):
    """On an emulated Haswell the fused path really saturates: the verdict is still PASS (and
    equal to the host's), the deployment line reports the disagreement, and 7-bit weights
    (|w| <= 64) or session.x64quantprecision=1 make the deployment exact."""
    proc = subprocess.run([QEMU, *EMULATED, sys.executable, "-c", _SCRIPT], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(_repo_root())})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stderr[-2000:]
    res = json.loads(line[len("RESULT "):])
    host = _check(127, "u8")
    for key, r in res.items():
        assert r["bit_exact"], (key, r["verdict"])
        assert r["verdict"] == host.verdict() and r["max_diff"] == host.max_diff, key
        assert "avx2" in r["features"] and "avx512_vnni" not in r["features"], r["features"]
    for dep in ("default", "u8"):  # saturating uint8 x int8 kernels, found and reported
        r = res[f"127/{dep}"]
        assert r["probe"] is False and r["identical"] < r["images"], r["line"]
        assert "SATURATE" in r["line"] and "--weight-bits 7" in r["line"]
        assert res[f"64/{dep}"]["identical"] == res[f"64/{dep}"]["images"], res[f"64/{dep}"]
    for dep in ("s8", "x64precision"):
        assert res[f"127/{dep}"]["identical"] == res[f"127/{dep}"]["images"], res[f"127/{dep}"]


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
