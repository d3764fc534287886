# The engine package sets the OpenMP wait policy for its process; it must do so before any test
# module imports torch (engine/threads.py), so it is imported first.
import engine  # noqa: F401

pytest_plugins = ["tests.bot_harness", "tests.jobs_fixtures", "tests.pg_fixtures"]


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def cpu_stylizer():
    """One real Stylizer (VGG19 on the CPU) for the batch tests: loading it costs seconds."""
    from engine.paint import Stylizer

    return Stylizer(device="cpu")
