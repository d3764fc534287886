# The engine package sets the OpenMP wait policy for its process; it must do so before any test
# module imports torch (engine/threads.py), so it is imported first.
import engine  # noqa: F401

pytest_plugins = ["tests.bot_harness", "tests.jobs_fixtures", "tests.pg_fixtures"]
