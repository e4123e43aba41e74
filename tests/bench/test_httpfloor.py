"""The HTTP server's own ceiling (bench/httpfloor.py): a real process serving an empty app behind smsbot's
server, hammered as the report intake is."""

from bench import measures


def test_the_empty_app_answers_every_request_and_its_cpu_is_counted():
    load = measures.http_ceiling(60, 3)
    assert (load.requests, load.errors) == (60, 0)
    assert load.rate > 0 and load.bot_cpu >= 0
