"""Running `smsbot` as a real subprocess, configured only by the environment given."""
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import base_env

CALLBACK_SECRET = "cb-secret-0123456789abcdef"
OURS = ("SLACK_", "SMSOFFICE_", "SMS_", "SMSBOT_")


def smsbot(args, env, cwd, stderr=subprocess.PIPE, user=None):
    """`smsbot ARGS` with only ``env`` for configuration (none of the caller's own settings);
    as ``user`` (e.g. "nobody") when given, for faults root would not see (file modes)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return subprocess.Popen([*as_user(user), sys.executable, "-m", "bot", *args], env={**inherited, **env},
                            cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, text=True)


def as_user(user) -> list[str]:
    """The command prefix that runs a program as ``user`` (with its own group, no others)."""
    if user is None:
        return []
    entry = pwd.getpwnam(user)
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
    return ["runuser", "-u", user, "--"]


def folder_for(user: str) -> Path:
    """A new folder under /tmp owned by ``user`` (pytest's own tmp_path is private to root)."""
    entry = pwd.getpwnam(user)
    folder = Path(tempfile.mkdtemp(prefix="smsbot-", dir="/tmp"))
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


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


def start_bot(tmp_path, simulator, fake_slack, user=None, **settings) -> Running:
    """`smsbot run` on a free port, logging at DEBUG to a file in ``tmp_path``."""
    settings = {"SLACK_API_URL": fake_slack.api_url, "SMSBOT_LOG_LEVEL": "DEBUG",
                "SMSBOT_CALLBACK_SECRET": CALLBACK_SECRET, **settings}
    if "SMSOFFICE_API_URL" not in settings:
        settings["SMSOFFICE_API_URL"] = simulator.api_url
    env = base_env(tmp_path, **settings)
    log_path = tmp_path / f"smsbot-{len(list(tmp_path.glob('smsbot-*.log')))}.log"
    proc = smsbot(["run"], env, tmp_path, stderr=log_path.open("w"), user=user)
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
