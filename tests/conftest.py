pytest_plugins = ["tests.bot_harness"]
