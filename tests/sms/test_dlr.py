"""The delivery-report codes, as SMS Office's spec lists them (section 3)."""

from bot.sms import dlr


def test_the_codes_and_their_messages_are_the_specs():
    assert {int(code): text for code, text in dlr.MESSAGES.items()} == {
        100: "Submitted to gateway",
        200: "Delivered to Mobile",
        300: "Delivery Failed",
        400: "Route not available",
    }


def test_status_only_moves_forward_and_100_is_the_only_provisional_code():
    assert dlr.is_forward(None, 100) and dlr.is_forward(100, 200) and dlr.is_forward(100, 300)
    assert not dlr.is_forward(100, 100)  # the same status again
    for final in (200, 300, 400):
        assert not dlr.is_forward(final, 100) and not dlr.is_forward(final, 200)
    assert dlr.is_forward(100, 150)  # an unknown code after a provisional one is still news
