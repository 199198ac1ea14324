#!/usr/bin/env bash
# Install the system packages hfaccel needs, only those that are missing (idempotent).
#   iverilog               Icarus Verilog, the second RTL simulator (cocotb)
#   yosys                  synthesis (Amaranth's bundled yosys can emit Verilog but not synthesize)
#   dataset-fashion-mnist  offline training/calibration data in /usr/share/datasets/fashion-mnist
#   qemu-user              (x86-64 hosts) qemu-x86_64 -cpu Haswell-v4 runs the tests' Python on an
#                          emulated AVX2 CPU without VNNI, where onnxruntime's fused int8 kernels
#                          saturate (tests/test_golden.py; docs/numerics.md)
set -euo pipefail

missing=()
command -v iverilog >/dev/null 2>&1 || missing+=(iverilog)
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
if [ "$(uname -m)" = x86_64 ]; then
    command -v qemu-x86_64 >/dev/null 2>&1 || missing+=(qemu-user)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing system packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "setup: need root (or sudo) to apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
