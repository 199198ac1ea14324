"""The cocotb side of the arithmetic unit checks (:mod:`support.unit_tb`).

Reads the vectors (unsigned port values) from the JSON file named by ``UNITS_VECTORS``, applies
each to the combinational wrapper, waits 1 ns, reads every output port and writes the raw
values to ``UNITS_RESULT``. The comparison with the golden model happens in the test, in
Python, so that Amaranth's simulator and both HDL simulators are judged by the same code.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.triggers import Timer


@cocotb.test()
async def apply_vectors(dut):
    spec = json.loads(open(os.environ["UNITS_VECTORS"]).read())
    outs = spec["outputs"]
    got = []
    for vec in spec["inputs"]:
        for name, val in vec.items():
            getattr(dut, name).value = val
        await Timer(1, unit="ns")
        got.append({n: getattr(dut, n).value.to_unsigned() for n in outs})
    with open(os.environ["UNITS_RESULT"], "w") as f:
        json.dump(got, f)
