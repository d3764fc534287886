"""Fetching paintings: folder, mirror and pinned-URL sources, all verified before use.

Every network test talks to an http.server on 127.0.0.1 started here; nothing needs internet.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from styles import (
    Catalogue,
    FetchReport,
    StyleFetchError,
    UnknownStyleError,
    fetch_styles,
    load_catalogue,
)
from styles.fetch import verify
from tests.shared_styles import shared_styles_dir

REPO = Path(__file__).resolve().parents[1]
# The three smallest paintings keep copies and downloads quick.
FEW = ["woman-with-hat", "composition-vii", "scream"]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """A developer's proxy settings must not route 127.0.0.1 elsewhere."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def source(tmp_path) -> Path:
    """A private copy of a few shared paintings (tests may corrupt or delete them)."""
    folder = tmp_path / "source"
    folder.mkdir()
    for name in FEW:
        shutil.copyfile(shared_styles_dir(*FEW) / f"{name}.jpg", folder / f"{name}.jpg")
    return folder


@pytest.fixture
def dest(tmp_path) -> Path:
    return tmp_path / "styles"


@dataclasses.dataclass
class Served:
    url: str
    requests: list[str]


@pytest.fixture
def serve() -> Iterator:
    """Factory: serve a folder over HTTP on 127.0.0.1 (random port) in a thread."""
    running: list[tuple[http.server.HTTPServer, threading.Thread]] = []

    def start(folder: Path) -> Served:
        requests: list[str] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - stdlib signature
                requests.append(self.path)

        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return Served(f"http://127.0.0.1:{server.server_address[1]}", requests)

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_from_a_local_folder(source, dest):
    report = fetch_styles(dest, str(source), names=["matisse", "Composition VII", "scream"])
    assert report == FetchReport(fetched=FEW, already_ok=[], failed={})
    assert report.ok
    cat = load_catalogue()
    assert all(verify(dest, cat.resolve(name)) for name in FEW)
    assert leftovers(dest) == sorted(f"{n}.jpg" for n in FEW)  # no temp files

    again = fetch_styles(dest, source, names=FEW)  # a Path works too
    assert again == FetchReport(fetched=[], already_ok=FEW, failed={})


def test_fetch_from_an_http_mirror(source, dest, serve):
    mirror = serve(source)
    report = fetch_styles(dest, mirror.url + "/", names=FEW, timeout=10)
    assert report.fetched == FEW and report.ok
    assert sorted(mirror.requests) == sorted(f"/{n}.jpg" for n in FEW)
    assert leftovers(dest) == sorted(f"{n}.jpg" for n in FEW)


def test_default_source_is_each_presets_own_url(source, dest, serve):
    served = serve(source)
    cat = load_catalogue()
    pinned = Catalogue(
        dataclasses.replace(cat.resolve(n), url=f"{served.url}/{cat.resolve(n).file}") for n in FEW
    )
    report = fetch_styles(dest, catalogue=pinned, timeout=10)  # names=None: the whole catalogue
    assert report.fetched == FEW and report.ok
    assert len(served.requests) == 3


def test_sha256_mismatch_names_the_preset_and_leaves_nothing(source, dest, serve):
    corrupt(source / "scream.jpg")
    mirror = serve(source)
    report = fetch_styles(dest, mirror.url, names=FEW, timeout=10)
    assert report.fetched == ["woman-with-hat", "composition-vii"]  # kept going
    message = report.failed["scream"]
    assert message.startswith("scream: sha256 mismatch (expected 5d204a774ec7…, got ")
    assert message.endswith(f"from {mirror.url}/scream.jpg")
    assert "scream.jpg" not in leftovers(dest)
    assert leftovers(dest) == ["composition-vii.jpg", "woman-with-hat.jpg"]
    with pytest.raises(StyleFetchError, match="scream: sha256 mismatch"):
        report.raise_for_failures()


def test_missing_file_in_source_folder_names_the_preset(source, dest):
    (source / "composition-vii.jpg").unlink()
    report = fetch_styles(dest, source, names=FEW)
    assert report.failed == {
        "composition-vii": f"composition-vii: composition-vii.jpg not found in {source}"
    }
    assert report.fetched == ["woman-with-hat", "scream"]
    assert not report.ok
    assert "1 failed" in report.summary() and "composition-vii" in report.summary()


def test_missing_file_on_mirror_is_an_http_error(source, dest, serve):
    (source / "scream.jpg").unlink()
    mirror = serve(source)
    report = fetch_styles(dest, mirror.url, names=["scream"], timeout=10)
    expected = f"scream: HTTP 404 File not found from {mirror.url}/scream.jpg"
    assert report.failed["scream"] == expected
    assert leftovers(dest) == []


def test_existing_corrupted_file_is_replaced(source, dest):
    dest.mkdir()
    shutil.copyfile(source / "scream.jpg", dest / "scream.jpg")
    corrupt(dest / "scream.jpg")
    (dest / "woman-with-hat.jpg").write_bytes(b"short")  # wrong size too
    shutil.copyfile(source / "composition-vii.jpg", dest / "composition-vii.jpg")
    report = fetch_styles(dest, source, names=FEW)
    assert report.fetched == ["woman-with-hat", "scream"]
    assert report.already_ok == ["composition-vii"]
    cat = load_catalogue()
    assert all(verify(dest, cat.resolve(n)) for n in FEW)
    assert (dest / "scream.jpg").read_bytes() == (
        shared_styles_dir(*FEW) / "scream.jpg"
    ).read_bytes()


def test_failed_refetch_keeps_the_existing_file_and_reports_it(source, dest):
    dest.mkdir()
    (dest / "scream.jpg").write_bytes(b"old")
    corrupt(source / "scream.jpg")
    report = fetch_styles(dest, source, names=["scream"])
    assert "scream: sha256 mismatch" in report.failed["scream"]
    assert leftovers(dest) == ["scream.jpg"]  # no temp file; the old one untouched
    assert (dest / "scream.jpg").read_bytes() == b"old"


def test_oversized_download_is_cut_short(source, dest, serve):
    path = source / "scream.jpg"
    path.write_bytes(path.read_bytes() + b"\0" * 100_000)
    mirror = serve(source)
    report = fetch_styles(dest, mirror.url, names=["scream"], timeout=10)
    assert report.failed["scream"].startswith("scream: larger than the expected 239253 bytes")
    assert leftovers(dest) == []


def test_unreachable_server_is_a_clear_error(dest):
    with socket.socket() as sock:  # grab a free port, then close it: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = fetch_styles(dest, f"http://127.0.0.1:{port}", names=["scream"], timeout=5)
    message = report.failed["scream"]
    assert message.startswith(f"scream: cannot reach http://127.0.0.1:{port}/scream.jpg")
    assert "offline" in message
    assert leftovers(dest) == []


def test_silent_server_times_out(dest):
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        report = fetch_styles(dest, url, names=["scream", "monet"], timeout=0.3)
    assert set(report.failed) == {"scream", "monet"}
    assert all("timed out" in m for m in report.failed.values()), report.failed
    assert leftovers(dest) == []


def test_bad_source_and_unknown_names_fail_before_any_work(dest, source):
    with pytest.raises(StyleFetchError, match="neither an existing folder nor an http"):
        fetch_styles(dest, str(source / "nope"), names=FEW)
    with pytest.raises(UnknownStyleError, match="Did you mean: monet"):
        fetch_styles(dest, source, names=["scream", "monnet"])
    with pytest.raises(ValueError, match="timeout"):
        fetch_styles(dest, source, timeout=0)
    assert leftovers(dest) == []


def test_duplicate_names_and_a_single_string(source, dest):
    report = fetch_styles(dest, source, names=["scream", "munch", "SCREAM"])
    assert report.fetched == ["scream"]
    assert fetch_styles(dest, source, names="munch").already_ok == ["scream"]


def test_verify(dest, source):
    cat = load_catalogue()
    scream = cat.resolve("scream")
    dest.mkdir()
    assert not verify(dest, scream)  # missing
    (dest / "scream.jpg").write_bytes(b"x")
    assert not verify(dest, scream)  # wrong size
    shutil.copyfile(source / "scream.jpg", dest / "scream.jpg")
    assert verify(dest, scream) and verify(dest, "munch")
    corrupt(dest / "scream.jpg")
    assert not verify(dest, scream)  # right size, wrong bytes


def test_unwritable_target_is_reported_and_cleaned_up(source, dest):
    (dest / "scream.jpg").mkdir(parents=True)  # a folder squats on the painting's name
    report = fetch_styles(dest, source, names=["scream", "matisse"])
    assert report.fetched == ["woman-with-hat"]
    assert report.failed["scream"].startswith(f"scream: cannot write {dest}")
    assert leftovers(dest) == ["scream.jpg", "woman-with-hat.jpg"]  # no temp file left
