"""The SMS Office client: parsing, error classification, secrecy, serialisation."""

from __future__ import annotations

import logging
import socket
import threading
import time
import traceback
from decimal import Decimal
from http.client import RemoteDisconnected
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)

from bot.sms.gateway import (
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayRefused,
    GatewayUnavailable,
    InvalidMessage,
    InvalidRecipient,
    InvalidSender,
    LoginFailed,
    NotEnoughCredits,
    NotInternational,
    SmsOfficeClient,
    TooManyParts,
    UnexpectedResponse,
    UnexpectedSendResponse,
)
from bot.web.server import ServerThread

BASE = "http://gw.test/sms/api/"
SEND_URL = BASE + "sendsms.asp"
BALANCE_URL = BASE + "balance.asp"
USER = "acme"
PASSWORD = "s3cr3t&Pa ss"  # '&' and ' ' give it distinct raw, %-encoded and +-encoded forms
SECRET_MARK = "s3cr3t"  # the start of every one of those forms
# The request line as requests/urllib3 put it into their exception messages.
LEAKY_PATH = urlsplit(requests.Request("GET", SEND_URL, params={"username": USER, "password": PASSWORD}).prepare().url)
LEAKY_PATH = f"{LEAKY_PATH.path}?{LEAKY_PATH.query}"

SPEC_ERRORS = [
    ("Error:Invalid [from] parameter", InvalidSender),
    ("Error:Invalid [to] parameter", InvalidRecipient),
    ("Error:Invalid [message] parameter", InvalidMessage),
    ("Error:Number must start with international prefix, 0 not allowed.", NotInternational),
    ("Error: Not enough credits", NotEnoughCredits),
    ("Error:Max of 4 parts per message exceeded", TooManyParts),
    ("Error: Login Failed", LoginFailed),
]
SPELLINGS = {
    "as_specified": lambda line: line,
    "shouting_and_spaced": lambda line: "\r\n  " + line.upper().replace(":", " :  ").replace(" ", "  ") + " \r\n",
    "lower_with_explanation": lambda line: (
        line.lower() + "\r\nExample: sendsms.asp?username=x&password=y&from=ACME&to=27831234567&message=Hello+world"
    ),
}


@pytest.fixture
def gateway():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    client = SmsOfficeClient(BASE, USER, PASSWORD)
    yield client
    client.close()


def send(client: SmsOfficeClient) -> str:
    return client.send("ACME", "27831234567", "Hello")


def assert_no_secret(error: BaseException, caplog) -> None:
    texts = [caplog.text, "".join(traceback.format_exception(error))]
    texts += [str(getattr(error, name, "")) for name in ("message", "hint", "gateway_line", "body")]
    link: BaseException | None = error
    while link is not None:
        texts += [str(link), repr(link), *map(str, link.args), *map(repr, link.args)]
        link = link.__cause__ or link.__context__
    assert not [text for text in texts if SECRET_MARK in text]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def hangup_url():
    """A server that reads each request and closes the connection without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/sms/api/"
    stop.set()
    thread.join(1)
    listener.close()


# -- balance ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, credits",
    [
        ("1234.56", "1234.56"),
        ("Success: 1234.56", "1234.56"),
        ("success:1234.56:", "1234.56"),
        (" \r\n1234.56\r\n", "1234.56"),
        ("SUCCESS : 0.00", "0.00"),
        ("1,234.56", "1234.56"),
        ("12", "12"),
    ],
)
def test_balance_reads_the_credits_in_any_reasonable_form(gateway, client, body, credits):
    gateway.get(BALANCE_URL, body=body)
    assert client.balance() == Decimal(credits)


def test_balance_asks_balance_asp_under_the_api_url_even_without_a_trailing_slash(gateway):
    gateway.get(BALANCE_URL, body="Success: 10.00")
    client = SmsOfficeClient(BASE.rstrip("/"), USER, PASSWORD)
    assert client.balance() == Decimal("10.00")
    sent = urlsplit(gateway.calls[0].request.url)
    assert sent.path == "/sms/api/balance.asp"
    assert parse_qs(sent.query) == {"username": [USER], "password": [PASSWORD]}


def test_balance_login_failed_names_the_settings_to_fix(gateway, client):
    gateway.get(BALANCE_URL, body="Error: Login Failed")
    with pytest.raises(LoginFailed) as caught:
        client.balance()
    assert caught.value.outcome == "refused"
    assert str(caught.value) == "Login Failed. Check SMSOFFICE_USERNAME and SMSOFFICE_PASSWORD"


@pytest.mark.parametrize(
    "body", ["<html><body>" + "Welcome to SMS Office! " * 30 + "</body></html>", "1234,56", "Success:"]
)
def test_balance_unreadable_answer_is_final_and_quoted(gateway, client, body):
    gateway.get(BALANCE_URL, body=body)
    with pytest.raises(GatewayRefused) as caught:
        client.balance()
    error = caught.value
    assert isinstance(error, UnexpectedResponse) and error.outcome == "refused"
    assert body[:40] in error.message
    assert len(error.message) < 260
    assert "SMSOFFICE_API_URL" in str(error)


# -- send ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, tracking",
    [
        ("Success:123", "123"),
        ("Success: 123:", "123"),
        ("success:123", "123"),
        ("\r\n  SUCCESS : 987654321 :\r\n", "987654321"),
    ],
)
def test_send_returns_the_tracking_number(gateway, client, body, tracking):
    gateway.get(SEND_URL, body=body)
    assert send(client) == tracking


def test_text_reaches_the_gateway_exactly_as_typed(gateway, client):
    text = "Tom & Jerry: 100% + 5 = #1?\nline two 🎉 café ✓"
    gateway.get(SEND_URL, body="Success:1:")
    client.send("ACME", "27831234567", text)
    sent = urlsplit(gateway.calls[0].request.url)
    assert sent.path == "/sms/api/sendsms.asp"
    assert parse_qs(sent.query) == {
        "username": [USER],
        "password": [PASSWORD],
        "from": ["ACME"],
        "to": ["27831234567"],
        "message": [text],
    }


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("line, error_class", SPEC_ERRORS)
def test_every_spec_error_line_becomes_its_own_error(gateway, client, line, error_class, spelling):
    gateway.get(SEND_URL, body=SPELLINGS[spelling](line))
    with pytest.raises(GatewayRefused) as caught:
        send(client)
    error = caught.value
    assert type(error) is error_class
    assert error.outcome == "refused"
    sentence = line.split(":", 1)[1].strip()
    assert error.message.lower().replace(" ", "").startswith(sentence.lower().replace(" ", ""))
    assert error.gateway_line.lower().replace(" ", "").startswith(line.lower().replace(" ", ""))
    assert error.hint and str(error).endswith(error.hint) and "\n" not in str(error)


def test_unknown_error_line_is_a_plain_refusal_quoting_it(gateway, client):
    gateway.get(SEND_URL, body="Error: Account suspended, contact support\r\n")
    with pytest.raises(GatewayRefused) as caught:
        send(client)
    assert type(caught.value) is GatewayRefused
    assert caught.value.message == "Account suspended, contact support"
    assert caught.value.gateway_line == "Error: Account suspended, contact support"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Success:",
        "<html><body>Service Unavailable</body></html>",
        "OK",
        # not the spec's answer: a bare number, a zero, or more after the tracking number
        "0",
        "1",
        "Success:0:",
        "Success:00:",
        "Success:-5:",
        "Success:42:queued",
    ],
)
def test_send_unreadable_answer_means_the_sms_may_have_gone(gateway, client, body):
    gateway.get(SEND_URL, body=body)
    with pytest.raises(GatewayOutcomeUnknown) as caught:
        send(client)
    error = caught.value
    assert isinstance(error, UnexpectedResponse) and error.outcome == "unknown"
    assert f'"{body}"' in error.message
    assert "before sending it again" in str(error)


def test_a_success_line_followed_by_an_error_line_is_unconfirmed_with_both_quoted(gateway, client):
    gateway.get(SEND_URL, body="Success:55501:\r\nError: Not enough credits")
    with pytest.raises(GatewayOutcomeUnknown) as caught:
        send(client)
    assert type(caught.value) is UnexpectedSendResponse
    assert '"Success:55501: Error: Not enough credits"' in str(caught.value)


# -- HTTP status --------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [send, SmsOfficeClient.balance])
@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_trouble_and_rate_limits_mean_not_sent(gateway, client, status, call):
    gateway.get(SEND_URL, status=status, body="Error: Login Failed")
    gateway.get(BALANCE_URL, status=status, body="busy")
    with pytest.raises(GatewayUnavailable) as caught:
        call(client)
    assert caught.value.outcome == "not_sent"
    assert f"gateway answered HTTP {status}" in str(caught.value)


def test_http_404_is_final_and_points_at_the_api_url(gateway, client):
    gateway.get(SEND_URL, status=404, body="<html>Not Found</html>")
    with pytest.raises(GatewayRefused) as caught:
        send(client)
    assert type(caught.value) is GatewayRefused and caught.value.gateway_line is None
    assert "HTTP 404" in caught.value.message and "SMSOFFICE_API_URL" in caught.value.hint


def test_an_error_line_on_a_4xx_answer_wins_over_the_status(gateway, client):
    gateway.get(SEND_URL, status=401, body="Error: Login Failed")
    with pytest.raises(LoginFailed):
        send(client)


# -- the network --------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [send, SmsOfficeClient.balance])
def test_connection_refused_means_not_sent(call, caplog):
    caplog.set_level(logging.DEBUG)
    client = SmsOfficeClient(f"http://127.0.0.1:{closed_port()}/sms/api/", USER, PASSWORD)
    with pytest.raises(GatewayUnavailable) as caught:
        call(client)
    assert caught.value.outcome == "not_sent"
    assert "Connection refused" in caught.value.message
    assert "SMSOFFICE_API_URL" in caught.value.hint
    assert_no_secret(caught.value, caplog)


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectTimeout(MaxRetryError(None, LEAKY_PATH, ConnectTimeoutError(None, "timed out"))),
        requests.ConnectionError(
            MaxRetryError(
                None, LEAKY_PATH, NameResolutionError("gw.test", None, socket.gaierror(-2, "Name or service not known"))
            )
        ),
    ],
    ids=["connect_timeout", "name_resolution"],
)
def test_failing_to_connect_means_not_sent_even_for_a_send(gateway, client, failure):
    gateway.get(SEND_URL, body=failure)
    with pytest.raises(GatewayUnavailable) as caught:
        send(client)
    assert "could not connect to the SMS gateway at gw.test" in caught.value.message


def test_read_timeout_leaves_a_send_unknown_but_a_balance_query_repeatable(gateway, client):
    gateway.get(SEND_URL, body=requests.ReadTimeout("Read timed out. (read timeout=15)"))
    gateway.get(BALANCE_URL, body=requests.ReadTimeout("Read timed out. (read timeout=15)"))
    with pytest.raises(GatewayOutcomeUnknown) as caught:
        send(client)
    assert caught.value.message == "the SMS gateway did not answer within 15s"
    with pytest.raises(GatewayUnavailable):
        client.balance()


def test_hangup_after_the_request_leaves_a_send_unknown_but_a_balance_query_repeatable(hangup_url, caplog):
    caplog.set_level(logging.DEBUG)
    client = SmsOfficeClient(hangup_url, USER, PASSWORD)
    with pytest.raises(GatewayOutcomeUnknown) as caught:
        send(client)
    assert "broke before it answered" in caught.value.message
    assert_no_secret(caught.value, caplog)
    with pytest.raises(GatewayUnavailable):
        client.balance()


def test_calls_share_one_kept_alive_connection():
    client_ports = []

    def app(environ, start_response):
        client_ports.append(environ["REMOTE_PORT"])
        body = b"Success:7:" if environ["PATH_INFO"].endswith("/sendsms.asp") else b"Success: 99.50"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    server = ServerThread(app, name="fake-smsoffice").start()
    client = SmsOfficeClient(f"{server.url}/sms/api", USER, PASSWORD)
    try:
        assert client.balance() == Decimal("99.50")
        assert [send(client) for _ in range(3)] == ["7", "7", "7"]
    finally:
        client.close()
        server.stop()
    assert len(client_ports) == 4 and len(set(client_ports)) == 1


# -- secrets ------------------------------------------------------------------------------------
LEAK_SCENARIOS = {
    "login_failed_echoing_password": dict(body=f"Error: Login Failed for {USER}/{PASSWORD}"),
    "unknown_error_echoing_url": dict(body=f"Error: bad request {LEAKY_PATH}"),
    "unexpected_body_echoing_url": dict(body=f"<html>{LEAKY_PATH}</html>"),
    "http_503": dict(status=503, body=LEAKY_PATH),
    "http_404": dict(status=404, body=LEAKY_PATH),
    "connection_refused": dict(
        body=requests.ConnectionError(
            MaxRetryError(
                None,
                LEAKY_PATH,
                NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused"),
            )
        )
    ),
    "connect_timeout": dict(body=requests.ConnectTimeout(MaxRetryError(None, LEAKY_PATH, ConnectTimeoutError()))),
    "read_timeout": dict(body=requests.ReadTimeout(f"Read timed out: {LEAKY_PATH}")),
    "dropped": dict(
        body=requests.ConnectionError(
            ProtocolError(f"Connection aborted: {LEAKY_PATH}", RemoteDisconnected("Remote end closed connection"))
        )
    ),
}


@pytest.mark.parametrize("scenario", LEAK_SCENARIOS)
def test_password_never_shows_in_errors_or_logs(gateway, client, caplog, scenario):
    caplog.set_level(logging.DEBUG)
    gateway.get(SEND_URL, **LEAK_SCENARIOS[scenario])
    with pytest.raises(GatewayError) as caught:
        send(client)
    assert "event=gateway_call" in caplog.text
    assert_no_secret(caught.value, caplog)


def test_client_repr_hides_the_password(client):
    assert SECRET_MARK not in repr(client)


# -- one request at a time ----------------------------------------------------------------------
def test_threads_sharing_a_client_never_overlap_requests(gateway, client):
    counter = threading.Lock()
    active, peak = 0, 0

    def answer(request):
        nonlocal active, peak
        with counter:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with counter:
            active -= 1
        return 200, {}, "Success:5:"

    gateway.add_callback(responses.GET, SEND_URL, callback=answer)
    start = threading.Barrier(4)
    results = []

    def worker():
        start.wait()
        results.extend(send(client) for _ in range(2))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == ["5"] * 8
    assert peak == 1


# -- what callers and operators see -------------------------------------------------------------
def test_observer_hears_every_call_with_its_outcome(gateway):
    heard = []
    client = SmsOfficeClient(BASE, USER, PASSWORD, observer=lambda *call: heard.append(call))
    gateway.get(BALANCE_URL, body="1.00")
    gateway.get(SEND_URL, body="Error:Invalid [to] parameter")
    gateway.get(SEND_URL, status=503)
    client.balance()
    for _ in range(2):
        with pytest.raises(GatewayError):
            send(client)
    assert [(op, outcome) for op, _, outcome in heard] == [("balance", "ok"), ("send", "refused"), ("send", "not_sent")]
    assert all(isinstance(seconds, float) and 0 <= seconds < 5 for _, seconds, _ in heard)


def test_a_broken_observer_does_not_turn_a_sent_sms_into_an_error(gateway, caplog):
    def broken(*call):
        raise RuntimeError("metrics down")

    client = SmsOfficeClient(BASE, USER, PASSWORD, observer=broken)
    gateway.get(SEND_URL, body="Success:77:")
    assert send(client) == "77"
    assert "event=gateway_observer_failed op=send" in caplog.text


def test_last_success_moves_only_on_success(gateway, client):
    gateway.get(SEND_URL, status=503)
    with pytest.raises(GatewayUnavailable):
        send(client)
    assert client.last_success is None
    gateway.replace(responses.GET, SEND_URL, body="Success:1:")
    before = time.time()
    send(client)
    assert before <= client.last_success <= time.time()


def test_each_call_logs_one_line_without_the_message_text(gateway, client, caplog):
    caplog.set_level(logging.DEBUG, logger="bot.sms.gateway")
    gateway.get(SEND_URL, body="Success:1:")
    client.send("ACME", "27831234567", "private words")
    gateway.replace(responses.GET, SEND_URL, body="Error:Invalid [to] parameter")
    with pytest.raises(InvalidRecipient):
        client.send("ACME", "0831234567 x", "private words")
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.sms.gateway"]
    assert len(lines) == 2
    assert lines[0].startswith("event=gateway_call op=send to=+27...567 outcome=ok ms=")  # numbers masked
    assert lines[1].startswith("event=gateway_call op=send to=...567 error=InvalidRecipient outcome=refused ms=")
    assert "private" not in caplog.text


# -- closing from another thread (shutdown) ----------------------------------------------------------
def _in_thread(call) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = call()
        except GatewayError as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _until(predicate, timeout=5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.01)
    return predicate()


def test_close_from_another_thread_ends_a_hanging_send_at_once_and_nothing_more_is_called(simulator):
    simulator.hold(balance=True)  # the gateway takes the request and never answers
    client = SmsOfficeClient(simulator.api_url, "acme", simulator.password, read_timeout=60)
    sending, sent = _in_thread(lambda: client.send("ACMEOPS", "27831234567", "Generator running"))
    assert _until(lambda: len(simulator.calls) == 1)
    asking, asked = _in_thread(client.balance)  # waits for the one connection
    time.sleep(0.2)
    started = time.monotonic()
    client.close()
    sending.join(5)
    asking.join(5)
    assert time.monotonic() - started < 1.0
    assert sent["error"].outcome == "unknown"  # it may have gone out: never resent blindly
    assert asked["error"].outcome == "not_sent" and "smsbot is stopping" in str(asked["error"])
    simulator.release()
    time.sleep(0.1)
    assert [name for name, _ in simulator.calls] == ["sendsms.asp"]  # the balance query never went out


def test_interrupting_a_balance_query_leaves_a_send_alone_and_the_client_usable(simulator):
    simulator.hold(balance=True)
    client = SmsOfficeClient(simulator.api_url, "acme", simulator.password, read_timeout=60)
    asking, asked = _in_thread(client.balance)
    assert _until(lambda: len(simulator.calls) == 1)
    assert client.interrupt("send") is False  # not a send on the wire: nothing cut
    started = time.monotonic()
    assert client.interrupt("balance") is True
    asking.join(5)
    assert time.monotonic() - started < 1.0 and asked["error"].outcome == "not_sent"
    simulator.release()
    assert client.send("ACMEOPS", "27831234567", "Generator running").isdigit()
    client.close()
