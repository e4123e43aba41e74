"""Delivery-report status codes of the SMS Office spec (section 3): what each means, which are final."""
from __future__ import annotations

SUBMITTED, DELIVERED, FAILED, NO_ROUTE = 100, 200, 300, 400
MEANINGS = {SUBMITTED: "Submitted to gateway", DELIVERED: "Delivered to Mobile",
            FAILED: "Delivery Failed", NO_ROUTE: "Route not available"}
FINAL = frozenset({DELIVERED, FAILED, NO_ROUTE})
