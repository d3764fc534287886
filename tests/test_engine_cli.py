"""`python -m engine stylize|styles …` as a user runs it (subprocesses, tiny sizes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import skimage.data
from PIL import Image

from tests.shared_styles import shared_styles_dir

ROOT = Path(__file__).resolve().parents[1]


def _engine(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture()
def styles_env(tmp_path: Path) -> dict[str, str]:
    return {"STYLES_DIR": str(tmp_path / "styles"), "DATA_DIR": str(tmp_path / "data")}


def test_styles_fetch_from_a_folder_then_list(styles_env: dict[str, str]) -> None:
    shared = str(shared_styles_dir("monet", "udnie"))
    fetched = _engine("styles", "fetch", "--from", shared, "monet", "udnie", env=styles_env)
    assert fetched.returncode == 0, fetched.stderr
    assert "2 fetched" in fetched.stdout
    listed = _engine("styles", "list", env=styles_env)
    assert listed.returncode == 0
    lines = {line.split()[1]: line.split()[0] for line in listed.stdout.splitlines() if "—" in line}
    assert lines["monet"] == "✓" and lines["udnie"] == "✓" and lines["scream"] == "·"


def test_styles_fetch_reports_a_missing_painting_by_name(tmp_path, styles_env) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _engine("styles", "fetch", "--from", str(empty), "klimt", env=styles_env)
    assert done.returncode == 1
    assert "klimt" in done.stdout + done.stderr


def test_stylize_blends_presets_and_writes_the_image(tmp_path, styles_env) -> None:
    shared = str(shared_styles_dir("monet", "udnie"))
    assert (
        _engine("styles", "fetch", "--from", shared, "monet", "udnie", env=styles_env).returncode
        == 0
    )
    photo = tmp_path / "photo.jpg"
    Image.fromarray(skimage.data.chelsea()).save(photo)  # 451x300
    out = tmp_path / "out.png"
    done = _engine(
        "stylize", str(photo), "--style", "monet", "--style", "picabia:0.3", "--size", "48",
        "--iterations", "6", "--preserve-colors", "--device", "cpu", "-o", str(out),
        env=styles_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Image.open(out) as result:
        assert result.format == "PNG" and result.size == (48, 32)


def test_stylize_with_an_unknown_style_suggests_close_names(tmp_path, styles_env) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    done = _engine("stylize", str(photo), "--style", "monnet", "-o", str(tmp_path / "o.png"),
                   env=styles_env)  # fmt: skip
    assert done.returncode == 2
    assert "monnet" in done.stderr and "monet" in done.stderr.split("monnet", 1)[1]
    assert not (tmp_path / "o.png").exists()


def test_stylize_with_a_style_nothing_resembles_points_to_the_presets(tmp_path, styles_env):
    photo = tmp_path / "photo.png"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    done = _engine("stylize", str(photo), "--style", "nosuchpainter", "-o",
                   str(tmp_path / "o.png"), env=styles_env)  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one message: no traceback, no log noise
    assert lines[0].startswith("error: Unknown style 'nosuchpainter'. Presets: starry-night, ")
    assert "cubism" in lines[0] and "styles list" in lines[0]
    assert "Did you mean" not in lines[0]


def test_stylize_refuses_a_file_that_is_not_an_image(tmp_path, styles_env) -> None:
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("this is not a picture")
    done = _engine("stylize", str(bogus), "--style", "monet", "-o", str(tmp_path / "o.png"),
                   env=styles_env)  # fmt: skip
    assert done.returncode == 2
    assert "not an image" in done.stderr.lower()
