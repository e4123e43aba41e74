"""How a command's ``--help`` is laid out: shared by ``smsbot`` and ``smsbot simulator``."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.HelpFormatter):
    """Wraps a description to the terminal as usual, and prints text with line breaks (the exit codes)
    as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)
