"""The engine: the painting (engine/paint/), clips (engine/clips/), the painter process that
takes jobs from the job table (engine/painter/), and the command line (engine/cli.py).

Imports run one way: the painter uses the clips and the painting, the clips use the painting,
the painting uses neither (tests/test_imports.py). Torch-free media handling shared with the
bot lives outside, in media/.
"""

from engine.threads import prefer_passive_waits

prefer_passive_waits()  # before torch is imported anywhere in this process (see engine/threads.py)
