"""bot/supervisor.py with stand-in child processes (no engine, no torch)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from bot.supervisor import EngineSupervisor
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parent.parent


def script(tmp_path: Path, body: str) -> tuple[str, ...]:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(body))
    return (sys.executable, str(path))


def logging_starts(tmp_path: Path, log: Path, then: str) -> tuple[str, ...]:
    """A child that notes each start in `log`, then runs `then` (its end)."""
    start = f"with open({str(log)!r}, 'a') as fh:\n    fh.write('start\\n')\n"
    return script(tmp_path, start + textwrap.dedent(then))


async def test_restarts_with_backoff(tmp_path):
    log = tmp_path / "starts.log"
    command = logging_starts(tmp_path, log, "import sys; sys.exit(3)")
    sup = EngineSupervisor(command, backoff_initial=0.1, backoff_max=0.4, grace_seconds=2)
    loop = asyncio.get_running_loop()
    begun = loop.time()
    sup.start()
    await eventually(lambda: log.exists() and log.read_text().count("start") >= 4, timeout=10)
    elapsed = loop.time() - begun
    await sup.stop()
    assert set(sup.exit_codes[:3]) == {3}  # the 4th may be stopped by us
    # back-off 0.1 + 0.2 + 0.4 between the first four starts
    assert elapsed >= 0.6
    assert sup.starts >= 4


async def test_environment_is_passed(tmp_path):
    out = tmp_path / "env.txt"
    command = script(
        tmp_path,
        f"""
        import os
        open({str(out)!r}, "w").write(os.environ.get("PICASSO_TEST_VALUE", "missing"))
        """,
    )
    sup = EngineSupervisor(command, env={**os.environ, "PICASSO_TEST_VALUE": "42"})
    sup.start()
    await eventually(lambda: out.exists() and out.read_text() == "42")
    await sup.stop()


async def test_stop_sends_sigterm_and_waits(tmp_path):
    marker = tmp_path / "term.txt"
    ready = tmp_path / "ready.txt"
    command = script(
        tmp_path,
        f"""
        import signal, sys, time
        def on_term(*_):
            open({str(marker)!r}, "w").write("requeued")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        open({str(ready)!r}, "w").write("ok")
        while True:
            time.sleep(0.1)
        """,
    )
    sup = EngineSupervisor(command, grace_seconds=5)
    sup.start()
    await eventually(ready.exists)
    await sup.stop()
    assert marker.read_text() == "requeued"
    assert sup.exit_codes == [0]
    assert not sup.running


async def test_stop_kills_after_the_grace_period(tmp_path):
    ready = tmp_path / "ready.txt"
    command = script(
        tmp_path,
        f"""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open({str(ready)!r}, "w").write("ok")
        while True:
            time.sleep(0.1)
        """,
    )
    sup = EngineSupervisor(command, grace_seconds=0.5)
    sup.start()
    await eventually(ready.exists)
    loop = asyncio.get_running_loop()
    begun = loop.time()
    await sup.stop()
    assert loop.time() - begun < 5
    assert sup.exit_codes == [-signal.SIGKILL]


async def test_missing_command_does_not_crash(tmp_path):
    sup = EngineSupervisor(
        (str(tmp_path / "no-such-program"),), backoff_initial=0.05, backoff_max=0.1
    )
    sup.start()
    await asyncio.sleep(0.3)
    await sup.stop()
    assert sup.starts == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
async def test_engine_dies_with_a_killed_bot(tmp_path):
    """SIGKILL the parent (a stand-in bot running the supervisor): the child gets SIGTERM."""
    pid_file = tmp_path / "child.pid"
    marker = tmp_path / "term.txt"
    child = script(
        tmp_path,
        f"""
        import os, signal, sys, time
        def on_term(*_):
            open({str(marker)!r}, "w").write("term")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        while True:
            time.sleep(0.1)
        """,
    )
    parent_code = textwrap.dedent(
        f"""
        import asyncio
        from bot.supervisor import EngineSupervisor
        async def main():
            EngineSupervisor({child!r}).start()
            await asyncio.sleep(60)
        asyncio.run(main())
        """
    )
    repo = REPO
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", parent_code, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}
    )
    try:
        await eventually(pid_file.exists, timeout=15)
        parent.kill()
        await parent.wait()
        await eventually(marker.exists, timeout=5)
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()


async def test_a_stuck_painter_is_restarted(tmp_path, caplog):
    """Exit code 4 (engine/painter/stalls.PAINTER_STUCK): a painter whose painting thread hung
    gave its jobs back and left without joining that thread (os._exit); it is restarted like
    any death, and the log says why it ended."""
    log = tmp_path / "starts.log"
    never_ends = "threading.Thread(target=threading.Event().wait).start()"
    command = logging_starts(tmp_path, log, f"import os, threading; {never_ends}; os._exit(4)")
    sup = EngineSupervisor(command, backoff_initial=0.05, backoff_max=0.1, grace_seconds=2)
    caplog.set_level("WARNING", logger="bot.supervisor")
    sup.start()
    await eventually(lambda: log.exists() and log.read_text().count("start") >= 2, timeout=10)
    await sup.stop()
    assert sup.exit_codes[0] == 4
    assert "engine exited with code 4 (painter stuck" in caplog.text
