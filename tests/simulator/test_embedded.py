"""SMSOFFICE_API_URL=simulator (bot/simulator/embedded.py): the bundled simulator answers on loopback with
the configured credentials and reports to the bot's own callback; a real gateway URL is left alone."""

from bot.config.settings import load_settings
from bot.simulator.embedded import START_BALANCE, connect, prepare
from bot.sms.gateway import SmsOfficeClient
from tests.conftest import base_env


def test_simulator_mode_starts_a_gateway_the_bot_can_log_in_to(tmp_path):
    settings = load_settings(base_env(tmp_path, SMSOFFICE_API_URL="simulator"))
    simulator, ready = prepare(settings)
    try:
        assert ready.smsoffice_api_url == simulator.api_url and ready.smsoffice_api_url.startswith("http://127.0.0.1:")
        client = SmsOfficeClient(ready.smsoffice_api_url, ready.smsoffice_username, ready.smsoffice_password)
        try:
            assert client.balance() == START_BALANCE
        finally:
            client.close()
    finally:
        simulator.stop()


def test_a_real_gateway_url_starts_no_simulator(tmp_path):
    settings = load_settings(base_env(tmp_path, SMSOFFICE_API_URL="https://gateway.example/sms/api/"))
    assert prepare(settings) == (None, settings)


def test_reports_go_to_an_address_of_the_bot_this_process_can_reach(tmp_path):
    simulator, _ = prepare(load_settings(base_env(tmp_path, SMSOFFICE_API_URL="simulator")))
    try:
        connect(simulator, "0.0.0.0", 8080, "/sms/dlr/secret")
        assert simulator.callback_url == "http://127.0.0.1:8080/sms/dlr/secret"
        connect(simulator, "::", 8080, "/sms/dlr/secret")
        assert simulator.callback_url == "http://[::1]:8080/sms/dlr/secret"
        connect(simulator, "10.0.0.5", 8080, "/sms/dlr/secret")
        assert simulator.callback_url == "http://10.0.0.5:8080/sms/dlr/secret"
    finally:
        simulator.stop()
