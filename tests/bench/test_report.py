"""The benchmark's side-by-side table: every figure once, each backend's value, goal, verdict and load beside it."""

from bench.report import Row, render_markdown, render_text, side_by_side_cells


def test_side_by_side_puts_each_backends_figure_on_one_line_and_marks_what_one_did_not_measure():
    results = {
        "SQLite": [Row("ack p99", "8.0 ms", "<= 10 ms", True, "2.1"), Row("limits", "0.9x", "<= 2x", True, "2.5")],
        "PostgreSQL": [Row("ack p99", "24.0 ms", "<= 20 ms", False, "3.0-3.4"), Row("take-over", "9.8 s")],
    }

    header, lines = side_by_side_cells(results)

    assert header == ("figure", "SQLite", "goal", "result", "load", "PostgreSQL", "goal", "result", "load")
    assert lines == [
        ("ack p99", "8.0 ms", "<= 10 ms", "met", "2.1", "24.0 ms", "<= 20 ms", "MISSED", "3.0-3.4"),
        ("limits", "0.9x", "<= 2x", "met", "2.5", "—", "", "", ""),
        ("take-over", "—", "", "", "", "9.8 s", "", "", ""),
    ]


def test_the_tables_right_align_the_values_of_every_backend():
    header, lines = side_by_side_cells({"A": [Row("f", "1 ms")], "B": [Row("f", "10 ms")]})

    assert render_markdown(header, lines).splitlines()[1] == "|---|---:|---|---|---|---:|---|---|---|"
    top, _, line = render_text(header, lines).splitlines()
    assert line.index(" 1 ms") + len(" 1 ms") == top.index(" A ") + len(" A")  # each value ends under its header
    assert line.index("10 ms") + len("10 ms") == top.index(" B ") + len(" B")
