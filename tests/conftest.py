"""Test-only helpers live in ``tests/support`` (not shipped): make ``import support`` work.

cocotb's runner passes ``sys.path`` on to the simulator, so the unit benches' cocotb modules
(``support.unit_cocotb``) are found there too.
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
