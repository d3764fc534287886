"""A throwaway PostgreSQL server for tests and benchmarks (never for production).

`initdb` into a temporary folder and `pg_ctl start` on a free 127.0.0.1 port, with a password
(so every test goes through the same TCP + password path as a real deployment). PostgreSQL
refuses to run as root, so as root the binaries run as the `postgres` user (`runuser`).
Durability is switched off (fsync, synchronous_commit): the data is thrown away anyway.
Any failure raises with the server's own log, so a test run fails loudly instead of skipping.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PASSWORD_BYTES = 12
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=400 -c shared_buffers=64MB"
)


class PostgresUnavailable(RuntimeError):
    """The throwaway server could not be set up; the message says what to install or read."""


def find_bin_dir() -> Path:
    """PG_BIN_DIR, else the newest Debian cluster binaries, else whatever is on PATH."""
    candidates = [os.environ.get("PG_BIN_DIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    on_path = shutil.which("pg_ctl")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    raise PostgresUnavailable(
        "PostgreSQL's initdb/pg_ctl were not found: install Debian's `postgresql` package "
        "(`make test` does this as root) or set PG_BIN_DIR"
    )


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """One server in its own folder; `url(db)` gives a postgresql:// URL with the password."""

    def __init__(self, root: Path | None = None) -> None:
        self.bin_dir = find_bin_dir()
        self.root = Path(root or tempfile.mkdtemp(prefix="picasso-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.password = secrets.token_hex(PASSWORD_BYTES)
        self.port = 0
        self._as_user = _run_as_prefix()

    # ------------------------------------------------------------------ commands
    def _run(self, *args: str) -> None:
        command = [*self._as_user, str(self.bin_dir / args[0]), *args[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}\n{log}"
            )

    def init(self) -> ThrowawayPostgres:
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        _hand_over(self.root)
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile)),
            *("--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8"),
        )
        pwfile.unlink()
        return self

    def start(self, port: int | None = None) -> ThrowawayPostgres:
        """Start (again, after stop(): on the same port unless given another)."""
        self.port = port or self.port or free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self.root} {SERVER_OPTIONS}"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")  # fmt: skip
        _hand_over(self.log)
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop the server (if running) and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ addresses
    def url(self, database: str = "postgres", *, user: str = "postgres", password=None) -> str:
        password = self.password if password is None else password
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"


def _run_as_prefix() -> list[str]:
    """As root: run the server's binaries as `postgres` (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailable(
            "running as root but there is no `postgres` user to run the server as "
            "(Debian's `postgresql` package creates it)"
        ) from exc
    return ["runuser", "-u", "postgres", "--"]


def _hand_over(path: Path) -> None:
    if os.geteuid() == 0 and path.exists():
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)
