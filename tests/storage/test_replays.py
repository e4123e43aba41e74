"""Slack requests already accepted (bot/storage/replays.py): a repeat within the signature window gets
the first answer, even after a restart; after the window the key is forgotten."""

from bot.storage.db import Database
from bot.storage.replays import FORGET_EVERY_SECONDS, IN_FLIGHT, MARGIN_SECONDS, WINDOW_SECONDS, Answer, Replays
from tests.conftest import inserts_refused

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


def test_a_repeat_in_this_process_is_known_at_once_and_its_answer_lasts_a_restart(tmp_path):
    path = str(tmp_path / "replays.db")
    first = Database(path)
    try:
        first.migrate()
        replays = Replays(first)
        assert replays.begin("req-4", NOW, NOW) is None  # new: now in flight here
        assert replays.begin("req-4", NOW, NOW + 1) == IN_FLIGHT  # a repeat while it runs: nothing stored yet
        with replays.carried("req-4", NOW, NOW) as claim, first.transaction() as conn:
            first.set_kv(conn, "the request's own write", "x")
        assert claim.stored
        replays.answered_soon("req-4", Answer(200, "text/plain", b"Queued"))
        assert replays.begin("req-4", NOW, NOW + 2).body == b"Queued"  # at once, before it is committed
    finally:
        first.close()  # commits the answer
    second = Database(path)
    try:
        assert Replays(second).stored("req-4", NOW + 3).body == b"Queued"
        assert Replays(second).stored("req-4", NOW + WINDOW_SECONDS + MARGIN_SECONDS + 1) is None  # expired
    finally:
        second.close()


def test_a_record_carried_by_a_write_that_fails_is_not_stored(db):
    replays = Replays(db)
    with inserts_refused(db, "kv", "disk full"), replays.carried("req-5", NOW, NOW) as claim:
        try:
            with db.transaction() as conn:
                db.set_kv(conn, "k", "v")
        except Exception:
            pass
    assert claim.written and not claim.stored and not claim.unstorable  # the request's own write said why
    assert replays.stored("req-5", NOW) is None


def test_this_process_forgets_a_key_after_its_window_too(db):
    replays = Replays(db)
    assert replays.begin("req-6", NOW, NOW) is None
    assert replays.begin("req-6", NOW, NOW + WINDOW_SECONDS) == IN_FLIGHT  # still inside the window
    assert replays.begin("req-6", NOW, NOW + WINDOW_SECONDS + MARGIN_SECONDS + 1) is None  # new again


def test_a_record_past_its_window_not_yet_deleted_is_new_again_and_old_answers_go_within_seconds(db):
    replays = Replays(db)
    expires = NOW + WINDOW_SECONDS + MARGIN_SECONDS
    assert replays.claim("req-old", NOW, NOW) is None
    replays.answered("req-old", 200, "application/json", b'{"text": "Queued for 27831234567"}')
    assert replays.claim("req-new", expires - 5, expires - 5) is None  # deletes what was past its window then
    # 6 s later req-old is past its window, but expired answers are deleted at most every FORGET_EVERY_SECONDS
    assert db.conn.execute("SELECT count(*) FROM slack_requests WHERE key = 'req-old'").fetchone()[0] == 1
    assert replays.claim("req-old", NOW, expires + 1) is None  # new again: replaced, not taken for a repeat
    assert replays.stored("req-old", expires + 1) == Answer(None, "", b"")  # its old answer is gone with it
    replays.claim("req-other", expires + FORGET_EVERY_SECONDS, expires + FORGET_EVERY_SECONDS)
    keys = [row[0] for row in db.conn.execute("SELECT key FROM slack_requests ORDER BY key")]
    assert keys == ["req-new", "req-old", "req-other"]  # none past its window
