"""SMS Office delivery-report codes: each StatusID, its meaning, and which are final."""

from __future__ import annotations

import enum


class DlrStatus(enum.IntEnum):
    SUBMITTED = 100
    DELIVERED = 200
    FAILED = 300
    NO_ROUTE = 400


SUBMITTED, DELIVERED, FAILED, NO_ROUTE = DlrStatus

# The gateway's own statusMessage for each StatusID (spec, section 3); looked up by a report's plain int.
MESSAGES: dict[int, str] = {
    SUBMITTED: "Submitted to gateway",
    DELIVERED: "Delivered to Mobile",
    FAILED: "Delivery Failed",
    NO_ROUTE: "Route not available",
}
FINAL = frozenset({DELIVERED, FAILED, NO_ROUTE})  # 100 is provisional; status only moves forward
FAILURES = frozenset({FAILED, NO_ROUTE})  # final, and the SMS did not arrive
ROUTINE = frozenset({SUBMITTED, DELIVERED})  # progress, not news


def is_known(status_id: int) -> bool:
    return status_id in MESSAGES


def is_forward(current: int | None, new: int) -> bool:
    """Whether a report with status ``new`` may replace ``current``."""
    if current is None:
        return True
    if current in FINAL:
        return False
    return new != current
