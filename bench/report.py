"""The results table: each figure with its goal and whether the goal was met."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: no goal, shown for context

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


HEADER = ("figure", "value", "goal", "result")


def _cells(row: Row) -> tuple[str, str, str, str]:
    return row.figure, row.value, row.goal, row.verdict


def text_table(rows: list[Row]) -> str:
    cells = [HEADER, *map(_cells, rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]

    def line(values) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w) if i == 1 else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(HEADER), rule, *map(line, cells[1:])])


def markdown_table(rows: list[Row]) -> str:
    def line(values) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return "\n".join([line(HEADER), "|---|---:|---|---|", *(line(_cells(row)) for row in rows)])


def missed(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.met is False]
