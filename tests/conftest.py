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
