"""deploy/: the Prometheus rules and Grafana dashboard parse and only use metrics smsbot exposes;
the systemd unit does not restart on a configuration error."""

import json
import re
from pathlib import Path

import pytest
import requests
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DURATION = re.compile(r"^\d+[smhdwy]$")
METRIC = re.compile(r"\bsmsbot_[a-z_]+")
# What the issue asks to alert on, each by one rule's metric.
REQUIRED = {
    "smsbot_queue_oldest_age_seconds",
    "smsbot_outbox_oldest_age_seconds",
    "smsbot_reports_oldest_age_seconds",
    "smsbot_balance_credits",
    "smsbot_gateway_seconds_since_success",
    "smsbot_thread_up",
}


@pytest.fixture
def exposed(bot) -> set[str]:
    """Metric names a real bot serves on /metrics (histogram series reduced to their own names too)."""
    text = requests.get(bot.server.url + "/metrics", timeout=5).text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}  # labelled, no sample yet
    return names | declared | {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def _rules() -> list[dict]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "smsbot-rules.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_every_alert_rule_has_its_fields_and_uses_real_metrics(exposed):
    rules = _rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"Smsbot[A-Za-z]+", rule["alert"])
        assert DURATION.match(rule["for"]) and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["expr"].count("(") == rule["expr"].count(")")
        for name in METRIC.findall(rule["expr"]):
            assert name in exposed, f"{rule['alert']} uses {name}, which smsbot does not expose"
    used = {name for rule in rules for name in METRIC.findall(rule["expr"])}
    assert used >= REQUIRED


def test_the_dashboard_parses_and_uses_real_metrics(exposed):
    dashboard = json.loads((DEPLOY / "grafana" / "smsbot-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs and dashboard["uid"] == "smsbot"
    for expr in exprs:
        for name in METRIC.findall(expr):
            assert name in exposed, name


def test_the_systemd_unit_does_not_restart_on_a_configuration_error():
    unit = (DEPLOY / "smsbot.service").read_text()
    assert re.search(r"^RestartPreventExitStatus=2$", unit, re.M)
    assert re.search(r"^Restart=on-failure$", unit, re.M)
