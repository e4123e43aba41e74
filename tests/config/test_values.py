"""Setting parsers: each accepts the values an operator would write and refuses, with ValueError, the
mistakes one makes (a typo'd host, a Kubernetes service link in SMSBOT_PORT, a name instead of an ID)."""

from decimal import Decimal

import pytest

from bot.config import values as parse


@pytest.mark.parametrize("text", ["ftp://example.com", "example.com/api", "https://", "http:/x"])
def test_a_url_needs_http_or_https_and_a_host(text):
    with pytest.raises(ValueError):
        parse.url(text)


def test_a_base_url_always_ends_in_one_slash():
    assert parse.base_url("http://127.0.0.1:8080/api") == "http://127.0.0.1:8080/api/"
    assert parse.base_url("https://slack.com/api/") == "https://slack.com/api/"


def test_a_port_is_a_number_from_0_to_65535_and_never_a_kubernetes_service_link():
    assert parse.port("0") == 0 and parse.port("65535") == 65535
    for bad in ("65536", "-1", "http", "tcp://10.0.0.7:8080", "TCP://10.0.0.7:8080"):
        with pytest.raises(ValueError):
            parse.port(bad)


def test_counts_amounts_and_seconds_refuse_what_makes_no_sense():
    assert parse.positive_int("1") == 1 and parse.non_negative_int("0") == 0
    assert parse.non_negative_decimal("0.25") == Decimal("0.25")
    assert parse.positive_float("2.5") == 2.5
    for parser, bad in (
        (parse.positive_int, "0"),
        (parse.non_negative_int, "-1"),
        (parse.positive_int, "lots"),
        (parse.non_negative_decimal, "-0.01"),
        (parse.non_negative_decimal, "NaN"),
        (parse.non_negative_decimal, "Infinity"),
        (parse.positive_float, "0"),
        (parse.positive_float, "inf"),
        (parse.positive_float, "nan"),
    ):
        with pytest.raises(ValueError):
            parser(bad)


def test_a_host_is_an_address_or_a_name_this_machine_resolves():
    assert parse.host("127.0.0.1") == "127.0.0.1"
    assert parse.host("[::1]") == "::1"
    assert parse.host("localhost") == "localhost"
    with pytest.raises(ValueError):
        parse.host("no-such-host.invalid")


def test_regions_and_country_lists_are_iso_codes_in_any_case():
    assert parse.region("za") == "ZA"
    assert parse.country_list("za, bw,,NA") == frozenset({"ZA", "BW", "NA"})
    with pytest.raises(ValueError) as error:
        parse.country_list("ZA,XX,South Africa")
    assert error.value.args[0] == ["XX", "SOUTH AFRICA"]  # every bad entry is named, not just the first
    with pytest.raises(ValueError):
        parse.region("RSA")


def test_slack_ids_are_checked_by_kind():
    assert parse.user_ids("U0ANN, W0BEN") == frozenset({"U0ANN", "W0BEN"})
    assert parse.channel_ids("C0OPS,G0OLD,D0DM") == frozenset({"C0OPS", "G0OLD", "D0DM"})
    assert parse.channel_id("C0OPS") == "C0OPS"
    with pytest.raises(ValueError) as error:
        parse.user_ids("U0ANN,@bob,C0OPS")
    assert error.value.args[0] == ["@bob", "C0OPS"]
    for bad in ("D0DM", "#ops", "c0ops"):
        with pytest.raises(ValueError):
            parse.channel_id(bad)


def test_a_choice_is_matched_in_the_case_it_is_stored_in():
    level = parse.choice(("DEBUG", "INFO"), upper=True)
    fmt = parse.choice(("text", "json"), upper=False)
    assert level("info") == "INFO" and fmt("JSON") == "json"
    with pytest.raises(ValueError):
        level("verbose")
