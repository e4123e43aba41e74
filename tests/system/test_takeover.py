"""Take-over, measured (issue 21, section 4): two real `smsbot run` replicas on one PostgreSQL, the in-process
simulator as the gateway (its ``max_concurrent`` counts gateway calls in progress across both processes).

Each test makes its own database and gives each replica its own folder (SMSBOT_DB: its journal lives there).
Lease times are small (SMSBOT_LEASE_SECONDS) so that a take-over takes seconds; each test prints what it
measured. The Slack commands go to the standby: its wake-up reaches the leader through LISTEN/NOTIFY."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from bot.testing.slack_requests import command_body, sign
from bot.web.routes import callback_path
from tests.conftest import SIGNING_SECRET, create_database, drop_database, wait_for
from tests.process import CALLBACK_SECRET, Running, start_bot
from tests.system.test_faults import thread
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres

SLACK_LIMIT_SECONDS = 3.0  # Slack gives up on an answer after 3 s


@pytest.fixture
def pg(request):
    url = create_database("smsbot_takeover")
    yield url
    drop_database(url)


def replica(tmp_path, name, simulator, fake_slack, url, **env) -> Running:
    """One `smsbot run` on ``url`` with its own folder (its SMSBOT_DB, where its journal lives)."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    settings = {"SMSBOT_DATABASE_URL": url, "SMSBOT_CONFIRM_ABOVE": "100000", "SMSBOT_LOG_LEVEL": "INFO", **env}
    return start_bot(folder, simulator, fake_slack, **settings)


def health(bot: Running, timeout: float = 5.0) -> dict:
    return requests.get(bot.url + "/healthz", timeout=timeout).json()


def leads(bot: Running) -> bool:
    """It holds the lease and has waited out the old leader (its workers run)."""
    try:
        details = health(bot)
    except requests.RequestException:
        return False
    return details["role"] == "leader" and details["taking_over_seconds"] is None


def command(bot: Running, fake_slack, text: str, timeout: float = 10.0) -> tuple[str, float]:
    """A signed slash command to ``bot``: (its answer, how long it took)."""
    body = command_body(text, response_url=fake_slack.response_url("takeover"))
    started = time.monotonic()
    response = requests.post(bot.url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=timeout)
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    return response.json()["text"], took


def numbers(count: int, first: int = 0) -> list[str]:
    return [f"2783{n:07d}" for n in range(first, first + count)]


def burst(bot: Running, fake_slack, recipients: list[str], text: str = "Drill") -> None:
    """One send to all of ``recipients``, through a group (added in chunks: one command line stays short)."""
    for start in range(0, len(recipients), 100):
        answer, _ = command(bot, fake_slack, "group add burst " + ",".join(recipients[start : start + 100]))
        assert "burst" in answer, answer
    answer, _ = command(bot, fake_slack, f"send burst {text}")
    assert f"Queued {len(recipients)} SMS" in answer, answer


def rows(url: str) -> dict[str, tuple[str, str | None]]:
    """recipient → (status, tracking number) of every stored SMS."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT recipient, status, tracking_id FROM messages")}


def statuses(url: str) -> Counter:
    return Counter(status for status, _ in rows(url).values())


def sent_once(simulator) -> Counter:
    """How many times the gateway took each recipient's SMS."""
    return Counter(m.to for m in simulator.messages)


def in_flight(simulator) -> bool:
    """A sendsms call has reached the gateway and waits for its answer (held)."""
    return sum(1 for name, _ in simulator.calls if name == "sendsms.asp") > len(simulator.messages)


def first_sent_at(url: str, epoch: int) -> float | None:
    """When the first SMS claimed in term ``epoch`` was taken by the gateway (wall clock)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT min(sent_at) FROM messages WHERE epoch = %s", (epoch,)).fetchone()[0]


def reports_stored(url: str) -> Counter:
    """Of the SMS sent, how many have their final delivery report stored (dlr_status_id 200) and how many not."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT dlr_status_id = 200 FROM messages WHERE status = 'sent'").fetchall()
    return Counter("delivered" if r[0] else "waiting" for r in found)


class Prober:
    """Slash commands to a replica from a thread, every ``every`` s until stopped: ``/sms history`` and
    ``/sms send`` in turn; each one's answer time is kept (Slack's limit is 3 s)."""

    def __init__(self, bot: Running, fake_slack, every: float = 0.3) -> None:
        self.bot, self.fake_slack, self.every = bot, fake_slack, every
        self.times: list[float] = []
        self.sent_to: list[str] = []
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            to = f"2782{n:07d}"
            text = "history" if n % 2 else f"send {to} Take-over check {n}"
            try:
                answer, took = command(self.bot, self.fake_slack, text)
            except Exception as error:  # a hang or a refusal: kept, the test fails on it
                self.problems.append(f"{text!r}: {error}")
            else:
                self.times.append(took)
                if not n % 2:
                    if "Queued 1 SMS" in answer:
                        self.sent_to.append(to)
                    else:
                        self.problems.append(f"{text!r}: {answer}")
            self._stop.wait(self.every)


def first_post(fake_slack, channel="C0GENERAL") -> str:
    return fake_slack.messages[channel][0]["ts"]


def pair(tmp_path, simulator, fake_slack, url, **env) -> tuple[Running, Running]:
    """The leader (started first, leading before the second starts) and a standby."""
    leader = replica(tmp_path, "a", simulator, fake_slack, url, **env)
    assert wait_for(lambda: leads(leader), timeout=10), leader.log()
    standby = replica(tmp_path, "b", simulator, fake_slack, url, **env)
    assert health(standby)["role"] == "standby"
    return leader, standby


def test_kill_9_of_the_leader_mid_burst_the_standby_sends_the_rest_once(tmp_path, simulator, fake_slack, pg):
    # a 6 s lease: a take-over takes at most 6 + 1.2 (the standby's next try) + 1 (the clocks' allowance) s
    leader, standby = pair(tmp_path, simulator, fake_slack, pg, SMSBOT_LEASE_SECONDS="6")
    try:
        everyone = numbers(500)
        burst(standby, fake_slack, everyone)
        assert wait_for(lambda: len(simulator.messages) >= 250, timeout=20)
        simulator.hold()  # the next SMS is on the wire when the leader dies, in the middle of the burst
        assert wait_for(lambda: in_flight(simulator), timeout=5)
        with Prober(standby, fake_slack) as prober:
            leader.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            leader.proc.wait(timeout=5)
            simulator.release()  # the gateway takes the one on the wire: nobody will ever hear its answer
            assert wait_for(lambda: not in_flight(simulator), timeout=5)
            on_the_wire = simulator.messages[-1].to
            before = len(simulator.messages)
            assert before < 500, "the burst was over before the kill"
            assert wait_for(lambda: len(simulator.messages) > before, timeout=15)
            first = time.monotonic() - killed
            assert wait_for(lambda: not {"queued", "sending"} & set(statuses(pg)), timeout=15)
            done = time.monotonic() - killed
        print(
            f"\nkill -9 mid-burst: {before} SMS sent before; the standby sent the next {first:.1f} s after the kill "
            f"and the last {done:.1f} s after (lease 6 s); {len(prober.times)} commands to the standby meanwhile, "
            f"slowest {max(prober.times):.2f} s"
        )
        assert done < 15, done
        assert prober.problems == [] and max(prober.times) < SLACK_LIMIT_SECONDS
        everyone += prober.sent_to
        assert wait_for(lambda: not {"queued", "sending"} & set(statuses(pg)), timeout=5)
        stored = rows(pg)
        assert set(stored) == set(everyone)  # nothing lost
        assert statuses(pg) == Counter(sent=len(everyone) - 1, unconfirmed=1)
        assert stored[on_the_wire][0] == "unconfirmed"  # never resent blindly
        assert len(simulator.messages) == len(everyone) and set(sent_once(simulator).values()) == {1}
        assert simulator.max_concurrent == 1
        assert fake_slack.wait_for(
            lambda: any(f"can't tell whether the SMS to {on_the_wire}" in t for t in thread(fake_slack)), timeout=10
        )
        assert f"Resend to {on_the_wire}" in json.dumps(fake_slack.thread("C0GENERAL", first_post(fake_slack)))
        assert health(standby)["role"] == "leader"
    finally:
        standby.stop()
        leader.stop()


def test_sigterm_of_the_leader_hands_over_within_5_s_and_the_standby_answers_slack_and_reports(
    tmp_path, simulator, fake_slack, pg
):
    simulator.latency = 0.01  # a burst that lasts a few seconds
    leader, standby = pair(tmp_path, simulator, fake_slack, pg, SMSBOT_LEASE_SECONDS="6")
    simulator.callback_url = standby.url + callback_path(CALLBACK_SECRET)  # reports reach the standby
    simulator.dlr_delay = 0.2
    try:
        everyone = numbers(150)
        burst(standby, fake_slack, everyone)
        assert wait_for(lambda: len(simulator.messages) >= 30, timeout=15)
        epoch = health(leader)["epoch"]
        with Prober(standby, fake_slack) as prober:
            signalled = time.time()
            leader.proc.send_signal(signal.SIGTERM)
            assert leader.proc.wait(timeout=12) == 0
            assert wait_for(lambda: first_sent_at(pg, epoch + 1) is not None, timeout=10)
            handover = first_sent_at(pg, epoch + 1) - signalled
            assert wait_for(lambda: len(simulator.messages) >= 150, timeout=20)
            time.sleep(0.6)  # a few more commands after the hand-over
        print(
            f"\nSIGTERM mid-burst: the standby sent its first SMS {handover:.2f} s after the signal; "
            f"{len(prober.times)} commands to the standby meanwhile, slowest {max(prober.times):.2f} s"
        )
        assert handover < 5, handover
        assert prober.problems == []
        assert max(prober.times) < SLACK_LIMIT_SECONDS
        everyone += prober.sent_to
        assert wait_for(lambda: not {"queued", "sending"} & set(statuses(pg)), timeout=15)
        assert set(rows(pg)) == set(everyone) and statuses(pg) == Counter(sent=len(everyone))  # nothing unconfirmed
        assert len(simulator.messages) == len(everyone) and set(sent_once(simulator).values()) == {1}
        assert simulator.max_concurrent == 1
        assert wait_for(lambda: reports_stored(pg) == Counter(delivered=len(everyone)), timeout=15), reports_stored(pg)
        assert {r.result for r in simulator.reports} == {200}  # every report answered at once, none to resend
        assert health(standby)["role"] == "leader"
    finally:
        standby.stop()
        leader.stop()


def test_a_leader_cut_off_from_the_database_stops_and_the_standby_takes_over_alone(tmp_path, simulator, fake_slack, pg):
    """The leader reaches PostgreSQL through a proxy that is cut with a send on the wire; the standby directly."""
    proxy = TcpProxy("127.0.0.1", int(urlsplit(pg).port or 5432)).start()
    through = urlunsplit(urlsplit(pg)._replace(netloc=f"{urlsplit(pg).netloc.rsplit(':', 1)[0]}:{proxy.port}"))
    lease = 6.0
    simulator.latency = 0.01
    leader = replica(tmp_path, "a", simulator, fake_slack, through, SMSBOT_LEASE_SECONDS=str(lease))
    standby = None
    try:
        assert wait_for(lambda: leads(leader), timeout=10), leader.log()
        standby = replica(tmp_path, "b", simulator, fake_slack, pg, SMSBOT_LEASE_SECONDS=str(lease))
        epoch = health(leader)["epoch"]
        everyone = numbers(60)
        burst(standby, fake_slack, everyone)
        assert wait_for(lambda: len(simulator.messages) >= 10, timeout=15)
        simulator.hold()
        assert wait_for(lambda: in_flight(simulator), timeout=5)
        with Prober(standby, fake_slack) as prober:
            proxy.refuse()  # the leader's database connections are reset, new ones refused
            refused, refused_at = time.monotonic(), time.time()
            simulator.release()  # the gateway answers the leader, which cannot store that answer
            assert wait_for(lambda: not in_flight(simulator), timeout=5)
            on_the_wire = simulator.messages[-1]
            assert wait_for(lambda: health(leader)["role"] == "standby", timeout=lease + 2)
            stood_down = time.monotonic() - refused
            calls_after = [t for name, t in simulator.calls if name == "sendsms.asp" and t > refused]
            assert wait_for(lambda: first_sent_at(pg, epoch + 1) is not None, timeout=15)
            taken_over = first_sent_at(pg, epoch + 1) - refused_at
            assert wait_for(lambda: not {"queued", "sending"} & set(statuses(pg)), timeout=20)
        print(
            f"\ndatabase cut: the leader stood down {stood_down:.1f} s after the cut (lease {lease:g} s); "
            f"the standby sent its first SMS {taken_over:.1f} s after it; "
            f"{len(prober.times)} commands to the standby meanwhile, slowest {max(prober.times):.2f} s"
        )
        assert stood_down < lease
        assert calls_after == []  # the cut leader sent nothing more (and the standby did not lead yet)
        assert prober.problems == [] and max(prober.times) < SLACK_LIMIT_SECONDS
        everyone += prober.sent_to
        assert simulator.max_concurrent == 1  # never two gateway connections at once
        assert len(simulator.messages) == len(everyone) and set(sent_once(simulator).values()) == {1}
        stored = rows(pg)
        assert set(stored) == set(everyone)
        # the answer the cut leader could not store: in its journal; the new leader could only call it unconfirmed
        assert stored[on_the_wire.to] == ("unconfirmed", None)
        assert statuses(pg) == Counter(sent=len(everyone) - 1, unconfirmed=1)
        journal = tmp_path / "a" / "smsbot.db.accepted.jsonl"
        assert on_the_wire.id in journal.read_text()

        leader.stop()  # kill -9: it never got to store that answer
        proxy.restore()
        again = replica(tmp_path, "a", simulator, fake_slack, through, SMSBOT_LEASE_SECONDS=str(lease))
        try:  # its next start applies its journal (it is a standby now: the other one leads)
            assert wait_for(lambda: rows(pg)[on_the_wire.to] == ("sent", on_the_wire.id), timeout=10), again.log()
            assert health(again)["role"] == "standby"
            assert not journal.exists() or journal.read_text() == ""
            assert len(simulator.messages) == len(everyone)  # nothing resent
        finally:
            again.stop(signal.SIGTERM)
    finally:
        if standby is not None:
            standby.stop()
        leader.stop()
        proxy.stop()


def test_postgresql_unreachable_for_30_s_both_replicas_come_back_one_leads_and_nothing_is_lost(
    tmp_path, simulator, fake_slack, pg
):
    """Both replicas reach PostgreSQL through one proxy, which refuses every connection for 30 s mid-burst."""
    proxy = TcpProxy("127.0.0.1", int(urlsplit(pg).port or 5432)).start()
    through = urlunsplit(urlsplit(pg)._replace(netloc=f"{urlsplit(pg).netloc.rsplit(':', 1)[0]}:{proxy.port}"))
    simulator.latency = 0.02
    bots: list[Running] = []
    try:
        bots.append(replica(tmp_path, "a", simulator, fake_slack, through, SMSBOT_LEASE_SECONDS="6"))
        assert wait_for(lambda: leads(bots[0]), timeout=10), bots[0].log()
        bots.append(replica(tmp_path, "b", simulator, fake_slack, through, SMSBOT_LEASE_SECONDS="6"))
        everyone = numbers(100)
        burst(bots[1], fake_slack, everyone)
        assert wait_for(lambda: len(simulator.messages) >= 10, timeout=15)
        proxy.refuse()
        down = time.monotonic()
        answers, healths = [], []
        while time.monotonic() - down < 30:  # what people and the load balancer see meanwhile
            for bot in bots:
                answer, took = command(bot, fake_slack, f"send {numbers(1, 900)[0]} During the outage")
                answers.append((answer, took))
                started = time.monotonic()
                checked = requests.get(bot.url + "/healthz", timeout=10)
                healths.append((checked.status_code, time.monotonic() - started))
            time.sleep(max(0.0, min(3.0, 30 - (time.monotonic() - down))))
        proxy.restore()
        back = time.monotonic()

        def roles() -> list[str]:
            return sorted(health(bot)["role"] for bot in bots if health(bot)["status"] == "ok")

        assert wait_for(lambda: roles() == ["leader", "standby"] and any(leads(bot) for bot in bots), timeout=20)
        recovered = time.monotonic() - back
        leader = next(bot for bot in bots if leads(bot))
        answer, _ = command(bots[0] if leader is bots[1] else bots[1], fake_slack, "send 27839999999 After the outage")
        assert "Queued 1 SMS" in answer, answer
        everyone.append("27839999999")
        assert wait_for(lambda: not {"queued", "sending"} & set(statuses(pg)), timeout=30)
        slowest, slowest_health = max(t for _, t in answers), max(t for _, t in healths)
        print(
            f"\nPostgreSQL refused for 30 s: {len(answers)} commands meanwhile, slowest {slowest:.2f} s; "
            f"/healthz slowest {slowest_health:.2f} s ({sorted({c for c, _ in healths})}); "
            f"one leads {recovered:.1f} s after the restore"
        )
        assert all("couldn't store your request" in a and "nothing was done" in a for a, _ in answers), answers
        assert slowest < SLACK_LIMIT_SECONDS
        assert slowest_health < 5 and {c for c, _ in healths} <= {200, 503}
        stored = rows(pg)
        assert set(stored) == set(everyone)  # nothing queued before the outage lost, nothing from it stored
        # The one SMS the leader had claimed when the database went: its gateway answer, journaled, is stored when
        # the database is back; claimed but not yet sent, it is put back and sent. Only when the other replica
        # leads first and recovers before the cut one has put it back is it unconfirmed (safe: told, Resend).
        unconfirmed = [to for to, (status, _) in stored.items() if status == "unconfirmed"]
        assert statuses(pg) in (Counter(sent=len(everyone)), Counter(sent=len(everyone) - 1, unconfirmed=1))
        went = sent_once(simulator)
        assert set(went.values()) == {1} and set(went) | set(unconfirmed) == set(everyone)
        assert simulator.max_concurrent == 1
        assert sorted(health(bot)["role"] for bot in bots) == ["leader", "standby"]
    finally:
        for bot in bots:
            bot.stop()
        proxy.stop()
