"""The outbox: jobs for Slack that coalesce, wait for their time, retry, survive a crash and are forgotten
once finished — on a real SQLite file."""

from bot.storage.db import Database
from bot.storage.outbox import JobState, Outbox

NOW = 1_000.0
WEEK = 7 * 86400


def add(outbox, kind="post", now=NOW, **fields) -> None:
    with outbox.db.transaction() as conn:
        outbox.add(conn, kind, now, **fields)


def due_ids(outbox, now=NOW) -> list[int]:
    return [job["id"] for job in outbox.due(now)]


def states(outbox) -> dict[int, str]:
    return {r["id"]: r["state"] for r in outbox.db.conn.execute("SELECT id, state FROM outbox")}


def test_changes_to_one_thing_become_one_job_carrying_the_first_payload(outbox):
    for n in range(3):
        add(outbox, "status", key="batch:1", payload={"n": n})
    add(outbox, "status", key="batch:2")
    jobs = outbox.due(NOW)
    assert [(j["kind"], j["key"]) for j in jobs] == [("status", "batch:1"), ("status", "batch:2")]
    assert Outbox.payload(jobs[0]) == {"n": 0}  # the job renders the latest state when it runs
    assert outbox.depth() == 2


def test_jobs_without_a_key_never_coalesce_and_kinds_do_not_mix(outbox):
    add(outbox, "reply", payload={"text": "one"})
    add(outbox, "reply", payload={"text": "two"})
    add(outbox, "post", key="batch:1")
    add(outbox, "status", key="batch:1")
    assert [Outbox.payload(j).get("text") for j in outbox.due(NOW)] == ["one", "two", None, None]
    assert outbox.depth() == 4


def test_a_change_that_lands_while_its_job_runs_gets_a_job_of_its_own(outbox):
    add(outbox, "status", key="batch:1")
    [running] = outbox.due(NOW)
    outbox.start(running["id"])
    assert outbox.due(NOW) == []  # a job being worked on is not handed out again
    add(outbox, "status", key="batch:1")
    [newer] = outbox.due(NOW)
    assert newer["id"] != running["id"]
    assert outbox.depth() == 2  # the running one still counts until it is done


def test_jobs_come_out_oldest_first_and_not_before_their_time(outbox):
    add(outbox, "reply", not_before=NOW + 30, payload={"text": "later"})
    add(outbox, "reply", payload={"text": "first"})
    add(outbox, "reply", payload={"text": "second"})
    assert [Outbox.payload(j)["text"] for j in outbox.due(NOW)] == ["first", "second"]
    assert [Outbox.payload(j)["text"] for j in outbox.due(NOW, limit=1)] == ["first"]
    assert [Outbox.payload(j)["text"] for j in outbox.due(NOW + 30)] == ["later", "first", "second"]
    assert outbox.next_due_at() == NOW


def test_a_failed_attempt_waits_for_its_retry_time_and_keeps_the_error(outbox):
    add(outbox, "post", key="batch:1")
    [job] = outbox.due(NOW)
    outbox.start(job["id"])
    outbox.retry(job["id"], "ratelimited", next_attempt_at=NOW + 7)
    assert outbox.due(NOW + 6.9) == [] and outbox.next_due_at() == NOW + 7
    [again] = outbox.due(NOW + 7)
    assert again["id"] == job["id"] and again["attempts"] == 1 and again["last_error"] == "ratelimited"


def test_a_retry_gives_way_to_a_newer_change_of_the_same_thing(outbox):
    add(outbox, "status", key="batch:1")
    [old] = outbox.due(NOW)
    outbox.start(old["id"])
    add(outbox, "status", key="batch:1")  # the send changed again while Slack was failing
    outbox.retry(old["id"], "HTTP 503", next_attempt_at=NOW + 2)
    [newer] = outbox.due(NOW + 2)
    assert newer["id"] != old["id"]
    assert states(outbox)[old["id"]] == "superseded" and outbox.depth() == 1  # one edit, not two


def test_finished_jobs_are_not_handed_out_again(outbox):
    add(outbox, "post", key="batch:1")
    add(outbox, "reply")
    first, second = outbox.due(NOW)
    for job in (first, second):
        outbox.start(job["id"])
    outbox.finish(first["id"], NOW)
    outbox.finish(second["id"], NOW, JobState.FAILED, error="JSONDecodeError")
    assert outbox.due(NOW + WEEK) == [] and outbox.depth() == 0 and outbox.next_due_at() is None
    assert states(outbox) == {first["id"]: "done", second["id"]: "failed"}


def test_after_a_crash_jobs_under_way_are_pending_again_and_due_at_once(tmp_path):
    path = str(tmp_path / "crash.db")
    before = Database(path)
    before.migrate()
    outbox = Outbox(before)
    add(outbox, "post", key="batch:1")
    add(outbox, "reply")
    for job in outbox.due(NOW):
        outbox.start(job["id"])
    before.close()  # the process died here
    after = Database(path)
    try:
        restarted = Outbox(after)
        assert restarted.due(NOW) == []
        assert restarted.recover() == 2
        assert [(j["kind"], j["attempts"]) for j in restarted.due(NOW)] == [("post", 1), ("reply", 1)]
        assert restarted.recover() == 0  # nothing left under way
    finally:
        after.close()


def test_recovering_a_job_that_was_overtaken_keeps_only_the_newer_one(outbox):
    add(outbox, "status", key="batch:1")
    [old] = outbox.due(NOW)
    outbox.start(old["id"])
    add(outbox, "status", key="batch:1")
    assert outbox.recover() == 1
    [kept] = outbox.due(NOW)
    assert kept["id"] != old["id"] and outbox.depth() == 1


def test_purge_forgets_finished_jobs_older_than_the_cutoff_and_never_unfinished_ones(outbox):
    for _ in range(4):
        add(outbox, "reply")
    done, failed, working, _pending = due_ids(outbox)
    for job_id in (done, failed, working):
        outbox.start(job_id)
    outbox.finish(done, NOW)
    outbox.finish(failed, NOW + 10, JobState.FAILED, error="channel_not_found")
    assert outbox.purge(before=NOW) == 0  # finished exactly at the cutoff: kept
    assert outbox.purge(before=NOW + 5) == 1
    assert outbox.purge(before=NOW + WEEK) == 1
    assert sorted(states(outbox).values()) == ["pending", "working"] and outbox.depth() == 2
