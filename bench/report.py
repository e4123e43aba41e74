"""The results table: each figure with its goal, whether the goal was met and the machine's load while it
was measured; one backend's figures, or several backends' side by side."""

from __future__ import annotations

from dataclasses import dataclass

NOT_MEASURED = "—"


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: no goal, shown for context
    load: str = ""  # the 1-minute load average while the figure was measured, e.g. "2.1-2.8"

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


HEADER = ("figure", "value", "goal", "result", "load")


def _cells(row: Row) -> tuple[str, ...]:
    return row.figure, row.value, row.goal, row.verdict, row.load


def side_by_side_cells(results: dict[str, list[Row]]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(header, lines): every figure once, in the order first measured, with each backend's value, goal,
    result and load beside it (``—`` where a backend did not measure that figure)."""
    names = list(results)
    by_backend = {name: {row.figure: row for row in rows} for name, rows in results.items()}
    figures = list(dict.fromkeys(row.figure for rows in results.values() for row in rows))
    header: tuple[str, ...] = ("figure",)
    for name in names:
        header += (name, "goal", "result", "load")
    lines = []
    for figure in figures:
        line: tuple[str, ...] = (figure,)
        for name in names:
            row = by_backend[name].get(figure)
            line += (NOT_MEASURED, "", "", "") if row is None else _cells(row)[1:]
        lines.append(line)
    return header, lines


def _value_columns(header: tuple[str, ...]) -> set[int]:
    """The columns that hold values (right-aligned): the one after "figure" and after each "load"."""
    return {i for i in range(1, len(header)) if header[i - 1] in ("figure", "load")}


def render_text(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    cells = [header, *lines]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    right = _value_columns(header)

    def line(values) -> str:
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *map(line, lines)])


def render_markdown(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    right = _value_columns(header)

    def line(values) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    rule = "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"
    return "\n".join([line(header), rule, *map(line, lines)])


def text_table(rows: list[Row]) -> str:
    return render_text(HEADER, [_cells(row) for row in rows])


def markdown_table(rows: list[Row]) -> str:
    return render_markdown(HEADER, [_cells(row) for row in rows])


def missed(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.met is False]
