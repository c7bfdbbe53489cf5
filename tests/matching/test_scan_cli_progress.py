"""The stderr progress bar: drawn on terminals only, erased when done."""

from __future__ import annotations

import io

from monitor.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    with Progress(1000, label="scanning", stream=stream) as bar:
        bar.advance(1000, item="a.csv")
    assert stream.getvalue() == ""
    assert bar.done == 1000


def test_bar_is_drawn_on_a_terminal_and_erased_at_the_end():
    stream = FakeTTY()
    with Progress(2048, label="scanning", stream=stream) as bar:
        bar.advance(1024, item="dump.csv")
        bar.advance(1024, item="dump2.csv")  # reaching the total always redraws
        drawn = stream.getvalue()
    assert "scanning" in drawn and "100%" in drawn and "dump2.csv" in drawn
    assert "2.0 KB/2.0 KB" in drawn
    assert stream.getvalue().endswith("\r")  # erased: the next output starts clean


def test_small_jobs_draw_nothing_even_on_a_terminal():
    stream = FakeTTY()
    with Progress(10, stream=stream, min_total=1000) as bar:
        bar.advance(10)
    assert stream.getvalue() == ""


def test_line_with_counts_and_unknown_total():
    bar = Progress(None, label="import", unit="rows", enabled=False)
    bar.advance(5)
    assert bar.line().startswith("import  5 rows")
    bar = Progress(10, unit="rows", enabled=False)
    bar.advance(5, item="x" * 100)
    line = bar.line()
    assert " 50% [" in line and "5/10 rows" in line and line.endswith("x" * 37)
