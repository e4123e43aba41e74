"""Fixtures shared by the listener tests."""

import pytest


@pytest.fixture
def costly(driver_with):
    """A send of 3 credits to a bot that asks above 2: (driver, the preview it answered, the pending id)."""
    d = driver_with(SMSBOT_CONFIRM_ABOVE="2")
    response = d.command("send 27831234567,27821234567,27841234567 Generator running")
    assert response.status_code == 200
    body = response.json()
    buttons = [b for b in body["blocks"] if b["type"] == "actions"][0]["elements"]
    return d, body, buttons[0]["value"]
