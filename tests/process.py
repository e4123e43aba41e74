"""Running `smsbot` as a real subprocess, configured only by the environment given."""

import atexit
import functools
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path

import pytest

import bot
from tests.conftest import base_env

CALLBACK_SECRET = "cb-secret-0123456789abcdef"
OURS = ("SLACK_", "SMSOFFICE_", "SMS_", "SMSBOT_")


def smsbot(args, env, cwd, stderr=subprocess.PIPE, user=None):
    """`smsbot ARGS` with only ``env`` for configuration (none of the caller's own settings);
    as ``user`` (e.g. "nobody") when given, for faults root would not see (file modes)."""
    return subprocess.Popen(
        [*as_user(user), python_for(user), "-m", "bot", *args],
        env={**inherited(), **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def inherited() -> dict:
    """The caller's environment without any of smsbot's own settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OURS)}


def as_user(user) -> list[str]:
    """The command prefix that runs a program as ``user`` (with its own group, no others)."""
    if user is None:
        return []
    entry = pwd.getpwnam(user)
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
    return ["runuser", "-u", user, "--"]


def python_for(user=None) -> str:
    """The Python that runs the bot as ``user``: our own for ourselves; for another user, the copy of our
    environment in /tmp (the checkout and its .venv may sit in a folder only we can read, e.g. /root/smsbot,
    and then the other user could import neither `bot` nor its dependencies from there)."""
    if user is None:
        return sys.executable
    python = str(readable_environment() / "bin" / "python")
    _runs_as(user, python)
    return python


@functools.cache
def readable_environment() -> Path:
    """A virtual environment in a new folder under /tmp that anyone can read: the base interpreter, a copy of
    our site-packages (without the editable install's hooks into the checkout) and a copy of `bot`.
    Built once per test session and removed at exit; files already readable by all are hard-linked
    (no bytes copied), the others copied and made readable."""
    folder = Path(tempfile.mkdtemp(prefix="smsbot-python-", dir="/tmp"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    venv.create(folder, with_pip=False, symlinks=True)  # bin/python -> the interpreter behind our venv
    _make_readable(folder, files=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)}))
    checkout = Path(bot.__file__).resolve().parent.parent
    for ours in dict.fromkeys(sysconfig.get_path(name) for name in ("purelib", "platlib")):
        shutil.copytree(ours, site, ignore=_not_into(Path(ours), checkout), copy_function=_share, dirs_exist_ok=True)
    shutil.copytree(Path(bot.__file__).parent, site / "bot", copy_function=_share)
    _make_readable(folder, files=False)  # copytree gave new folders their originals' modes
    return folder


def _not_into(site: Path, checkout: Path):
    """copytree's ignore: at the top of ``site``, `bot` (copied on its own) and whatever points into the checkout
    (the editable install's finder and .pth files), so the copy never reaches for the checkout."""

    def ignore(folder, names):
        if Path(folder) != site:
            return []
        return [
            name
            for name in names
            if name == "bot"
            or name.startswith("__editable__")
            or (name.endswith(".pth") and str(checkout) in (site / name).read_text(errors="replace"))
        ]

    return ignore


def _share(src, dst):
    """A hard link when ``src`` is readable by all (instant, and never chmod-ed here), else a readable copy."""
    if os.stat(src).st_mode & 0o004:
        try:
            os.link(src, dst, follow_symlinks=True)
            return dst
        except OSError:
            pass  # another file system, or links not allowed: copy
    shutil.copy2(src, dst)
    os.chmod(dst, os.stat(dst).st_mode | 0o444)
    return dst


def _make_readable(folder: Path, files: bool):
    """Folders under ``folder`` readable and searchable by all, and (``files``) its files readable by all."""
    for path, _, names in os.walk(folder):
        os.chmod(path, os.stat(path).st_mode | 0o555)
        for name in names if files else ():
            file = os.path.join(path, name)
            if not os.path.islink(file):
                os.chmod(file, os.stat(file).st_mode | 0o444)


@functools.cache
def _runs_as(user: str, python: str):
    """Checks once that ``user`` can run ``python`` and that it imports the copy of `bot`, not the checkout's."""
    probe = subprocess.run(
        [*as_user(user), python, "-c", "import bot, phonenumbers; print(bot.__file__)"],
        env=inherited(),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        bare = subprocess.run(
            [*as_user(user), python, "-c", "pass"], env=inherited(), cwd="/", capture_output=True, text=True, timeout=60
        )
        if bare.returncode != 0:
            pytest.skip(
                f"{user} cannot run this Python ({os.path.realpath(python)}: {bare.stderr.strip()}); "
                f"install Python where {user} can read it, or run the tests as a user that is not root"
            )
    assert probe.returncode == 0, f"{user} cannot import bot from {python}:\n{probe.stderr}"
    assert probe.stdout.strip().startswith(str(readable_environment()) + "/"), probe.stdout


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
    settings = {
        "SLACK_API_URL": fake_slack.api_url,
        "SMSBOT_LOG_LEVEL": "DEBUG",
        "SMSBOT_CALLBACK_SECRET": CALLBACK_SECRET,
        **settings,
    }
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
