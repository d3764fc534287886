"""The Dockerfile, compose.yaml and `make docker-check`'s override of it, read for what the
check (docker/check.py, run by hand: it needs a docker daemon and builds torch into an image)
relies on, so that CI notices when one of them drifts from the others. `make docker-check`'s
last results: docs/docker-check.md."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
CHECK_OVERRIDE = ROOT / "docker" / "compose.check.yaml"


def services(path: Path = COMPOSE) -> dict:
    return yaml.safe_load(path.read_text())["services"]


def override() -> dict:
    # Compose's merge tags (!reset) are not plain YAML: read them as their values.
    loader = type("ComposeLoader", (yaml.SafeLoader,), {})
    loader.add_constructor("!reset", lambda loader_, node: None)
    return yaml.load(CHECK_OVERRIDE.read_text(), Loader=loader)["services"]  # noqa: S506


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined, comments left out), stage by
    stage (the ARGs before the first FROM are a stage of their own)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        out[-1].append(line)
    return out


def instruction(stage: list[str], keyword: str) -> list[str]:
    return [line[len(keyword) + 1 :] for line in stage if line.upper().startswith(keyword + " ")]


def seconds(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)([smh])", value))


def test_the_bot_is_checked_through_its_healthz():
    bot = services()["bot"]
    assert bot["healthcheck"]["test"] == ["CMD", "python", "-m", "bot.healthcheck"]
    assert bot["environment"]["ENGINE_EXTERNAL"] == "true"  # painters are their own service
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_a_painter_does_not_inherit_the_bots_health_check():
    """The image's HEALTHCHECK asks the bot's /healthz; a painter serves none, so with it
    every worker container would be marked unhealthy."""
    worker = services()["worker"]
    assert worker["healthcheck"] == {"disable": True}
    assert worker["command"] == ["python", "-m", "engine", "worker"]
    gpu = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and gpu["count"] == 1
    assert worker["environment"]["DATABASE_URL"] == services()["bot"]["environment"]["DATABASE_URL"]


def test_stops_leave_time_to_put_work_back():
    """Docker's 10 s before SIGKILL is shorter than a painter putting its job back and the bot
    waiting out the database for an update (bot/redelivery.py)."""
    for name in ("bot", "worker"):
        assert seconds(services()[name]["stop_grace_period"]) >= 30, name


def test_postgres_is_used_as_the_official_images_contract_says():
    """What compose.yaml asks of postgres:15, which docker/standin-postgres honours."""
    postgres = services()["postgres"]
    assert postgres["image"] == "postgres:15"
    assert set(postgres["environment"]) == {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD"}
    assert postgres["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert postgres["healthcheck"]["test"][1].startswith("pg_isready")
    entrypoint = (ROOT / "docker" / "standin-postgres" / "docker-entrypoint.sh").read_text()
    for variable in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA"):
        assert variable in entrypoint
    standin = (ROOT / "docker" / "standin-postgres" / "Dockerfile").read_text()
    assert "PGDATA=/var/lib/postgresql/data" in standin
    assert "VOLUME /var/lib/postgresql/data" in standin


def test_the_image_runs_unprivileged_with_its_data_in_a_volume():
    final = stages()[-1]
    [user] = instruction(final, "USER")
    useradd = next(line for line in instruction(final, "RUN") if "useradd" in line)
    assert f"--user-group {user}" in useradd and "--uid 10001" in useradd
    assert instruction(final, "VOLUME") == ['["/data"]']
    env = " ".join(instruction(final, "ENV"))
    assert "DATA_DIR=/data" in env and "METRICS_PORT=9464" in env
    assert "PATH=/opt/venv/bin:$PATH" in env  # python = the venv's, for CMD and HEALTHCHECK
    [health] = instruction(final, "HEALTHCHECK")
    assert health.endswith('CMD ["python", "-m", "bot.healthcheck"]')
    assert instruction(final, "CMD") == ['["python", "-m", "bot"]']


def test_the_start_period_is_the_same_everywhere():
    """docker/check.py fails a container that turns healthy after the start period."""
    [health] = instruction(stages()[-1], "HEALTHCHECK")
    period = re.search(r"--start-period=(\S+)", health).group(1)
    assert seconds(period) == seconds(services()["bot"]["healthcheck"]["start_period"])
    check = (ROOT / "docker" / "check.py").read_text()
    assert f"START_PERIOD = {seconds(period)}" in check
    assert 'APP_UID = "10001"' in check


def test_the_wheels_stay_in_the_first_stage():
    """docker/wheels/ (GBs of torch and CUDA wheels when the check fills it) is copied into
    the first stage only; the final image takes the finished venv from it and names the app's
    folders one by one (a `COPY . .` would take the wheels along)."""
    args, deps, final = stages()
    assert instruction(args, "ARG") == ["BASE_IMAGE=python:3.11-slim-bookworm"]
    assert deps[0] == "FROM ${BASE_IMAGE} AS deps" and final[0] == "FROM ${BASE_IMAGE}"
    assert "docker/wheels/ /tmp/wheels/" in instruction(deps, "COPY")
    install = next(line for line in instruction(deps, "RUN") if "pip install" in line)
    assert "--find-links /tmp/wheels ${PIP_OFFLINE:+--no-index}" in install
    copies = instruction(final, "COPY")
    assert "--from=deps /opt/venv /opt/venv" in copies
    sources = [shlex.split(c)[:-1] for c in copies if not c.startswith("--from")]
    assert all(not s.startswith(("docker", ".")) for group in sources for s in group), copies
    for folder in ("bot", "engine", "jobs", "media", "styles"):
        assert [folder] in sources
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :].count("!docker/wheels") == 1
    assert "!.env" not in ignore


def test_the_checks_override_changes_only_the_machine():
    """The override gives host networking, settings instead of .env, and no GPU; the images,
    commands, health checks and volumes are compose.yaml's own."""
    base, check = services(), override()
    assert set(check) == set(base)
    for name, service in check.items():
        assert service["network_mode"] == "host", name
        assert set(service) <= {"network_mode", "environment", "env_file", "deploy"}, name
    assert check["postgres"]["environment"] == {"PGPORT": "${CHECK_PGPORT:?}"}
    url = "postgresql://picasso:${POSTGRES_PASSWORD}@127.0.0.1:${CHECK_PGPORT}/picasso"
    assert check["bot"]["environment"]["DATABASE_URL"] == url
    assert check["worker"]["environment"]["DATABASE_URL"] == url
    assert check["worker"]["deploy"] is None  # !reset: no GPU to reserve


def test_make_test_does_not_need_docker():
    makefile = (ROOT / "Makefile").read_text()
    [test_rule] = re.findall(r"^test:(.*)$", makefile, re.M)
    assert "docker" not in test_rule
    assert "$(PY) docker/check.py" in makefile


def admits(requirement: str, version: str) -> bool:
    """Whether a requirement made of >=, <, <=, > and == bounds ("torch>=2.9,<2.15") admits a
    plain version."""

    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(n) for n in text.split("."))

    tests = {">=": tuple.__ge__, "<=": tuple.__le__, "==": tuple.__eq__, "<": tuple.__lt__,
             ">": tuple.__gt__}  # fmt: skip
    bounds = re.findall(r"(>=|<=|==|<|>)\s*([\d.]+)", requirement)
    assert bounds, requirement
    return all(tests[op](numbers(version), numbers(bound)) for op, bound in bounds)


def test_torch_is_bounded_to_the_cuda_build_the_readme_names():
    """#28, goal 6: torch's range ends before a release whose CUDA build nobody has checked
    against the drivers owners have; the README says which build it is, which driver that needs,
    how to check it and what to do with an older one; the image can take that other build."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {re.match(r"[\w-]+", line).group(): line for line in project["dependencies"]}
    torch, vision = wanted["torch"], wanted["torchvision"]
    assert admits(torch, "2.14.1") and not admits(torch, "2.15.0") and not admits(torch, "2.8.0")
    assert admits(vision, "0.29.1") and not admits(vision, "0.30.0")
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Which torch, which driver") :]
    section = section[: section.index("\n## ")]
    for words in ("torch 2.14.1", "CUDA 13.0", "580", "nvidia-smi", "whl/cu126", "TORCH_INDEX"):
        assert words in section, words
    _, deps, _ = stages()
    assert "TORCH_INDEX=" in instruction(deps, "ARG")
    [install] = [line for line in instruction(deps, "RUN") if "pip install" in line]
    pattern = re.search(r"grep -E '([^']+)' /tmp/build/requirements.txt", install).group(1)
    assert sorted(d for d in project["dependencies"] if re.search(pattern, d)) == [torch, vision]
    assert install.index('--index-url "$TORCH_INDEX"') < install.index("--find-links /tmp/wheels")
