import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from itertools import pairwise
from urllib.parse import parse_qsl

import pytest
import requests

from bot.simulator.simulator import Simulator
from bot.web.server import ServerThread

USER, PASSWORD = "acct", "s3cret-pass"
FAST = 72000  # retry intervals 60 min / 3 h / 12 h become 0.05 s / 0.15 s / 0.6 s


def wait_until(predicate, timeout=5.0):
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def call(sim, endpoint, client=requests, **params):
    creds = {"username": USER, "password": PASSWORD}
    return client.get(sim.api_url + endpoint, params={**creds, **params}, timeout=5)


def send(sim, client=requests, **params):
    return call(sim, "sendsms.asp", client, **{"from": "Test", "to": "27831234567", "message": "Hello world", **params})


@pytest.fixture
def make_sim():
    started = []

    def make(**kwargs):
        kwargs.setdefault("balance", Decimal("10.00"))
        sim = Simulator(USER, PASSWORD, **kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim):
    return make_sim()


class Receiver:
    """A delivery-report endpoint that records each request and answers scripted statuses."""

    def __init__(self, statuses=()):
        self._statuses = list(statuses)  # answered in turn, then 200
        self._lock = threading.Lock()
        self.calls = []  # (query parameters, time.monotonic() of arrival)
        self.server = ServerThread(self.app, name="receiver").start()
        self.url = self.server.url + "/dlr"

    def app(self, environ, start_response):
        with self._lock:
            self.calls.append((dict(parse_qsl(environ["QUERY_STRING"])), time.monotonic()))
            status = self._statuses.pop(0) if self._statuses else 200
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [b"ok"]

    def status_ids(self):
        with self._lock:
            return [int(params["StatusID"]) for params, _ in self.calls]

    def gaps(self):
        with self._lock:
            times = [at for _, at in self.calls]
        return [b - a for a, b in pairwise(times)]


@pytest.fixture
def make_receiver():
    receivers = []

    def make(statuses=()):
        receivers.append(Receiver(statuses))
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.server.stop()


# --- balance and login ------------------------------------------------------------


def test_balance_has_two_decimals(sim):
    assert call(sim, "balance.asp").text == "10.00"
    sim.balance = Decimal("1234.5")
    response = call(sim, "balance.asp")
    assert response.text == "1234.50"
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("endpoint", ["balance.asp", "sendsms.asp"])
def test_wrong_password_is_login_failed(sim, endpoint):
    response = call(sim, endpoint, password="wrong", **{"from": "Test", "to": "27831234567", "message": "Hi"})
    assert response.text == "Error: Login Failed"
    assert sim.messages == [] and sim.balance == Decimal("10.00")


def test_parameter_names_are_case_insensitive(sim):
    response = requests.get(
        sim.api_url + "sendsms.asp",
        params={"Username": USER, "PASSWORD": PASSWORD, "From": "Test", "To": "27831234567", "Message": "Hi"},
        timeout=5,
    )
    assert response.text.startswith("Success:")


def test_post_form_is_accepted(sim):
    response = requests.post(
        sim.api_url + "sendsms.asp",
        data={
            "username": USER,
            "password": PASSWORD,
            "from": "Test",
            "to": "27831234567",
            "message": "Hello & goodbye",
        },
        timeout=5,
    )
    assert response.text.startswith("Success:")
    assert sim.messages[0].text == "Hello & goodbye"


def test_unknown_path_is_404(sim):
    assert requests.get(sim.api_url + "nope.asp", timeout=5).status_code == 404


# --- sendsms errors, in the gateway's order -----------------------------------------


@pytest.mark.parametrize(
    "params, answer",
    [
        ({"password": "wrong", "from": "bad sender!"}, "Error: Login Failed"),
        ({"from": ""}, "Error:Invalid [from] parameter"),
        ({"from": "ABCDEFGHIJKL"}, "Error:Invalid [from] parameter"),  # 12 characters
        ({"from": "My Shop", "to": ""}, "Error:Invalid [from] parameter"),  # from is checked first
        ({"to": ""}, "Error:Invalid [to] parameter"),
        ({"to": "+27831234567"}, "Error:Invalid [to] parameter"),
        ({"to": "27831234567,27821234567"}, "Error:Invalid [to] parameter"),
        ({"to": "0831234567", "message": ""}, "Error:Number must start with international prefix, 0 not allowed."),
        ({"message": ""}, "Error:Invalid [message] parameter"),
        ({"message": "a" * 621}, "Error:Invalid [message] parameter"),
        ({"message": "a" * 613}, "Error:Max of 4 parts per message exceeded"),
        ({"message": "ł" * 269}, "Error:Max of 4 parts per message exceeded"),
        ({"message": "😀" * 134}, "Error:Max of 4 parts per message exceeded"),  # 268 units, 33 emoji a part
        ({"message": "a" * 458 + "€" + "a" * 152}, "Error:Max of 4 parts per message exceeded"),  # 612 septets
    ],
)
def test_each_error_line_of_the_spec(sim, params, answer):
    assert send(sim, **params).text == answer
    assert sim.messages == [] and sim.balance == Decimal("10.00")


def test_sender_of_eleven_alphanumerics_is_accepted(sim):
    assert send(sim, **{"from": "ABCDEFGHIJK"}).text.startswith("Success:")
    assert sim.messages[0].sender == "ABCDEFGHIJK"


# --- credits and ids ----------------------------------------------------------------


@pytest.mark.parametrize(
    "message, parts",
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("ł" * 71, 2),
        ("a" * 612, 4),
        ("a" * 152 + "€" + "a" * 152, 3),  # the € moves to part 2
        ("😀" * 67, 3),
    ],
)
def test_each_part_costs_one_credit(sim, message, parts):
    assert send(sim, message=message).text.startswith("Success:")
    assert sim.balance == Decimal("10.00") - parts
    assert sim.messages[0].parts == parts


def test_not_enough_credits_leaves_the_balance(sim):
    sim.balance = Decimal("1")
    assert send(sim, message="a" * 200).text == "Error: Not enough credits"
    assert sim.balance == Decimal("1") and sim.messages == []
    assert send(sim, message="a" * 150).text.startswith("Success:")  # 1 part: exactly enough
    assert call(sim, "balance.asp").text == "0.00"


def test_tracking_ids_are_unique_and_increasing(sim, make_sim):
    ids = [int(send(sim).text.removeprefix("Success:")) for _ in range(5)]
    assert ids == sorted(set(ids))
    assert [m.id for m in sim.messages] == [str(i) for i in ids]
    later_run = make_sim()
    assert int(send(later_run).text.removeprefix("Success:")) > max(ids)


# --- outage, hold, concurrency, connections, latency --------------------------------


def test_outage_answers_the_status_until_cleared(sim):
    sim.outage = 503
    for response in (call(sim, "balance.asp"), send(sim)):
        assert response.status_code == 503 and 0 < len(response.text) < 100
    assert sim.messages == []
    sim.outage = None
    assert send(sim).text.startswith("Success:")


def test_held_sends_wait_until_release(sim):
    sim.hold()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(send, sim)
        time.sleep(0.2)
        assert not pending.done() and sim.messages == []
        assert call(sim, "balance.asp").text == "10.00"  # only sendsms is held
        sim.release()
        assert pending.result(timeout=5).text.startswith("Success:")


def test_max_concurrent_counts_parallel_requests(sim):
    sim.hold()
    with ThreadPoolExecutor(2) as pool:
        pending = [pool.submit(send, sim) for _ in range(2)]
        wait_until(lambda: sim.max_concurrent == 2)
        sim.release()
        assert all(f.result(timeout=5).text.startswith("Success:") for f in pending)


def test_one_client_in_turn_stays_at_one_connection_and_concurrency(sim):
    with requests.Session() as client:
        for _ in range(3):
            assert send(sim, client).text.startswith("Success:")
    assert sim.max_concurrent == 1
    assert len(sim.connections) == 1
    for _ in range(2):
        send(sim)  # requests.get opens a new connection each time
    assert len(sim.connections) == 3


def test_latency_slows_each_call(make_sim):
    sim = make_sim(latency=0.2)
    started = time.monotonic()
    assert call(sim, "balance.asp").text == "10.00"
    assert time.monotonic() - started >= 0.2


# --- logging ------------------------------------------------------------------------


def test_log_lines_name_the_send_but_never_the_password(sim, caplog):
    caplog.set_level("INFO", logger="bot.simulator.simulator")
    message_id = send(sim, message="a" * 200).text.removeprefix("Success:")
    call(sim, "balance.asp")
    send(sim, to="0831234567")
    assert f"event=sim_send to=+27...567 id={message_id} parts=2" in caplog.text
    assert "event=sim_refused call=sendsms.asp reason=prefix" in caplog.text
    assert PASSWORD not in caplog.text


# --- delivery reports ---------------------------------------------------------------


def test_default_reports_are_submitted_then_delivered(make_sim, make_receiver):
    receiver = make_receiver()
    sim = make_sim(callback_url=receiver.url, dlr_delay=0.1)
    message_id = send(sim, **{"from": "Shop1", "to": "27821234567"}).text.removeprefix("Success:")
    wait_until(lambda: len(receiver.calls) == 2)
    assert [params for params, _ in receiver.calls] == [
        {
            "messageid": message_id,
            "to": "27821234567",
            "from": "Shop1",
            "StatusID": "100",
            "statusMessage": "Submitted to gateway",
        },
        {
            "messageid": message_id,
            "to": "27821234567",
            "from": "Shop1",
            "StatusID": "200",
            "statusMessage": "Delivered to Mobile",
        },
    ]
    assert receiver.gaps()[0] > 0.05  # about dlr_delay apart, not at once
    wait_until(lambda: len(sim.reports) == 2)
    assert [(r.messageid, r.status_id, r.result) for r in sim.reports] == [
        (message_id, 100, 200),
        (message_id, 200, 200),
    ]


@pytest.mark.parametrize(
    "mode, statuses, message",
    [
        ("failed", [100, 300], "Delivery Failed"),
        ("route", [400], "Route not available"),
        ("duplicate", [100, 200, 200], "Delivered to Mobile"),
        ("out_of_order", [200, 100], "Submitted to gateway"),
        ("none", [], None),
    ],
)
def test_report_modes(make_sim, make_receiver, mode, statuses, message):
    receiver = make_receiver()
    sim = make_sim(callback_url=receiver.url, dlr_delay=0.01, dlr_mode=mode)
    send(sim)
    wait_until(lambda: len(receiver.calls) == len(statuses))
    time.sleep(0.1)  # ten report intervals: nothing more may arrive
    assert receiver.status_ids() == statuses
    if message:
        assert receiver.calls[-1][0]["statusMessage"] == message


def test_per_recipient_mode_overrides_the_default(make_sim, make_receiver):
    receiver = make_receiver()
    sim = make_sim(callback_url=receiver.url, dlr_delay=0.01)
    sim.dlr_modes["27821234567"] = "failed"
    send(sim, to="27821234567")
    wait_until(lambda: len(receiver.calls) == 2)
    assert receiver.status_ids() == [100, 300]


def test_http_500_is_retried_on_the_scaled_schedule_until_a_200(make_sim, make_receiver):
    receiver = make_receiver(statuses=[500, 500])
    sim = make_sim(callback_url=receiver.url, dlr_delay=0.01, dlr_mode="route", speed=FAST)
    send(sim)
    wait_until(lambda: len(receiver.calls) == 3)
    first, second = receiver.gaps()
    assert 0.05 <= first < 0.15  # 60 minutes, scaled
    assert 0.15 <= second < 0.6  # 3 more hours, scaled
    time.sleep(0.7)  # past the 12-hour retry: the 200 ended the retries
    assert receiver.status_ids() == [400, 400, 400]
    assert [r.result for r in sim.reports] == [500, 500, 200]


def test_a_report_is_dropped_after_three_retries(make_sim, make_receiver):
    receiver = make_receiver(statuses=[500] * 10)
    sim = make_sim(callback_url=receiver.url, dlr_delay=0.01, dlr_mode="route", speed=FAST)
    send(sim)
    wait_until(lambda: len(receiver.calls) == 4)
    assert receiver.gaps()[2] >= 0.6  # 12 more hours, scaled
    time.sleep(0.2)
    assert len(receiver.calls) == 4


def test_other_error_statuses_count_as_delivered(make_sim, make_receiver):
    receiver = make_receiver(statuses=[404])
    sim = make_sim(callback_url=receiver.url, dlr_delay=0.01, dlr_mode="route", speed=FAST)
    send(sim)
    wait_until(lambda: len(sim.reports) == 1)
    time.sleep(0.15)  # past the first retry time
    assert [r.result for r in sim.reports] == [404]


def test_network_errors_are_retried(make_sim):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sim = make_sim(callback_url=f"http://127.0.0.1:{closed_port}/dlr", dlr_delay=0.01, dlr_mode="route", speed=FAST)
    send(sim)
    wait_until(lambda: len(sim.reports) == 2)
    first, second = sim.reports
    assert first.result == second.result == "ConnectionError"
    assert second.at - first.at >= 0.05


def test_stop_ends_pending_reports_promptly(make_receiver):
    receiver = make_receiver()
    sim = Simulator(USER, PASSWORD, callback_url=receiver.url, dlr_delay=30).start()
    send(sim)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 1
    assert not [t for t in threading.enumerate() if t.name in ("simulator", "simulator-dlr")]
    assert receiver.calls == []


# --- the callback secret stays out of the simulator's log -----------------------------

DLR_SECRET = "dlr-secret-4f9a8b7c6d5e"


def test_the_callback_secret_is_masked_in_every_log_line_including_retries(make_sim, caplog):
    with socket.socket() as probe:  # nobody listens: every report is retried
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level("INFO", logger="bot.simulator.simulator")
    sim = make_sim(
        callback_url=f"http://127.0.0.1:{port}/sms/dlr/{DLR_SECRET}", dlr_delay=0.01, dlr_mode="route", speed=FAST
    )
    send(sim)
    wait_until(lambda: len(sim.reports) >= 3)
    retries = [r.getMessage() for r in caplog.records if "event=sim_report_retry" in r.getMessage()]
    assert retries and all("/sms/dlr/***" in line for line in retries)
    assert DLR_SECRET not in caplog.text
