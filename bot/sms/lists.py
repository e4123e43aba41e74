"""Personalised lists: a CSV file with a header row read into one text per recipient. No I/O.

The number column is called ``number``, ``phone`` or ``mobile``; every other header is a
placeholder (lowercased, other characters turned to ``_``: ``First Name`` → ``{first_name}``).
Every row is checked; the whole list is refused if any row is bad, naming the first 20 rows. Rows
whose number is on the do-not-contact list are left out (and counted), as group members are.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from bot.sms import rules as smsrules
from bot.sms import templates
from bot.sms.errors import RecipientError, SmsRuleError
from bot.sms.numbers import read_number
from bot.sms.plan import Blocked, SendPlan
from bot.wording import plural

MAX_BYTES = 1024 * 1024
NUMBER_COLUMNS = ("number", "phone", "mobile")
ROWS_NAMED = 20
_DAMAGED = re.compile(r"[0-9](?:[.,][0-9]+)?e\+?[0-9]+", re.I)  # 2.78E+10: a spreadsheet's number format
TEXT_FIX = "format the number column as text in the spreadsheet, then export the CSV again"


class ListError(ValueError):
    """The list can't be sent; str() says why and how to fix it (bad rows by number)."""


@dataclass(frozen=True)
class ListRead:
    plan: SendPlan
    rows: int  # data rows read
    duplicates: list[tuple[int, str, int]] = field(default_factory=list)  # (row, number, row kept)
    opted_out: list[tuple[int, str]] = field(default_factory=list)  # (row, number) left out


def header_name(raw: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", raw.strip().lower())


def decode(data: bytes) -> str:
    """The file's text (UTF-8, with or without BOM), or ListError."""
    if len(data) > MAX_BYTES:
        raise ListError(
            f"The file is {len(data) / 1048576:.1f} MiB; lists are limited to 1 MiB. Split it into "
            "smaller files, or remove columns the message does not use."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ListError(
            "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8” and upload it again."
        ) from None


def read_list(
    data: bytes,
    template: str,
    region: str | None,
    allowed: frozenset[str] = frozenset(),
    max_rows: int = 5000,
    blocked: Blocked | None = None,
) -> ListRead:
    """The checked personalised send of ``template`` to the file's rows, or ListError."""
    text = decode(data)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ListError("The file is empty: it needs a header row (e.g. `number,name`) and a row per recipient.")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [header_name(h) for h in rows[0]]
    number_at = _number_column(header)
    wanted = templates.keys(template)  # refuses a bad placeholder, naming its position
    unknown = [k for k in wanted if k not in header or k == header[number_at]]
    if unknown:
        columns = ", ".join(f"`{{{h}}}`" for i, h in enumerate(header) if i != number_at and h) or "none"
        raise ListError(
            f"The message uses {', '.join(f'`{{{k}}}`' for k in unknown)}, which the file has no column "
            f"for. Its columns give {columns}."
        )
    body = [(i + 1, r) for i, r in enumerate(rows) if i and any(cell.strip() for cell in r)]
    if not body:
        raise ListError("The file has a header but no rows: add a row per recipient.")
    if len(body) > max_rows:
        raise ListError(
            f"The file has {len(body):,} rows; a list can have up to {max_rows:,} "
            "(SMSBOT_MAX_LIST_ROWS). Split it into several sends."
        )
    return _check_rows(body, header, number_at, template, region, allowed, blocked)


def _number_column(header: list[str]) -> int:
    found = [i for i, h in enumerate(header) if h in NUMBER_COLUMNS]
    if len(found) != 1:
        why = "has no" if not found else "has more than one"
        raise ListError(
            f"The header row {why} column of numbers: name exactly one column `number`, `phone` or "
            f"`mobile` (the header is {', '.join(header) or 'empty'})."
        )
    return found[0]


def _check_rows(body, header, number_at, template, region, allowed, blocked) -> ListRead:
    bad: list[str] = []
    first: dict[str, int] = {}
    recipients, texts, duplicates = [], [], []
    for row_number, cells in body:
        cells = cells + [""] * (len(header) - len(cells))
        try:
            number = _number(cells[number_at].strip(), region, allowed)
            values = {h: cells[i] for i, h in enumerate(header) if i != number_at and h}
            filled = templates.fill(template, {k: values[k] for k in templates.keys(template)})
            info = smsrules.check_text(filled)
        except SmsRuleError as error:
            bad.append(f"row {row_number}: {_first_sentence(str(error))}")
            continue
        if number in first:
            duplicates.append((row_number, number, first[number]))
            continue
        first[number] = row_number
        recipients.append(number)
        texts.append((filled, info))
    if bad:
        more = f"\n…and {len(bad) - ROWS_NAMED} more bad rows." if len(bad) > ROWS_NAMED else ""
        raise ListError(
            f"{len(bad)} of {len(body)} rows can't be sent, so nothing was sent. Fix them and upload "
            "the file again:\n" + "\n".join(bad[:ROWS_NAMED]) + more
        )
    stopped = blocked(recipients) if blocked is not None and recipients else set()
    opted_out = [(first[n], n) for n in recipients if n in stopped]
    kept = [(n, t) for n, t in zip(recipients, texts, strict=True) if n not in stopped]
    if not kept:
        raise ListError(
            f"Every number in the list ({plural(len(recipients), 'number')}) is on the do-not-contact "
            "list (opted out), so there is nobody to send to. Check a number with "
            "`/sms optout check NUMBER`."
        )
    longest = max((info for _, (_, info) in kept), key=lambda i: (i.parts, i.units))
    plan = SendPlan(
        recipients=[n for n, _ in kept],
        text=template,
        info=longest,
        texts=[t for _, (t, _) in kept],
        part_counts=[info.parts for _, (_, info) in kept],
    )
    return ListRead(plan, len(body), duplicates, opted_out)


def _number(cell: str, region: str | None, allowed: frozenset[str]) -> str:
    if not cell:
        raise RecipientError("the number is empty.", cell)
    if _DAMAGED.fullmatch(cell):
        raise RecipientError(f"‘{cell}’ is a number a spreadsheet has damaged (its digits are lost): {TEXT_FIX}.", cell)
    try:
        return read_number(cell, region, allowed).number
    except RecipientError as error:
        if error.reason == "can be read two ways":  # e.g. a South African number that lost its leading 0
            raise RecipientError(
                f"{_first_sentence(str(error))} If the spreadsheet dropped a leading 0, {TEXT_FIX}.", cell
            ) from None
        raise


def _first_sentence(text: str) -> str:
    return text if len(text) < 200 else text[:197] + "…"
