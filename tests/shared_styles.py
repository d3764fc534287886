"""Where the tests find the public-domain paintings (`../shared/styles`, or
PICASSO_SHARED_STYLES). Missing files mean a broken checkout: tests fail, they never skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_STYLES = Path(os.environ.get("PICASSO_SHARED_STYLES", REPO.parent / "shared" / "styles"))


def shared_styles_dir(*paintings: str) -> Path:
    """The shared folder, after checking it holds SOURCES.md and `<painting>.jpg` for each name."""
    needed = ["SOURCES.md", *(f"{name}.jpg" for name in paintings)]
    missing = [name for name in needed if not (SHARED_STYLES / name).is_file()]
    if missing:
        pytest.fail(
            f"shared styles folder {SHARED_STYLES} lacks {', '.join(missing)}; "
            "set PICASSO_SHARED_STYLES to its location"
        )
    return SHARED_STYLES


def run_bench(
    module: str, args: list[str], cwd: Path, paintings: tuple[str, ...], **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>` of the repo (a bench script) with the shared paintings as
    STYLES_DIR; fails the test if the paintings are missing."""
    environment = {
        **os.environ,
        "STYLES_DIR": str(shared_styles_dir(*paintings)),
        "PYTHONPATH": str(REPO),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=280,
    )
