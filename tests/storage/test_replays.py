"""Slack requests already accepted (bot/storage/replays.py): a repeat within the signature window gets
the first answer, even after a restart; after the window the key is forgotten."""

from bot.storage.db import Database
from bot.storage.replays import MARGIN_SECONDS, WINDOW_SECONDS, Replays

NOW = 1_700_000_000.0


def test_a_repeat_gets_the_first_answer_and_while_it_is_handled_no_answer_yet(db):
    replays = Replays(db)
    assert replays.claim("req-1", NOW, NOW) is None
    in_flight = replays.claim("req-1", NOW, NOW + 1)
    assert in_flight is not None and in_flight.status is None
    replays.answered("req-1", 200, "application/json", b'{"text": "Queued"}')
    again = replays.claim("req-1", NOW, NOW + 2)
    assert (again.status, again.content_type, again.body) == (200, "application/json", b'{"text": "Queued"}')


def test_a_restart_still_knows_what_was_accepted(tmp_path):
    path = str(tmp_path / "replays.db")
    first = Database(path)
    try:
        first.migrate()
        Replays(first).claim("req-2", NOW, NOW)
        Replays(first).answered("req-2", 200, "text/plain", b"ok")
    finally:
        first.close()
    second = Database(path)
    try:
        assert Replays(second).answer("req-2").body == b"ok"
    finally:
        second.close()


def test_after_the_signature_window_the_key_is_forgotten(db):
    replays = Replays(db)
    replays.claim("req-3", NOW, NOW)
    assert replays.claim("req-3", NOW, NOW + WINDOW_SECONDS) is not None  # still inside the window
    assert replays.claim("req-3", NOW, NOW + WINDOW_SECONDS + MARGIN_SECONDS + 1) is None  # new again
