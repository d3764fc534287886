pytest_plugins = ["tests.bot_harness", "tests.jobs_fixtures"]
