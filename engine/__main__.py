"""`python -m engine [worker | stylize | styles ...]`; bare or `worker` runs the job worker.

engine.cli parses the command line and hands `worker` to engine.painter.worker.main.
"""

from __future__ import annotations

import sys

from engine.cli import main

if __name__ == "__main__":
    sys.exit(main())
