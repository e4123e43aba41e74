"""Running `smsbot` as a real subprocess, configured only by the environment given."""
import os
import re
import socket
import subprocess
import sys

from tests.conftest import base_env

CALLBACK_SECRET = "cb-secret-0123456789abcdef"
OURS = ("SLACK_", "SMSOFFICE_", "SMS_", "SMSBOT_")


def smsbot(args, env, cwd, stderr=subprocess.PIPE):
    """`smsbot ARGS` with only ``env`` for configuration (none of the caller's own settings)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return subprocess.Popen([sys.executable, "-m", "bot", *args], env={**inherited, **env}, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)


class Running:
    """A running `smsbot run`: the process, its base URL, and its log (a file, so it never blocks)."""

    def __init__(self, proc, url, log_path):
        self.proc, self.url, self.log_path = proc, url, log_path

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig=None) -> int:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.kill()
            else:
                self.proc.send_signal(sig)
        return self.proc.wait(timeout=15)


def start_bot(tmp_path, simulator, fake_slack, **settings) -> Running:
    """`smsbot run` on a free port, logging at DEBUG to a file in ``tmp_path``."""
    settings = {"SLACK_API_URL": fake_slack.api_url, "SMSBOT_LOG_LEVEL": "DEBUG",
                "SMSBOT_CALLBACK_SECRET": CALLBACK_SECRET, **settings}
    if "SMSOFFICE_API_URL" not in settings:
        settings["SMSOFFICE_API_URL"] = simulator.api_url
    env = base_env(tmp_path, **settings)
    log_path = tmp_path / f"smsbot-{len(list(tmp_path.glob('smsbot-*.log')))}.log"
    proc = smsbot(["run"], env, tmp_path, stderr=log_path.open("w"))
    port, printed = None, []
    for line in proc.stdout:
        printed.append(line)
        if m := re.search(r"running on [\d.]+:(\d+)", line):
            port = int(m.group(1))
            break
    assert port, log_path.read_text()
    running = Running(proc, f"http://127.0.0.1:{port}", log_path)
    running.printed = "".join(printed)  # what start-up printed on stdout
    return running




def free_port() -> int:
    """A port nothing listens on right now (for a gateway that is down, or a fixed simulator port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
