"""How the engine's CPU threads wait for each other.

torch runs its CPU kernels on an OpenMP pool (GNU libgomp in the PyPI wheels) whose threads,
by default, spin while they wait at the end of each parallel region. That is fine on an idle
machine, but painting shares the CPU with the bot, the database and whatever else runs there:
a spinning thread burns the core its partner needs, and a 32 px job measured 166 s instead of
10 s on a busy 2-core machine (bench/RESULTS.md). Passive waiting (sleep at once) avoids that
collapse. libgomp reads the policy when it is loaded, i.e. at the first `import torch`, so
`engine/__init__.py` applies it before anything imports torch. An owner's own
OMP_WAIT_POLICY wins.
"""

from __future__ import annotations

import os
import sys


def prefer_passive_waits() -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE unless it is set; False if torch was imported already (then
    it is too late for this process)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules
