"""Download (or copy) the style paintings and check them against their pinned sha256.

Paintings are not shipped in the repo. Each one is taken from its pinned URL, a mirror, or a
local folder, and is only put in place once its sha256 matches the catalogue, so a bad network
or a bad mirror can never leave a half-written or altered painting behind.

The command line for this is `python -m engine styles fetch` (engine/cli.py, `make styles`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from styles.catalogue import Catalogue, Preset, load_catalogue

_CHUNK = 1 << 16
_HTTP_RE = re.compile(r"^https?://", re.IGNORECASE)
_USER_AGENT = "picasso-me-styles/1 (+python-urllib)"

Origin = str | Path  # an http(s) URL or a local file


class StyleFetchError(Exception):
    """A painting could not be fetched or failed verification; the message names the preset."""

    def __init__(self, message: str, *, preset: str | None = None) -> None:
        super().__init__(message)
        self.preset = preset


@dataclass
class FetchReport:
    """What `fetch_styles` did, preset by preset (names in catalogue order)."""

    fetched: list[str] = field(default_factory=list)
    already_ok: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [
            f"{len(self.fetched)} fetched, {len(self.already_ok)} already ok, "
            f"{len(self.failed)} failed"
        ]
        lines += [f"  {message}" for message in self.failed.values()]
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise one StyleFetchError listing every failure (for callers that must have all)."""
        if self.failed:
            raise StyleFetchError(
                f"could not fetch {len(self.failed)} style(s):\n"
                + "\n".join(f"  {m}" for m in self.failed.values())
            )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(styles_dir: str | os.PathLike[str], preset: Preset | str) -> bool:
    """True if the preset's file exists in `styles_dir` with the exact size and sha256."""
    if isinstance(preset, str):
        preset = load_catalogue().resolve(preset)
    path = Path(styles_dir) / preset.file
    try:
        if not path.is_file() or path.stat().st_size != preset.bytes:
            return False
        return _sha256_file(path) == preset.sha256
    except OSError:
        return False


def _locator(source: str | os.PathLike[str] | None) -> Callable[[Preset], Origin]:
    """Map a preset to where its bytes come from, validating `source` once, up front."""
    if source is None:
        return lambda preset: preset.url
    text = os.fspath(source)
    if _HTTP_RE.match(text):
        base = text.rstrip("/")
        return lambda preset: f"{base}/{urllib.parse.quote(preset.file)}"
    folder = Path(text).expanduser()
    if folder.is_dir():
        return lambda preset: folder / preset.file
    raise StyleFetchError(f"style source {text!r} is neither an existing folder nor an http(s) URL")


@contextlib.contextmanager
def _open_origin(
    preset: Preset, origin: Origin, opener: urllib.request.OpenerDirector, timeout: float
) -> Iterator[BinaryIO]:
    """Open a readable byte stream, turning every failure into a StyleFetchError."""
    name = preset.name
    if isinstance(origin, Path):
        try:
            fh = origin.open("rb")
        except FileNotFoundError:
            raise StyleFetchError(
                f"{name}: {origin.name} not found in {origin.parent}", preset=name
            ) from None
        except OSError as exc:
            raise StyleFetchError(
                f"{name}: cannot read {origin} ({exc.strerror or exc})", preset=name
            ) from exc
        with fh:
            yield fh
        return
    if not _HTTP_RE.match(origin):
        raise StyleFetchError(f"{name}: not an http(s) URL: {origin}", preset=name)
    request = urllib.request.Request(origin, headers={"User-Agent": _USER_AGENT})
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise StyleFetchError(
            f"{name}: HTTP {exc.code} {exc.reason} from {origin}", preset=name
        ) from None
    except urllib.error.URLError as exc:
        raise StyleFetchError(
            f"{name}: cannot reach {origin} ({exc.reason}); if this machine is offline, "
            "pass a local folder or a reachable mirror as the source",
            preset=name,
        ) from exc
    except (TimeoutError, OSError) as exc:
        raise StyleFetchError(
            f"{name}: download failed ({exc or type(exc).__name__}) from {origin}", preset=name
        ) from exc
    with response:
        yield response


def _fetch_one(
    preset: Preset,
    origin: Origin,
    dest: Path,
    opener: urllib.request.OpenerDirector,
    timeout: float,
) -> None:
    """Stream into a temp file beside `dest`, check size and sha256, then os.replace."""
    name = preset.name
    with _open_origin(preset, origin, opener, timeout) as stream:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while True:
                    try:
                        chunk = stream.read(_CHUNK)
                    except OSError as exc:  # reset connection, read timeout, I/O error
                        raise StyleFetchError(
                            f"{name}: download interrupted ({exc or type(exc).__name__}) "
                            f"from {origin}",
                            preset=name,
                        ) from exc
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > preset.bytes:
                        raise StyleFetchError(
                            f"{name}: larger than the expected {preset.bytes} bytes from {origin}",
                            preset=name,
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            got = digest.hexdigest()
            if got != preset.sha256:
                sizes = "" if size == preset.bytes else f"; {size} of {preset.bytes} bytes"
                raise StyleFetchError(
                    f"{name}: sha256 mismatch (expected {preset.sha256[:12]}…, "
                    f"got {got[:12]}…{sizes}) from {origin}",
                    preset=name,
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _select(catalogue: Catalogue, names: Iterable[str] | None) -> list[Preset]:
    if names is None:
        return catalogue.presets
    if isinstance(names, str):  # a lone name, not an iterable of characters
        names = [names]
    chosen: dict[str, Preset] = {}
    for name in names:
        preset = catalogue.resolve(name)  # UnknownStyleError before any download starts
        chosen.setdefault(preset.name, preset)
    return list(chosen.values())


def fetch_styles(
    styles_dir: str | os.PathLike[str],
    source: str | os.PathLike[str] | None = None,
    names: Iterable[str] | None = None,
    *,
    timeout: float = 30,
    catalogue: Catalogue | None = None,
) -> FetchReport:
    """Make sure every selected painting is in `styles_dir` with its pinned sha256.

    `source`: None -> each preset's own URL; an existing folder -> `<folder>/<file>`; an
    http(s) URL -> a mirror serving `<url>/<file>`. Files already correct are left alone;
    missing or corrupted ones are (re)fetched. Failures do not stop the run: they are
    collected in `FetchReport.failed` (call `raise_for_failures()` to make them fatal).
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    catalogue = catalogue or load_catalogue()
    presets = _select(catalogue, names)
    locate = _locator(source)
    target = Path(styles_dir)
    target.mkdir(parents=True, exist_ok=True)
    opener = urllib.request.build_opener()  # reads *_proxy env vars now, not at import
    report = FetchReport()
    for preset in presets:
        if verify(target, preset):
            report.already_ok.append(preset.name)
            continue
        try:
            _fetch_one(preset, locate(preset), target / preset.file, opener, timeout)
        except StyleFetchError as exc:
            report.failed[preset.name] = str(exc)
        except OSError as exc:  # e.g. styles_dir not writable
            report.failed[preset.name] = f"{preset.name}: cannot write {target}: {exc}"
        else:
            report.fetched.append(preset.name)
    return report
