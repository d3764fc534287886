"""Keeps bench/bench_hostile_media.py from rotting: today's side of its table, the bot's probe
and the painter's decode, on the issue's files (the "before" side needs an old revision's code
and minutes: it is run by hand, bench/RESULTS.md)."""

from __future__ import annotations

from bench import bench_hostile_media


def test_after_only_answers_every_file_in_both_paths(capsys):
    assert bench_hostile_media.main(["--after-only"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(bench_hostile_media.FILES)
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        bot_answer, painter_answer = cells[4], cells[7]
        assert bot_answer in ("too_big", "too_many_frames") and painter_answer == bot_answer
