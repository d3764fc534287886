"""Style transfer (engine.transfer), its queue worker (engine.worker) and the CLI."""

from engine.threads import prefer_passive_waits

prefer_passive_waits()  # before torch is imported anywhere in this process (see engine/threads.py)
