"""The architecture's promises: the bot never loads torch, the engine never loads telegram,
and the shared modules (job table, catalogue, media) load neither."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(package: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("bot", {"torch", "torchvision"}), ("engine", {"telegram"}), ("jobs", {"torch", "telegram"}),
     ("styles", {"torch", "telegram"}), ("media", {"torch", "torchvision", "telegram"})],
)  # fmt: skip
def test_source_never_imports_the_other_side(package: str, forbidden: set[str]) -> None:
    assert _imported_modules(package) & forbidden == set()


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        (["bot.__main__", "bot.app", "bot.handlers", "bot.notifier", "bot.intake",
          "bot.submit"], "torch"),
        (["engine.cli", "engine.painter.worker", "engine.paint"], "telegram"),
    ],
)  # fmt: skip
def test_loading_one_side_does_not_load_the_other(modules: list[str], forbidden: str) -> None:
    """Transitively too: importing every module of one side leaves the other out of sys.modules."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] == {forbidden!r})\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
