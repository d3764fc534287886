# The engine package sets the OpenMP wait policy for its process; it must do so before any test
# module imports torch (engine/threads.py), so it is imported first.
import engine  # noqa: F401

pytest_plugins = ["tests.bot_harness", "tests.jobs_fixtures", "tests.pg_fixtures"]


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def cpu_stylizer():
    """One real Stylizer (VGG19 on the CPU) for every test that paints in-process: loading it
    costs seconds. Tests use it as it is (one that changes it builds its own)."""
    from engine.paint import Stylizer

    return Stylizer(device="cpu")


# The longest files first (their test time in a full run, 2026-12-07), so that with
# `--dist loadfile --no-loadscope-reorder` (the Makefile) a long file is never the last one left
# while the other process idles: xdist's own order (most tests first) started the one-test
# multihost and bench_cpu files last. A file missing here only runs later; nothing is skipped.
LONGEST_FIRST = (
    "test_bot_e2e.py",  # 404 s under load 10
    "test_worker_lifecycle.py",  # 283 s
    "test_bot_clips.py",  # 182 s
    "test_engine_transfer.py",  # 167 s
    "test_worker_clips.py",  # 144 s
    "test_multihost.py",  # 135 s
    "test_worker_faults.py",  # 109 s
    "test_bot_redelivery.py",  # 103 s
    "test_bench_cpu_script.py",  # 101 s
    "test_jobs_postgres_faults.py",  # 92 s
)


def pytest_collection_modifyitems(config, items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest in order
